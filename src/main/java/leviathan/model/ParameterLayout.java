package leviathan.model;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import leviathan.nn.BlockPart.Init;
import leviathan.nn.BlockPart.Param;
import leviathan.tensor.Buffers;

/**
 * The named parameter tensors of a model, in checkpoint order with checkpoint names
 * (LEVIATHAN.md, "Checkpoints"), derived from the block parts' declarations: the embeddings, then
 * per layer {@code ln_1}, the mixer's parameters, {@code ln_2}, the MLP's, then {@code ln_f}.
 * Gradients and AdamW moments use the same layout, so the optimizer walks them in step.
 */
public final class ParameterLayout {
    private ParameterLayout() {}

    /** Every parameter with its full name, shape, initialisation and decay flag, in checkpoint order. */
    public static List<Param> params(GptConfig c) {
        int C = c.nEmbd();
        List<Param> mlp = c.mlpPart().params();
        List<Param> all = new ArrayList<>();
        all.add(Param.weight("wte", c.vocabSize(), C, 0.02));                 // (V, C), also the output head
        all.add(Param.weight("wpe", c.blockSize(), C, 0.02));                 // (block_size, C)
        for (int l = 0; l < c.nLayer(); l++) {
            String h = "h." + l + ".";
            all.add(new Param(h + "ln_1.weight", new int[] {C}, Init.ONES, false));
            all.add(Param.bias(h + "ln_1.bias", C));
            for (Param p : c.mixerPart(l).params()) all.add(new Param(h + p.name(), p.shape(), p.init(), p.decays()));
            all.add(new Param(h + "ln_2.weight", new int[] {C}, Init.ONES, false));
            all.add(Param.bias(h + "ln_2.bias", C));
            for (Param p : mlp) all.add(new Param(h + p.name(), p.shape(), p.init(), p.decays()));
        }
        all.add(new Param("ln_f.weight", new int[] {C}, Init.ONES, false));
        all.add(Param.bias("ln_f.bias", C));
        return all;
    }

    /** Names and shapes, in checkpoint order. */
    public static Map<String, int[]> shapes(GptConfig c) {
        Map<String, int[]> m = new LinkedHashMap<>();
        for (Param p : params(c)) m.put(p.name(), p.shape());
        return m;
    }

    /** How many tensors the model has, computed without listing them (cheap for any n_layer). */
    public static long count(GptConfig c) {
        long n = 4 + (long) c.nLayer() * (4 + c.mlpPart().params().size());
        if (!c.hybrid()) return n + (long) c.nLayer() * c.mixerPart(0).params().size();
        for (int l = 0; l < c.nLayer(); l++) n += c.mixerPart(l).params().size();
        return n;
    }

    public static Buffers.Layout of(GptConfig c) {
        var l = new Buffers.Layout();
        for (Param p : params(c)) l.add(p.name(), p.shape());
        return l;
    }

    /** One flag per tensor in checkpoint order: does AdamW weight decay apply (2-D weight matrices only)? */
    public static boolean[] decays(GptConfig c) {
        List<Param> ps = params(c);
        boolean[] d = new boolean[ps.size()];
        for (int i = 0; i < d.length; i++) d[i] = ps.get(i).decays();
        return d;
    }
}
