package leviathan.train;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import leviathan.backend.JavaBackend;
import leviathan.data.TokenBatchSampler;
import leviathan.data.Tokens;
import leviathan.kernel.Parallel;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.model.Workspace;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;

/**
 * A steady-state training step (batch, forward, backward, clipping norm, AdamW) and a
 * steady-state generated token ({@link Gpt#forwardIncremental}) allocate nothing on the Java heap:
 * the bytes the thread allocates over many steps after a warm-up must not grow with the steps.
 * Kernels run on the calling thread ({@code Parallel.setThreads(1)}), so the thread's counter
 * sees all of their work.
 */
class SteadyStateAllocationTest {
    static final com.sun.management.ThreadMXBean THREADS = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();
    int threadsBefore;

    @BeforeEach
    void oneThread() {
        threadsBefore = Parallel.threads();
        Parallel.setThreads(1);
    }

    @AfterEach
    void restore() { Parallel.setThreads(threadsBefore); }

    interface Step { void run(int i); }

    /** Heap bytes the current thread allocates over {@code steps} calls, after {@code warmup} calls. */
    static long allocated(Step step, int warmup, int steps) {
        for (int i = 0; i < warmup; i++) step.run(i);
        long before = THREADS.getCurrentThreadAllocatedBytes();
        for (int i = warmup; i < warmup + steps; i++) step.run(i);
        return THREADS.getCurrentThreadAllocatedBytes() - before;
    }

    static int[] text(int n, int V) {
        int[] t = new int[n];
        java.util.SplittableRandom r = new java.util.SplittableRandom(9);
        for (int i = 0; i < n; i++) t[i] = r.nextInt(V);
        return t;
    }

    @Test
    void aTrainingStepAllocatesNothing() {
        for (String attention : new String[] {"correlation", "dot"}) {
            GptConfig cfg = GptConfig.of(24, 32, 2, 2, 32, attention, "dot".equals(attention) ? 1 : 3);
            int B = 4, T = 32;
            try (Gpt m = Gpt.init(cfg, 1);
                 Workspace ws = m.workspace(new JavaBackend(), B, T, true);
                 Optimizer opt = new Optimizer(m, Optimizer.Kind.ADAMW, 0.9f, 0.99f, 1e-8f, 0.1f)) {
                TokenBatchSampler sampler = new TokenBatchSampler(Tokens.of(text(5000, 24)), 3, 24);
                Step step = i -> {
                    m.zeroGrad();
                    sampler.fill(ws.tokens(), ws.targets(), B, T, i, 0);
                    m.forward(ws, B, T, true);
                    m.backward(ws, B, T, 1f);
                    double norm = opt.gradNorm();
                    if (norm > 1) opt.scaleGrads((float) (1 / norm));
                    opt.step(1e-3f);
                };
                long bytes = allocated(step, 300, 100);
                assertTrue(bytes < 100 * 16, attention + ": 100 steady training steps allocated " + bytes + " bytes on the heap");
            }
        }
    }

    @Test
    void generatingATokenAllocatesNothing() {
        GptConfig cfg = GptConfig.of(24, 64, 2, 2, 32, "correlation", 3);
        try (Gpt m = Gpt.init(cfg, 2); Workspace ws = m.workspace(new JavaBackend(), 1, 64, false)) {
            Step token = i -> {
                int t = i % 64;
                ws.tokens().setAtIndex(ValueLayout.JAVA_INT, t, (i * 7) % 24);
                m.forwardIncremental(ws, t);
            };
            long bytes = allocated(token, 64 * 40, 64 * 4);
            assertTrue(bytes < 256 * 16, "256 steady generated tokens allocated " + bytes + " bytes on the heap");
        }
    }
}
