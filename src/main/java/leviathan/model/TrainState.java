package leviathan.model;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import leviathan.data.CharTokenizer;
import leviathan.tensor.Buffers;
import leviathan.tensor.Tensor;

/**
 * The trainer's resume file ({@code state.safetensors}, format {@value #FORMAT}): a model's
 * parameters and both optimizer moments as tensors {@code param.*}, {@code m.*} and {@code v.*},
 * with the model file's metadata (config, vocabulary) plus the trainer's counters. Reading checks
 * the format, the vocabulary, the config, and every tensor's name and shape before any memory is
 * allocated; loading checks that the values are finite and the second moments non-negative. Every
 * failure is one {@link CheckpointException} naming the file.
 */
public final class TrainState {
    public static final String FORMAT = Checkpoint.TRAIN_STATE_FORMAT;
    private static final List<String> PREFIXES = List.of("param.", "m.", "v.");

    private final SafeTensors.Header header;
    private final CharTokenizer tokenizer;
    private final GptConfig config;

    private TrainState(SafeTensors.Header header, CharTokenizer tokenizer, GptConfig config) {
        this.header = header;
        this.tokenizer = tokenizer;
        this.config = config;
    }

    /** Reads and validates the header of {@code file}; the tensors stay on disk until {@link #load}. */
    public static TrainState read(Path file) throws IOException {
        SafeTensors.Header h = SafeTensors.readHeader(file);
        String format = h.metadata().get("format");
        if (!FORMAT.equals(format)) {
            throw new CheckpointException(file, Checkpoint.FORMAT.equals(format) ? "is a model file, not a training state"
                    : "not a training state file (format " + (format == null ? "missing" : SafeTensors.show(format)) + ", expected '" + FORMAT + "')");
        }
        CharTokenizer tok = Checkpoint.vocabulary(h);
        GptConfig c = Checkpoint.configOf(h, tok);
        long expected = 3 * ParameterLayout.count(c);
        if (expected != h.entries().size()) {
            throw new CheckpointException(file, "holds " + h.entries().size() + " tensors; parameters and two moments of this model are " + expected);
        }
        Map<String, int[]> shapes = ParameterLayout.shapes(c);
        for (String prefix : PREFIXES) Checkpoint.checkTensors(h, shapes, prefix);
        return new TrainState(h, tok, c);
    }

    /** The file read. */
    public Path file() { return header.file(); }

    /** The model config in the metadata, validated. */
    public GptConfig config() { return config; }

    /** The vocabulary in the metadata. */
    public CharTokenizer tokenizer() { return tokenizer; }

    /** All metadata (the trainer's counters among them). */
    public Map<String, String> metadata() { return header.metadata(); }

    /** The metadata integer {@code key}, which must lie in {@code [0, max]}; {@code fallback} when absent (or -1: required). */
    public int counter(String key, int fallback, int max) throws CheckpointException {
        String v = header.metadata().get(key);
        if (v == null) {
            if (fallback >= 0) return fallback;
            throw new CheckpointException(header.file(), "metadata has no '" + key + "'");
        }
        try {
            int n = Integer.parseInt(v.trim());
            if (n >= 0 && n <= max) return n;
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new CheckpointException(header.file(), "metadata '" + key + "' must be an integer in [0, " + max + "], got "
                + SafeTensors.show(v.length() > 40 ? v.substring(0, 40) + "..." : v));
    }

    /** Reads the tensors into {@code tensors} (named as {@link #tensors} names them); refuses non-finite values and negative second moments. */
    public void load(List<Tensor> tensors) throws IOException {
        Map<String, Tensor> byName = new LinkedHashMap<>();
        for (Tensor t : tensors) byName.put(t.name(), t);
        SafeTensors.readInto(header, byName);
        Checkpoint.checkFinite(header.file(), tensors);
        for (Tensor t : tensors) {
            if (!t.name().startsWith("v.")) continue;
            for (long i = 0, n = t.numel(); i < n; i++) {
                if (t.getFlat(i) < 0) throw new CheckpointException(header.file(), "second moment '" + t.name() + "' is negative at index " + i);
            }
        }
    }

    /** The tensors of a state: the parameters, then the first and second moments, each named with its prefix. */
    public static List<Tensor> tensors(Gpt model, Buffers firstMoments, Buffers secondMoments) {
        List<Tensor> l = new ArrayList<>();
        for (Tensor p : model.params().tensors().values()) l.add(Tensor.of("param." + p.name(), p.segment(), p.shape()));
        for (Tensor p : firstMoments.tensors().values()) l.add(Tensor.of("m." + p.name(), p.segment(), p.shape()));
        for (Tensor p : secondMoments.tensors().values()) l.add(Tensor.of("v." + p.name(), p.segment(), p.shape()));
        return l;
    }

    /** Writes {@code tensors} atomically with the model's metadata, format {@value #FORMAT}, and {@code extra} entries. */
    public static void write(Path file, GptConfig c, CharTokenizer tok, Map<String, String> extra, List<Tensor> tensors) throws IOException {
        Map<String, String> meta = new LinkedHashMap<>(Checkpoint.metadata(c, tok, extra));
        meta.put("format", FORMAT);
        SafeTensors.write(file, meta, tensors);
    }
}
