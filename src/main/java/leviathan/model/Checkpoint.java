package leviathan.model;

import java.io.IOException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import leviathan.data.CharTokenizer;
import leviathan.tensor.Tensor;

/**
 * The model file (LEVIATHAN.md, "Checkpoints"): one safetensors file, float32 little-endian,
 * tensors named as in {@link ParameterLayout}, metadata {@code format=leviathan-1}, the config and
 * the vocabulary. The file alone is enough to evaluate and sample.
 */
public final class Checkpoint {
    private Checkpoint() {}

    public static final String FORMAT = "leviathan-1";

    /** A loaded model with its vocabulary and all metadata. */
    public record Loaded(Gpt model, CharTokenizer tokenizer, Map<String, String> metadata) implements AutoCloseable {
        @Override
        public void close() { model.close(); }
    }

    /** The spec's metadata for a model; {@code extra} entries (e.g. step) are added after it. */
    public static Map<String, String> metadata(GptConfig c, CharTokenizer tok, Map<String, String> extra) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("format", FORMAT);
        m.put("attention", c.attention().id());
        m.put("n_layer", Integer.toString(c.nLayer()));
        m.put("n_head", Integer.toString(c.nHead()));
        m.put("n_embd", Integer.toString(c.nEmbd()));
        m.put("block_size", Integer.toString(c.blockSize()));
        m.put("lags", Integer.toString(c.lags()));
        m.put("vocab", tok.vocab());
        if (extra != null) extra.forEach(m::putIfAbsent);
        return m;
    }

    /** Writes the model atomically: a crash leaves either the old file or the new one. */
    public static void save(Path file, Gpt model, CharTokenizer tok, Map<String, String> extra) throws IOException {
        if (tok.vocabSize() != model.config().vocabSize()) {
            throw new IllegalArgumentException("tokenizer has " + tok.vocabSize() + " characters, model " + model.config().vocabSize());
        }
        SafeTensors.write(file, metadata(model.config(), tok, extra), model.params().tensors().values());
    }

    /** The config a checkpoint's metadata describes, validated. */
    public static GptConfig config(SafeTensors.Header h, CharTokenizer tok) throws CheckpointException {
        checkFormat(h);
        try {
            return new GptConfig(tok.vocabSize(), intMeta(h, "block_size"), intMeta(h, "n_layer"), intMeta(h, "n_head"),
                    intMeta(h, "n_embd"), GptConfig.Attention.parse(need(h, "attention")), intMeta(h, "lags"));
        } catch (CheckpointException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(h.file(), "invalid model config in metadata: " + e.getMessage());
        }
    }

    /** Loads and validates a checkpoint; nothing is allocated until the header has been checked. */
    public static Loaded load(Path file) throws IOException {
        SafeTensors.Header h = SafeTensors.readHeader(file);
        checkFormat(h);
        CharTokenizer tok;
        try {
            tok = CharTokenizer.fromVocab(need(h, "vocab"));
        } catch (CheckpointException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(file, "bad vocabulary in metadata: " + e.getMessage());
        }
        GptConfig cfg = config(h, tok);
        if (cfg.attention() == GptConfig.Attention.DOT && intMeta(h, "lags") != 1) {
            throw new CheckpointException(file, "attention 'dot' needs lags = 1, metadata says " + h.metadata().get("lags"));
        }
        // Shapes from the config must match the header exactly before any allocation: the header's
        // sizes are bounded by the file size, so an absurd config is refused here.
        Map<String, int[]> expected = ParameterLayout.shapes(cfg);
        for (var e : expected.entrySet()) {
            SafeTensors.Entry en = h.entries().get(e.getKey());
            if (en == null) throw new CheckpointException(file, "tensor '" + e.getKey() + "' is missing");
            long[] want = java.util.Arrays.stream(e.getValue()).asLongStream().toArray();
            if (!java.util.Arrays.equals(en.shape(), want)) {
                throw new CheckpointException(file, "tensor '" + e.getKey() + "' has shape " + java.util.Arrays.toString(en.shape())
                        + ", the metadata config needs " + java.util.Arrays.toString(want));
            }
        }
        for (String name : h.entries().keySet()) {
            if (!expected.containsKey(name)) throw new CheckpointException(file, "unexpected tensor '" + name + "' for this config");
        }
        Gpt model = Gpt.empty(cfg);
        try {
            SafeTensors.readInto(h, model.params().tensors());
            for (Tensor t : model.params().tensors().values()) {
                for (long i = 0, n = t.numel(); i < n; i++) {
                    float v = t.getFlat(i);
                    if (!Float.isFinite(v)) throw new CheckpointException(file, "tensor '" + t.name() + "' holds a non-finite value at " + i);
                }
            }
        } catch (IOException | RuntimeException e) {
            model.close();
            throw e;
        }
        return new Loaded(model, tok, h.metadata());
    }

    private static void checkFormat(SafeTensors.Header h) throws CheckpointException {
        String format = h.metadata().get("format");
        if (!FORMAT.equals(format)) {
            throw new CheckpointException(h.file(), format == null ? "not a Leviathan checkpoint (no 'format' in the metadata)"
                    : "checkpoint format '" + format + "' is not supported (expected '" + FORMAT + "')");
        }
    }

    private static String need(SafeTensors.Header h, String key) throws CheckpointException {
        String v = h.metadata().get(key);
        if (v == null) throw new CheckpointException(h.file(), "metadata has no '" + key + "'");
        return v;
    }

    private static int intMeta(SafeTensors.Header h, String key) throws CheckpointException {
        String v = need(h, key);
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new CheckpointException(h.file(), "metadata '" + key + "' is not an integer: '" + v + "'");
        }
    }
}
