package leviathan.model;

import java.util.LinkedHashMap;
import java.util.Map;
import leviathan.tensor.Buffers;

/**
 * The named parameter tensors of a model, in checkpoint order with checkpoint names
 * (LEVIATHAN.md, "Checkpoints"). Gradients and AdamW moments use the same layout, so the optimizer
 * walks them in step. Each per-layer tensor is its own named slice ({@code h.{l}.…}), which keeps
 * the checkpoint a direct mirror of memory.
 */
public final class ParameterLayout {
    private ParameterLayout() {}

    /** Names and shapes, in checkpoint order. */
    public static Map<String, int[]> shapes(GptConfig c) {
        int C = c.nEmbd();
        Map<String, int[]> m = new LinkedHashMap<>();
        m.put("wte", new int[] {c.vocabSize(), C});                           // (V, C), also the output head
        m.put("wpe", new int[] {c.blockSize(), C});                           // (block_size, C)
        for (int i = 0; i < c.nLayer(); i++) {
            String h = "h." + i + ".";
            m.put(h + "ln_1.weight", new int[] {C});
            m.put(h + "ln_1.bias", new int[] {C});
            m.put(h + "attn.c_attn.weight", new int[] {3 * C, C});             // rows: q, then k, then v
            m.put(h + "attn.c_attn.bias", new int[] {3 * C});
            if (c.hasLagBias()) m.put(h + "attn.lag_bias", new int[] {c.nHead(), c.lags()});
            m.put(h + "attn.c_proj.weight", new int[] {C, C});
            m.put(h + "attn.c_proj.bias", new int[] {C});
            m.put(h + "ln_2.weight", new int[] {C});
            m.put(h + "ln_2.bias", new int[] {C});
            m.put(h + "mlp.c_fc.weight", new int[] {4 * C, C});
            m.put(h + "mlp.c_fc.bias", new int[] {4 * C});
            m.put(h + "mlp.c_proj.weight", new int[] {C, 4 * C});
            m.put(h + "mlp.c_proj.bias", new int[] {C});
        }
        m.put("ln_f.weight", new int[] {C});
        m.put("ln_f.bias", new int[] {C});
        return m;
    }

    /** How many tensors {@link #shapes} lists for {@code c}. */
    public static long count(GptConfig c) {
        return 4 + (long) (c.hasLagBias() ? 13 : 12) * c.nLayer();
    }

    public static Buffers.Layout of(GptConfig c) {
        var l = new Buffers.Layout();
        shapes(c).forEach(l::add);
        return l;
    }

    /** AdamW weight decay applies to 2-D weights only: wte, wpe and every linear weight. */
    public static boolean decays(String name, int rank) {
        return rank == 2 && !name.endsWith("lag_bias");
    }
}
