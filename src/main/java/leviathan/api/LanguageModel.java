package leviathan.api;

import java.io.IOException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentLinkedQueue;
import java.util.concurrent.locks.ReentrantReadWriteLock;
import java.util.function.Consumer;
import leviathan.backend.Engine;
import leviathan.backend.Precision;
import leviathan.data.CharTokenizer;
import leviathan.data.TextDataset;
import leviathan.kernel.Parallel;
import leviathan.model.Checkpoint;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.model.Workspace;
import leviathan.nn.Parts;
import leviathan.nn.RunOptions;
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

    /**
     * How the engine runs: GEMM backend ({@code auto|java|onednn}), kernel threads (a positive count:
     * a kernel pool of this model's own; 0: the process's default pool, {@code -Dleviathan.threads}
     * or all cores), the GEMM precision being {@code -Dleviathan.precision} (see {@link Engine}),
     * the parts' run options by key (e.g. {@code impl=fft}, the correlation implementation; the
     * options that apply at inference are those {@code sample --help} lists), log sink.
     */
    public record Settings(String backend, int threads, Map<String, String> partOptions, Consumer<String> log) {
        public Settings {
            partOptions = Map.copyOf(Parts.runOptions(partOptions == null ? Map.of() : partOptions).values());
        }

        /** Settings with every part option at its default. */
        public Settings(String backend, int threads, Consumer<String> log) { this(backend, threads, Map.of(), log); }

        public static Settings defaults() { return new Settings("auto", 0, Map.of(), s -> { }); }
    }

    /**
     * One generation request: characters to generate, temperature (0 = greedy), top-k (0 = all),
     * top-p (1 = all), seed, whether to drop prompt characters outside the vocabulary, stop strings
     * (generation ends at the first one, which is left out of the text; empty list = none), and a
     * time bound ({@code null} = none), and whether to shift the context when it fills (see
     * {@link Sampler}) instead of sliding it exactly.
     */
    public record Generation(int tokens, float temperature, int topK, float topP, long seed, boolean dropUnknown,
                             List<String> stop, Duration timeout, boolean contextShift) {
        public Generation {
            if (tokens < 0) throw new IllegalArgumentException("tokens must be >= 0, got " + tokens);
            if (!(temperature >= 0) || Float.isInfinite(temperature)) throw new IllegalArgumentException("temperature must be a finite number >= 0, got " + temperature);
            if (topK < 0) throw new IllegalArgumentException("topK must be >= 0, got " + topK);
            if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("topP must be in (0, 1], got " + topP);
            stop = stop == null ? List.of() : List.copyOf(stop);
            for (String s : stop) if (s.isEmpty()) throw new IllegalArgumentException("a stop string must not be empty");
            if (timeout != null && (timeout.isNegative() || timeout.isZero())) throw new IllegalArgumentException("timeout must be positive, got " + timeout);
        }

        /** A request with the exact sliding window once the context is full (no context shift). */
        public Generation(int tokens, float temperature, int topK, float topP, long seed, boolean dropUnknown,
                          List<String> stop, Duration timeout) {
            this(tokens, temperature, topK, topP, seed, dropUnknown, stop, timeout, false);
        }

        /** A request without top-p, stop strings or time bound. */
        public Generation(int tokens, float temperature, int topK, long seed, boolean dropUnknown) {
            this(tokens, temperature, topK, 1f, seed, dropUnknown, List.of(), null);
        }
    }

    /** Why a generation ended. */
    public enum Finish {
        /** All requested characters were generated. */
        LENGTH,
        /** A stop string appeared. */
        STOP,
        /** The text sink asked to stop (e.g. its client went away). */
        CANCELLED,
        /** The request's time bound passed. */
        TIMEOUT
    }

    /**
     * How a generation went: why it ended, prompt length and characters drawn (a trimmed stop
     * string included), all in tokens, which are characters here.
     */
    public record Outcome(Finish finish, int promptTokens, int completionTokens) { }

    /** A finished generation: its text (without a stop string) and its {@link Outcome}. */
    public record Completion(String text, Outcome outcome) { }

    /** Receives generated text as it is drawn; returning {@code false} cancels the generation. */
    @FunctionalInterface
    public interface TextSink {
        boolean accept(String text);
    }

    /**
     * Turn-taking between concurrent generations, token by token (a server's scheduler): a
     * generation holds a turn while it computes one token (its first turn also reads the prompt)
     * and gives it back before handing the text on, so that generations sharing the cores
     * interleave instead of running one after the other.
     */
    public interface Turns {
        /** Waits for a turn; {@code first} marks a generation's first token (a scheduler may put it ahead). */
        void enter(boolean first) throws InterruptedException;

        /** Gives the turn back. */
        void leave();
    }

    private final Gpt model;
    private final CharTokenizer tokenizer;
    private final Engine engine;
    private final RunOptions options;
    private final ConcurrentLinkedQueue<Sampler> samplers = new ConcurrentLinkedQueue<>();
    private final ReentrantReadWriteLock closing = new ReentrantReadWriteLock();
    private boolean closed;

    private LanguageModel(Gpt model, CharTokenizer tokenizer, Engine engine, RunOptions options) {
        this.model = model;
        this.tokenizer = tokenizer;
        this.engine = engine;
        this.options = options;
    }

    public static LanguageModel load(Path checkpoint) throws IOException { return load(checkpoint, Settings.defaults()); }

    /** Loads and validates a checkpoint; a bad file is a {@link leviathan.model.CheckpointException}. */
    public static LanguageModel load(Path checkpoint, Settings settings) throws IOException {
        if (settings.threads() < 0) throw new IllegalArgumentException("threads must be >= 0, got " + settings.threads());
        String bad = settings.threads() > 0 ? Parallel.checkThreads(settings.threads()) : null;
        if (bad != null) throw new IllegalArgumentException("threads " + bad);
        Precision precision = Precision.fromSystem();
        Checkpoint.Loaded l = Checkpoint.load(checkpoint);
        Engine engine = null;
        try {
            engine = new Engine(settings.threads(), settings.backend(), precision, settings.log());
            engine.backend();                               // chosen now: its line and its failure belong to the load
            return new LanguageModel(l.model(), l.tokenizer(), engine, new RunOptions(settings.partOptions()));
        } catch (RuntimeException e) {
            if (engine != null) engine.close();
            l.close();
            throw e;
        }
    }

    /** Kernel threads this model's calls use, the calling thread included (see {@link Settings}). */
    public int threads() { return engine.threads(); }

    /** The model's configuration (sizes, attention kind). */
    public GptConfig config() { return model.config(); }

    public CharTokenizer tokenizer() { return tokenizer; }

    /**
     * Continues {@code prompt} (an empty prompt starts from a newline, or the first character of
     * the vocabulary), passing each generated character to {@code onText} as it is drawn; returns the
     * generated text. Characters outside the vocabulary are an error unless {@code dropUnknown}.
     */
    public String generate(String prompt, Generation g, Consumer<String> onText) {
        return complete(prompt, g, onText == null ? null : t -> {
            onText.accept(t);
            return true;
        }).text();
    }

    /** Like {@link #stream}, and also collects the text it hands to {@code onText} (which may be null). */
    public Completion complete(String prompt, Generation g, TextSink onText) {
        StringBuilder sb = new StringBuilder();
        Outcome o = stream(prompt, g, t -> {
            sb.append(t);
            return onText == null || onText.accept(t);
        });
        return new Completion(sb.toString(), o);
    }

    /**
     * Continues {@code prompt} (an empty prompt starts from a newline, or the first character of the
     * vocabulary), handing text to {@code onText} as it is drawn, in memory independent of
     * {@code g.tokens()}. Text that could be the start of a stop string is held back until it is
     * known not to be one. Ends after {@code g.tokens()} characters, at a stop string, when
     * {@code onText} returns false (checked after every character), or when the time bound passes.
     * Characters outside the vocabulary are an error unless {@code dropUnknown}.
     */
    public Outcome stream(String prompt, Generation g, TextSink onText) { return stream(prompt, g, onText, null); }

    /**
     * Like {@link #stream(String, Generation, TextSink)}, computing each token inside a turn of
     * {@code turns} ({@code null}: no turns). The text is handed to {@code onText} outside the turn.
     * An interrupt while waiting for a turn ends the generation as {@link Finish#CANCELLED}.
     */
    public Outcome stream(String prompt, Generation g, TextSink onText, Turns turns) {
        long deadline = g.timeout() == null ? Long.MAX_VALUE : System.nanoTime() + Math.min(g.timeout().toNanos(), Long.MAX_VALUE / 4);
        int[] encoded = tokenizer.encode(prompt, g.dropUnknown());
        int[] ids = encoded.length > 0 ? encoded : new int[] {Math.max(0, tokenizer.tokenOf('\n'))};
        StopMatcher stops = new StopMatcher(g.stop());
        Finish[] finish = {Finish.LENGTH};
        int[] drawn = {0};
        boolean[] held = {false};
        withOpen(() -> {
            if (turns != null) {
                if (!enter(turns, true)) {
                    finish[0] = Finish.CANCELLED;
                    return;
                }
                held[0] = true;
            }
            Sampler s = samplers.poll();
            if (s == null) s = new Sampler(model, engine.backend(), options);
            try {
                s.stream(ids, new Sampler.Options(g.tokens(), g.temperature(), g.topK(), g.topP(), g.seed(), g.contextShift()), t -> {
                    if (held[0]) {
                        held[0] = false;
                        turns.leave();
                    }
                    drawn[0]++;
                    String ready = stops.add(tokenizer.decode(t));
                    if (!ready.isEmpty() && onText != null && !onText.accept(ready)) {
                        finish[0] = Finish.CANCELLED;
                        return false;
                    }
                    if (stops.stopped()) {
                        finish[0] = Finish.STOP;
                        return false;
                    }
                    if (System.nanoTime() - deadline > 0) {
                        finish[0] = Finish.TIMEOUT;
                        return false;
                    }
                    if (turns != null && drawn[0] < g.tokens()) {
                        if (!enter(turns, false)) {
                            finish[0] = Finish.CANCELLED;
                            return false;
                        }
                        held[0] = true;
                    }
                    return true;
                });
            } finally {
                samplers.add(s);
                if (held[0]) {
                    held[0] = false;
                    turns.leave();
                }
            }
        });
        String rest = stops.flush();
        if (finish[0] != Finish.STOP && finish[0] != Finish.CANCELLED && !rest.isEmpty() && onText != null && !onText.accept(rest)) {
            finish[0] = Finish.CANCELLED;
        }
        return new Outcome(finish[0], encoded.length, drawn[0]);
    }

    /** Takes a turn; false (interrupt flag kept) when interrupted while waiting. */
    private static boolean enter(Turns turns, boolean first) {
        try {
            turns.enter(first);
            return true;
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            return false;
        }
    }

    /**
     * Holds back generated text that might begin a stop string: at any moment the pending text is the
     * longest suffix that is a proper prefix of some stop string, so it never exceeds the longest one.
     */
    private static final class StopMatcher {
        private final List<String> stops;
        private final StringBuilder pending = new StringBuilder();
        private boolean stopped;

        StopMatcher(List<String> stops) { this.stops = stops; }

        /** Adds {@code text}; returns what may be emitted now (the text before a stop string, once one appears). */
        String add(String text) {
            if (stops.isEmpty()) return text;
            pending.append(text);
            int at = -1;
            for (String s : stops) {
                int i = pending.indexOf(s);
                if (i >= 0 && (at < 0 || i < at)) at = i;
            }
            if (at >= 0) {
                stopped = true;
                String out = pending.substring(0, at);
                pending.setLength(0);
                return out;
            }
            int keep = 0;
            for (String s : stops) {
                for (int k = Math.min(s.length() - 1, pending.length()); k > keep; k--) {
                    if (pending.lastIndexOf(s.substring(0, k)) == pending.length() - k) {
                        keep = k;
                        break;
                    }
                }
            }
            String out = pending.substring(0, pending.length() - keep);
            pending.delete(0, pending.length() - keep);
            return out;
        }

        boolean stopped() { return stopped; }

        /** The text still held back (the generation ended without completing a stop string). */
        String flush() {
            String out = pending.toString();
            pending.setLength(0);
            return out;
        }
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
            try (Workspace ws = model.workspace(engine.backend(), 16, len, false, options)) {
                r[0] = Evaluator.evaluate(model, ws, ids, len);
            }
        });
        return r[0];
    }

    private void withOpen(Runnable body) {
        closing.readLock().lock();
        try {
            if (closed) throw new IllegalStateException("the model is closed");
            engine.run(body);                               // the kernels run on this model's threads
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
            engine.close();
            model.close();
        } finally {
            closing.writeLock().unlock();
        }
    }
}
