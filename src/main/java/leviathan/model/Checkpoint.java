package leviathan.model;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.TreeMap;
import leviathan.data.CharTokenizer;
import leviathan.nn.PartType;
import leviathan.nn.Parts;
import leviathan.tensor.Tensor;

/**
 * The model file (LEVIATHAN.md, "Checkpoints"): one safetensors file, float32 little-endian,
 * tensors named as in {@link ParameterLayout}, metadata {@code format=leviathan-1}, the config and
 * the vocabulary. The file alone is enough to evaluate and sample.
 */
public final class Checkpoint {
    private Checkpoint() {}

    public static final String FORMAT = "leviathan-1";

    /** The format of the trainer's resume file ({@code state.safetensors}), which is not a model file. */
    public static final String TRAIN_STATE_FORMAT = "leviathan-train-1";

    /** A loaded model with its vocabulary and all metadata. */
    public record Loaded(Gpt model, CharTokenizer tokenizer, Map<String, String> metadata) implements AutoCloseable {
        @Override
        public void close() { model.close(); }
    }

    /** The spec's metadata for a model; {@code extra} entries (e.g. step) are added after it. */
    public static Map<String, String> metadata(GptConfig c, CharTokenizer tok, Map<String, String> extra) {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("format", FORMAT);
        m.put("attention", c.attention());
        m.put("n_layer", Integer.toString(c.nLayer()));
        m.put("n_head", Integer.toString(c.nHead()));
        m.put("n_embd", Integer.toString(c.nEmbd()));
        m.put("block_size", Integer.toString(c.blockSize()));
        m.put("lags", Integer.toString(c.lags()));
        m.putAll(c.mixerOptions());                                   // the mixers' own keys (lags again, window, ...)
        if (!c.mlp().kind().equals(Parts.defaultKind(PartType.Slot.MLP))) {   // absent means dense: dense files stay as they were
            m.put("mlp", c.mlp().kind());
            m.putAll(new TreeMap<>(c.mlp().options()));
        }
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
        return configOf(h, tok);
    }

    /** The config in the metadata, validated, whatever the file's format (model or training state). */
    public static GptConfig configOf(SafeTensors.Header h, CharTokenizer tok) throws CheckpointException {
        try {
            Map<String, String> meta = h.metadata();
            intMeta(h, "lags");                                   // every model file names its lag count (1 without correlation)
            GptConfig c = new GptConfig(tok.vocabSize(), intMeta(h, "block_size"), intMeta(h, "n_layer"), intMeta(h, "n_head"),
                    intMeta(h, "n_embd"), Parts.mixerStack(need(h, "attention"), intMeta(h, "n_layer"), meta),
                    Parts.mlpSpec(meta.getOrDefault("mlp", Parts.defaultKind(PartType.Slot.MLP)), meta));
            // every key the parts would write must read back as written (e.g. 'dot' with lags 3 is refused)
            for (var e : metadata(c, tok, null).entrySet()) {
                String found = meta.get(e.getKey());
                if (found != null && !found.trim().equalsIgnoreCase(e.getValue()) && !e.getKey().equals("vocab") && !e.getKey().equals("format")) {
                    throw new CheckpointException(h.file(), "metadata '" + e.getKey() + "' is " + SafeTensors.show(found) + " but "
                            + c.attention() + " attention with the " + c.mlp().kind() + " MLP needs " + SafeTensors.show(e.getValue()));
                }
            }
            return c;
        } catch (CheckpointException e) {
            throw e;
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(h.file(), "invalid model config in metadata: " + e.getMessage());
        }
    }

    /**
     * Loads and validates a checkpoint: format, vocabulary, config, then every tensor's name and
     * shape against the config, all before any model memory is allocated; then the data, which must
     * be finite. Every failure is one {@link CheckpointException} naming the file and the problem.
     */
    public static Loaded load(Path file) throws IOException {
        SafeTensors.Header h = SafeTensors.readHeader(file);
        checkFormat(h);
        CharTokenizer tok = vocabulary(h);
        GptConfig cfg = config(h, tok);
        Map<String, int[]> expected = ParameterLayout.shapes(checkTensorCount(h, cfg));
        checkTensors(h, expected, "");
        for (String name : h.entries().keySet()) {
            if (!expected.containsKey(name)) throw new CheckpointException(file, "unexpected tensor " + SafeTensors.show(name) + " for this config");
        }
        Gpt model = Gpt.empty(cfg);
        try {
            SafeTensors.readInto(h, model.params().tensors());
            checkFinite(file, model.params().tensors().values());
        } catch (IOException | RuntimeException e) {
            model.close();
            throw e;
        }
        return new Loaded(model, tok, h.metadata());
    }

