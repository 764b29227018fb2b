package leviathan.board;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import leviathan.model.SafeTensors;
import leviathan.tensor.Tensor;

/**
 * What a run's model learned that fits a small picture, read from its {@code model.safetensors}
 * with the project's reader ({@link SafeTensors}): per layer, the lag bias of each correlation
 * head ({@code h.{l}.attn.lag_bias}, heads × lags, columns in the order of the lag set: which lags
 * a head prefers), and for the
 * involution mixer the bias of its window logits ({@code h.{l}.attn.c_span.bias}, heads × window:
 * the token-independent part of each head's window weights; the rest is generated per token).
 */
final class LearnedWeights {
    private LearnedWeights() {}

    /**
     * One heat map: {@code rows × cols} values, row-major, with what its axes are; column {@code c}
     * stands for {@code firstCol + c} (a lag of LEVIATHAN.md's set {@code L}, or a window offset).
     */
    record HeatMap(int layer, String tensor, String title, String rowLabel, String colLabel, int rows, int cols, int firstCol, float[] values) {}

    /** A tensor to picture: its header entry, layer, and whether it is a lag bias (else a window bias). */
    private record Found(SafeTensors.Entry entry, int layer, boolean lagBias) {}

    /** The heat maps of {@code model}, a model of {@code layers} layers and {@code heads} heads; empty when its parts have none. */
    static List<HeatMap> read(Path model, int layers, int heads) throws IOException {
        SafeTensors.Header h = SafeTensors.readHeader(model);
        List<Found> found = new ArrayList<>();
        for (int l = 0; l < layers; l++) {
            SafeTensors.Entry lag = h.entries().get("h." + l + ".attn.lag_bias");
            SafeTensors.Entry span = h.entries().get("h." + l + ".attn.c_span.bias");
            if (lag != null && lag.shape().length == 2) found.add(new Found(lag, l, true));
            if (span != null && span.shape().length == 1 && heads > 0 && span.shape()[0] % heads == 0) found.add(new Found(span, l, false));
        }
        List<HeatMap> maps = new ArrayList<>();
        try (Arena arena = Arena.ofConfined()) {
            Map<String, Tensor> tensors = new LinkedHashMap<>();
            for (Found f : found) {
                String name = f.entry().name();
                tensors.put(name, Tensor.of(name, arena.allocate(f.entry().numel() * Float.BYTES, 64), (int) f.entry().numel()));
            }
            SafeTensors.readInto(h, tensors);
            for (Found f : found) {
                SafeTensors.Entry e = f.entry();
                Tensor t = tensors.get(e.name());
                float[] v = new float[(int) e.numel()];
                for (int i = 0; i < v.length; i++) v[i] = t.getFlat(i);
                maps.add(f.lagBias()
                        ? new HeatMap(f.layer(), e.name(), "layer " + f.layer() + ": lag bias", "head", "lag", (int) e.shape()[0], (int) e.shape()[1],
                                -(int) ((e.shape()[1] - 1) / 2), v)             // L = {-floor((N-1)/2), ..., ceil((N-1)/2)}
                        : new HeatMap(f.layer(), e.name(), "layer " + f.layer() + ": window logit bias", "head", "offset", heads, v.length / heads, 0, v));
            }
        }
        return maps;
    }
}
