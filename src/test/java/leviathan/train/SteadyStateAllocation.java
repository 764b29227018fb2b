package leviathan.train;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.io.UncheckedIOException;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import java.util.function.IntConsumer;
import leviathan.backend.Backend;
import leviathan.backend.JavaBackend;
import leviathan.backend.OneDnnBackend;
import leviathan.backend.OneDnnLoader;
import leviathan.data.TokenBatchSampler;
import leviathan.data.Tokens;
import leviathan.distributed.SingleProcess;
import leviathan.kernel.Parallel;
import leviathan.model.Gpt;
import leviathan.model.Workspace;
import leviathan.nn.CorrelationAttention;
import leviathan.testing.AllocationMeter;

/**
 * The steady-state check that {@link SteadyStateAllocationTest} runs in a JVM of its own (with
 * {@code -Xbatch}): a whole training step ({@link TrainingStep#run}: batch, forward, backward,
 * gradient norm, clip, AdamW, the parts' figures, and the report between log lines) and generated
 * tokens ({@link Sampler#stream}: the incremental forward, the sliding-window recompute,
 * temperature, top-k and top-p) allocate no heap byte on the caller and the kernel workers once the
 * JIT has compiled the kernels. Models with every token mixer and MLP on the Java GEMM, and one on
 * oneDNN where it loads; two kernel threads.
 *
 * <p>Until the JIT has compiled a kernel, the Vector API boxes its vectors (and interpreted or C1
 * code allocates what C2 code does not), so each case runs windows of steps until one allocates
 * nothing, and fails if none of {@link #MAX_WINDOWS} does: an allocation per step never gives a
 * clean window. Prints one line per case; exits 1 if any failed.
 */
public final class SteadyStateAllocation {
    private SteadyStateAllocation() {}

    /** Every token mixer and every MLP, each at least once, with dropout on (small: the JIT's warm-up dominates the time). */
    static final String[][] MODELS = {{"correlation", "dense"}, {"dot", "moe"}, {"involution", "swiglu"}};
    /** Windows of 50 training steps, or of 5 calls of 40 tokens (past the 16-token context: both decoding paths). */
    static final int STEPS_PER_WINDOW = 50, CALLS_PER_WINDOW = 5, TOKENS = 40, MAX_WINDOWS = 100;

    public static void main(String[] args) {
        List<String> failures = new ArrayList<>();
        int threads = Parallel.threads();
        Parallel.setThreads(2);                               // the kernel workers count too
        try {
            for (String[] parts : MODELS) {
                try (Backend be = new JavaBackend()) {
                    check(parts[0], parts[1], be, failures);
                }
            }
            try (OneDnnBackend be = OneDnnBackend.open()) {
                check("correlation", "moe", be, failures);    // moe: GEMMs at row offsets (each expert's rows)
            } catch (OneDnnLoader.UnavailableException e) {
                System.out.println("skipped oneDNN: not found: " + e.getMessage());
            }
        } finally {
            Parallel.setThreads(threads);
        }
        failures.forEach(f -> System.out.println("FAIL " + f));
        System.exit(failures.isEmpty() ? 0 : 1);
    }

    /** Training steps, then tokens, of a small model of these parts, until a window of each allocates nothing. */
    static void check(String mixer, String mlp, Backend be, List<String> failures) {
        TrainConfig cfg = TrainConfig.builder().attention(mixer).mlp(mlp).nLayer(1).nHead(2).nEmbd(32).blockSize(16)
                .option("window", "involution".equals(mixer) ? 4 : null).option("n_expert", "moe".equals(mlp) ? 4 : null)
                .dropout(0.1f)                                    // the masks are hashed, not drawn: nothing to allocate
                .batchSize(4).steps(1_000_000).warmup(10).logInterval(1_000_000).threads(2).backend(be.name()).build();
        int V = 48, B = cfg.schedule().batchSize(), T = cfg.model().blockSize();
        int[] text = new int[20_000];
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < text.length; i++) text[i] = r.nextInt(V);
        String what = mixer + " + " + mlp + " on " + be.name();
        try (Gpt m = cfg.model().init(V, 1);
             Workspace ws = m.workspace(be, B, T, true, cfg.model().runOptions());
             Optimizer opt = new Optimizer(m, cfg.optimizer().kind(), cfg.optimizer().beta1(), cfg.optimizer().beta2(),
                     cfg.optimizer().eps(), cfg.optimizer().weightDecay());
             Sampler sampler = new Sampler(m, be, leviathan.nn.RunOptions.DEFAULTS)) {
            TrainingStep training = new TrainingStep(m, ws, opt, new TokenBatchSampler(Tokens.of(text), 1337, V),
                    new LrSchedule(1e-3f, 1e-4f, 10, 1_000_000), new TrainingHooks() { }, cfg, SingleProcess.INSTANCE);
            Reporter report = new Reporter(new PrintStream(OutputStream.nullOutputStream()), line -> { }, null, cfg, System.nanoTime());
            untilClean(what + ", training steps", STEPS_PER_WINDOW, failures, step -> {
                TrainingStep.Outcome o = training.run(step);
                if (!o.applied()) throw new IllegalStateException(what + ": step " + o.step() + " refused: " + o.problem());
                try {
                    report.step(o);
                } catch (IOException e) {
                    throw new UncheckedIOException(e);
                }
            });
            // generation: the incremental forward from row t0 (context shift: t0 cycles through [T/2, T)), and the exact
            // sliding window (every row recomputed once the context is full); top-k and top-p sort the tokens
            int[] prompt = {1, 2, 3};
            Sampler.TokenSink none = t -> true;
            for (boolean shift : new boolean[] {true, false}) {
                Sampler.Options opts = new Sampler.Options(TOKENS, 0.8f, 10, 0.9f, 7, shift);
                untilClean(what + ", " + TOKENS + " tokens per call" + (shift ? " (context shift)" : " (sliding window)"), CALLS_PER_WINDOW,
                        failures, call -> {
                            int n = sampler.stream(prompt, opts, none);
                            if (n != TOKENS) throw new IllegalStateException(what + ": generated " + n + " tokens, not " + TOKENS);
                        });
            }
        }
    }

    /**
     * Runs windows of {@code steps} calls of {@code body} (numbered on from window to window) until
     * one allocates no byte; a failure lists every window's bytes.
     */
    static void untilClean(String what, int steps, List<String> failures, IntConsumer body) {
        List<Long> seen = new ArrayList<>();
        long t0 = System.nanoTime();
        AllocationMeter meter = new AllocationMeter();
        for (int w = 0, i = 0; w < MAX_WINDOWS; w++) {
            meter.start();
            for (int k = 0; k < steps; k++) body.accept(i++);
            long bytes = meter.bytes();
            if (bytes == 0) {
                System.out.printf("ok   %s: window %d of %d allocated nothing (%d threads, %.1f s)%n", what, w + 1, steps,
                        meter.threads(), (System.nanoTime() - t0) / 1e9);
                return;
            }
            seen.add(bytes);
        }
        failures.add(what + ": no window of " + steps + " allocated nothing; bytes per window: " + seen);
    }
}