    /** The vocabulary in the metadata: non-empty, sorted, distinct code points, no lone surrogates. */
    public static CharTokenizer vocabulary(SafeTensors.Header h) throws CheckpointException {
        String vocab = need(h, "vocab");
        for (int i = 0, pos = 0; i < vocab.length(); pos++) {
            int cp = vocab.codePointAt(i);
            if (Character.isSurrogate((char) cp) && Character.charCount(cp) == 1) {
                throw new CheckpointException(h.file(), "bad vocabulary in metadata: a lone surrogate "
                        + String.format("U+%04X", cp) + " at position " + pos + " is not a character");
            }
            i += Character.charCount(cp);
        }
        try {
            return CharTokenizer.fromVocab(vocab);
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(h.file(), "bad vocabulary in metadata: " + e.getMessage());
        }
    }

    /**
     * Refuses a config that needs far more tensors than the header holds before the expected layout
     * is built, so that an absurd {@code n_layer} costs nothing; a near miss is left to the name
     * checks, whose message says which tensor is missing. Returns {@code cfg}.
     */
    static GptConfig checkTensorCount(SafeTensors.Header h, GptConfig cfg) throws CheckpointException {
        long expected = ParameterLayout.count(cfg);
        if (expected > 2L * h.entries().size() + 64) {
            throw new CheckpointException(h.file(), "the metadata config (n_layer " + cfg.nLayer() + ", attention " + cfg.attention()
                    + ") needs " + expected + " tensors, the file holds " + h.entries().size());
        }
        return cfg;
    }

    /**
     * Checks that the header holds exactly the tensors {@code expected} (names prefixed by
     * {@code prefix}) with exactly those shapes.
     */
    public static void checkTensors(SafeTensors.Header h, Map<String, int[]> expected, String prefix) throws CheckpointException {
        for (var e : expected.entrySet()) {
            String name = prefix + e.getKey();
            SafeTensors.Entry en = h.entries().get(name);
            if (en == null) throw new CheckpointException(h.file(), "tensor " + SafeTensors.show(name) + " is missing");
            long[] want = Arrays.stream(e.getValue()).asLongStream().toArray();
            if (!Arrays.equals(en.shape(), want)) {
                throw new CheckpointException(h.file(), "tensor " + SafeTensors.show(name) + " has shape " + Arrays.toString(en.shape())
                        + ", the metadata config needs " + Arrays.toString(want));
            }
        }
    }

    /** Refuses any NaN or infinity in {@code tensors}, naming the tensor and the flat index. */
    public static void checkFinite(Path file, Iterable<Tensor> tensors) throws CheckpointException {
        for (Tensor t : tensors) {
            long i = firstNonFinite(t);
            if (i >= 0) throw new CheckpointException(file, "tensor " + SafeTensors.show(t.name()) + " holds a non-finite value ("
                    + t.getFlat(i) + ") at flat index " + i);
        }
    }

    /** The flat index of the first NaN or infinity in {@code t}, or -1. */
    public static long firstNonFinite(Tensor t) {
        MemorySegment s = t.segment();
        for (long i = 0, n = t.numel(); i < n; i++) {
            // exponent bits all ones: NaN or infinity
            if ((s.getAtIndex(ValueLayout.JAVA_INT, i) & 0x7f800000) == 0x7f800000) return i;
        }
        return -1;
    }

    private static void checkFormat(SafeTensors.Header h) throws CheckpointException {
        String format = h.metadata().get("format");
        if (!FORMAT.equals(format)) {
            throw new CheckpointException(h.file(), format == null ? "not a Leviathan checkpoint (no 'format' in the metadata)"
                    : TRAIN_STATE_FORMAT.equals(format) ? "is a training state file (format " + SafeTensors.show(format)
                            + "); pass the model.safetensors beside it"
                    : "checkpoint format " + SafeTensors.show(format) + " is not supported (expected '" + FORMAT + "')");
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
            throw new CheckpointException(h.file(), "metadata '" + key + "' is not an integer: " + SafeTensors.show(v));
        }
    }
}
