package leviathan.api;

import java.io.IOException;
import java.nio.file.Path;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Consumer;
import leviathan.backend.Backend;
import leviathan.backend.Backends;
import leviathan.data.CharTokenizer;
import leviathan.data.TextDataset;
import leviathan.kernel.Parallel;
import leviathan.model.Checkpoint;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.model.Workspace;
import leviathan.train.Evaluator;
import leviathan.train.Sampler;

/**
 * A trained model for use inside a JVM service: load a checkpoint, generate text (streaming), and
 * evaluate. Thread-safe: any number of threads may generate or evaluate concurrently; each call
 * uses its own activation workspace (pooled), and the weights are shared read-only.
 *
 * <pre>{@code
 * try (LanguageModel lm = LanguageModel.load(Path.of("runs/x/model.safetensors"))) {
 *     String text = lm.generate("ROMEO:", new LanguageModel.Generation(200, 0.8f, 20, 42, false), System.out::print);
 *     double bpc = lm.evaluate("Some text to score.", TextDataset.Split.ALL, 0, true).bpc();
 * }
 * }</pre>
 */
public final class LanguageModel implements AutoCloseable {

    /** How the engine runs: GEMM backend ({@code auto|java|onednn}), kernel threads (0 = all cores), log sink. */
    public record Settings(String backend, int threads, Consumer<String> log) {
        public static Settings defaults() { return new Settings("auto", 0, s -> { }); }
    }

    /** One generation request: characters to generate, temperature (0 = greedy), top-k (0 = all), seed. */
    public record Generation(int tokens, float temperature, int topK, long seed, boolean dropUnknown) {
        public Generation {
            if (tokens < 0) throw new IllegalArgumentException("tokens must be >= 0, got " + tokens);
            if (topK < 0) throw new IllegalArgumentException("topK must be >= 0, got " + topK);
        }
    }

    private final Gpt model;
    private final CharTokenizer tokenizer;
    private final Backend backend;
    private final ConcurrentLinkedQueue<Sampler> samplers = new ConcurrentLinkedQueue<>();
    private final ReentrantReadWriteLock closing = new ReentrantReadWriteLock();
    private boolean closed;

    private LanguageModel(Gpt model, CharTokenizer tokenizer, Backend backend) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.backend = backend;
    }

    public static LanguageModel load(Path checkpoint) throws IOException { return load(checkpoint, Settings.defaults()); }

    /** Loads and validates a checkpoint; a bad file is a {@link leviathan.model.CheckpointException}. */
    public static LanguageModel load(Path checkpoint, Settings settings) throws IOException {
        if (settings.threads() < 0) throw new IllegalArgumentException("threads must be >= 0, got " + settings.threads());
        if (settings.threads() > 0) Parallel.setThreads(settings.threads());
        Checkpoint.Loaded l = Checkpoint.load(checkpoint);
        try {
            return new LanguageModel(l.model(), l.tokenizer(), Backends.select(settings.backend(), settings.log()));
        } catch (RuntimeException e) {
            l.close();
            throw e;
        }
    }

    public GptConfig config() { return model.config(); }

    public CharTokenizer tokenizer() { return tokenizer; }

    /**
     * Continues {@code prompt} (an empty prompt starts from a newline, or the first character of
     * the vocabulary), passing each generated character to {@code onText} as it is drawn; returns the
     * generated text. Characters outside the vocabulary are an error unless {@code dropUnknown}.
     */
    public String generate(String prompt, Generation g, Consumer<String> onText) {
        int[] encoded = tokenizer.encode(prompt, g.dropUnknown());
        int[] ids = encoded.length > 0 ? encoded : new int[] {Math.max(0, tokenizer.tokenOf('\n'))};
        StringBuilder sb = new StringBuilder();
        withOpen(() -> {
            Sampler s = samplers.poll();
            if (s == null) s = new Sampler(model, backend);
            try {
                s.generate(ids, new Sampler.Options(g.tokens(), g.temperature(), g.topK(), g.seed()), t -> {
                    String c = tokenizer.decode(t);
                    sb.append(c);
                    if (onText != null) onText.accept(c);
                });
            } finally {
                samplers.add(s);
            }
        });
        return sb.toString();
    }

    /**
     * Loss and bpc of {@code text} (or one split of it) by the spec's windowing with window length
     * {@code T} (0 = the model's block_size).
     */
    public Evaluator.Result evaluate(String text, TextDataset.Split split, int T, boolean dropUnknown) {
        int len = T == 0 ? model.config().blockSize() : T;
        if (len < 1 || len > model.config().blockSize()) {
            throw new IllegalArgumentException("window length must be in [1, block_size " + model.config().blockSize() + "], got " + len);
        }
        int[] ids = new TextDataset("text", tokenizer.encode(text, dropUnknown)).tokens(split);
        Evaluator.Result[] r = new Evaluator.Result[1];
        withOpen(() -> {
            try (Workspace ws = model.workspace(backend, 16, len, false)) {
                r[0] = Evaluator.evaluate(model, ws, ids, len);
            }
        });
        return r[0];
    }

    private void withOpen(Runnable body) {
        closing.readLock().lock();
        try {
            if (closed) throw new IllegalStateException("the model is closed");
            body.run();
        } finally {
            closing.readLock().unlock();
        }
    }

    /** Waits for running calls, then frees all native memory. */
    @Override
    public void close() {
        closing.writeLock().lock();
        try {
            if (closed) return;
            closed = true;
            for (Sampler s; (s = samplers.poll()) != null; ) s.close();
            backend.close();
            model.close();
        } finally {
            closing.writeLock().unlock();
        }
    }
}
