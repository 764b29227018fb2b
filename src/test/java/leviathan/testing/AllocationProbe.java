package leviathan.testing;

import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.util.SplittableRandom;
import leviathan.backend.Backend;
import leviathan.backend.Backends;
import leviathan.data.TokenBatchSampler;
import leviathan.data.Tokens;
import leviathan.kernel.Parallel;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.model.Workspace;
import leviathan.train.Optimizer;

/**
 * Heap bytes allocated per training step (batch, forward, backward, gradient norm, AdamW) and per
 * generated token ({@link Gpt#forwardIncremental}), window by window, so that the steady state
 * after the JIT has compiled the kernels shows. Kernels run on the calling thread
 * ({@code --threads 1} default) so the thread's counter sees all of their work; with more threads
 * the counters of every thread are summed.
 *
 * <pre>
 *   AllocationProbe [--mode train|generate] [--steps N] [--window N] [--attention correlation|dot]
 *                   [--n-layer L] [--n-embd C] [--n-head H] [--block-size T] [--batch-size B] [--threads N]
 *                   [--max-bytes-per-step X]
 * </pre>
 * Exits 1 when the last window allocated more than {@code --max-bytes-per-step} (default 0) per step.
 */
public final class AllocationProbe {
    static final com.sun.management.ThreadMXBean MX = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    public static void main(String[] args) throws Exception {
        String mode = "train", attention = "correlation";
        int steps = 4000, window = 500, L = 2, C = 64, H = 2, T = 64, B = 4, threads = 1;
        long maxPerStep = 0;
        for (int i = 0; i < args.length; i += 2) {
            String v = args[i + 1];
            switch (args[i]) {
                case "--mode" -> mode = v;
                case "--steps" -> steps = Integer.parseInt(v);
                case "--window" -> window = Integer.parseInt(v);
                case "--attention" -> attention = v;
                case "--n-layer" -> L = Integer.parseInt(v);
                case "--n-embd" -> C = Integer.parseInt(v);
                case "--n-head" -> H = Integer.parseInt(v);
                case "--block-size" -> T = Integer.parseInt(v);
                case "--batch-size" -> B = Integer.parseInt(v);
                case "--threads" -> threads = Integer.parseInt(v);
                case "--max-bytes-per-step" -> maxPerStep = Long.parseLong(v);
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        Parallel.setThreads(threads);
        int V = 65;
        GptConfig cfg = GptConfig.of(V, T, L, H, C, attention, "dot".equals(attention) ? 1 : 4);
        System.out.printf("%s, %s, %d threads, JDK %s, vector %s%n", mode, cfg.describe(), threads, Runtime.version(),
                leviathan.kernel.Simd.ENABLED ? leviathan.kernel.Simd.F.toString() : "off (scalar)");
        long last;
        try (Gpt m = Gpt.init(cfg, 1); Backend be = Backends.select("java", s -> { })) {
            if (mode.equals("train")) {
                int[] text = new int[200_000];
                SplittableRandom r = new SplittableRandom(3);
                for (int i = 0; i < text.length; i++) text[i] = r.nextInt(V);
                final int bb = B, tt = T;
                try (Workspace ws = m.workspace(be, B, T, true);
                     Optimizer opt = new Optimizer(m, Optimizer.Kind.ADAMW, 0.9f, 0.99f, 1e-8f, 0.1f)) {
                    TokenBatchSampler sampler = new TokenBatchSampler(Tokens.of(text), 1337, V);
                    last = run(steps, window, "step", i -> {
                        m.zeroGrad();
                        sampler.fill(ws.tokens(), ws.targets(), bb, tt, i, 0);
                        m.forward(ws, bb, tt, true);
                        m.backward(ws, bb, tt, 1f);
                        double norm = opt.gradNorm();
                        if (norm > 1) opt.scaleGrads((float) (1 / norm));
                        opt.step(1e-3f);
                    });
                }
            } else {
                final int tt = T;
                try (Workspace ws = m.workspace(be, 1, T, false)) {
                    last = run(steps, window, "token", i -> {
                        int t = i % tt;
                        ws.tokens().setAtIndex(ValueLayout.JAVA_INT, t, (i * 7) % V);
                        m.forwardIncremental(ws, t);
                    });
                }
            }
        }
        if (last > maxPerStep) {
            System.out.printf("FAIL: %d bytes per step in the last window, more than %d%n", last, maxPerStep);
            System.exit(1);
        }
    }

    interface Step { void run(int i); }

    /** Runs the steps, printing bytes per step for each window; returns the last window's figure. */
    static long run(int steps, int window, String unit, Step step) {
        long before = allocated(), t0 = System.nanoTime(), perStep = 0;
        for (int i = 0; i < steps; i++) {
            step.run(i);
            if ((i + 1) % window == 0) {
                long now = allocated();
                perStep = (now - before) / window;
                System.out.printf("%,8d %ss: %,10d bytes/%s  (%.1f s)%n", i + 1, unit, perStep, unit, (System.nanoTime() - t0) / 1e9);
                before = allocated();
            }
        }
        return perStep;
    }

    /** Bytes allocated so far by every live thread (the kernel workers included). */
    static long allocated() {
        long sum = 0;
        for (long b : MX.getThreadAllocatedBytes(MX.getAllThreadIds())) if (b > 0) sum += b;
        return sum;
    }
}
