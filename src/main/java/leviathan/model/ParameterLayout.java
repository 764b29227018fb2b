package leviathan.model;

import leviathan.tensor.Buffers;

/**
 * The named parameter tensors of a model, in checkpoint order with checkpoint names
 * (LEVIATHAN.md, "Checkpoints"). Gradients and AdamW moments use the same layout, so the optimizer
 * walks them in step. Each per-layer tensor is its own named slice ({@code h.{l}.…}), which keeps
 * the checkpoint a direct mirror of memory.
 */
public final class ParameterLayout {
    private ParameterLayout() {}

    public static Buffers.Layout of(GptConfig c) {
        int C = c.nEmbd();
        var l = new Buffers.Layout()
                .add("wte", c.vocabSize(), C)                                   // (V, C), also the output head
                .add("wpe", c.blockSize(), C);                                  // (block_size, C)
        for (int i = 0; i < c.nLayer(); i++) {
            String h = "h." + i + ".";
            l.add(h + "ln_1.weight", C).add(h + "ln_1.bias", C)
             .add(h + "attn.c_attn.weight", 3 * C, C).add(h + "attn.c_attn.bias", 3 * C);
            if (c.hasLagBias()) l.add(h + "attn.lag_bias", c.nHead(), c.lags());
            l.add(h + "attn.c_proj.weight", C, C).add(h + "attn.c_proj.bias", C)
             .add(h + "ln_2.weight", C).add(h + "ln_2.bias", C)
             .add(h + "mlp.c_fc.weight", 4 * C, C).add(h + "mlp.c_fc.bias", 4 * C)
             .add(h + "mlp.c_proj.weight", C, 4 * C).add(h + "mlp.c_proj.bias", C);
        }
        return l.add("ln_f.weight", C).add("ln_f.bias", C);
    }

    /** AdamW weight decay applies to 2-D weights only: wte, wpe and every linear weight. */
    public static boolean decays(String name, int rank) {
        return rank == 2 && !name.endsWith("lag_bias");
    }
}
