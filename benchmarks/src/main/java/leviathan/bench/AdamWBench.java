package leviathan.bench;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.kernel.AdamW;
import org.openjdk.jmh.annotations.Benchmark;

/** One AdamW (and plain SGD) step over 210,000 parameters, about the default model's count. */
public class AdamWBench extends KernelBench {
    private static final int N = 210_000;
    private MemorySegment param, grad, m, v;

    @Override
    void allocate(SplittableRandom rnd) {
        param = random(N, rnd, 1);
        grad = random(N, rnd, 1e-2);
        m = random(N, rnd, 1e-3);
        v = zeros(N);                                             // zero: a valid second moment
    }

    @Benchmark public void step() { AdamW.step(param, grad, m, v, N, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 10); }
    @Benchmark public void stepScalar() { AdamW.stepScalar(param, grad, m, v, 0, N, 1e-3f, 0.9f, 0.95f, 1e-8f, 0.1f, 10); }
    @Benchmark public void sgdStep() { AdamW.sgdStep(param, grad, N, 1e-3f, 0.1f); }
    @Benchmark public void sgdStepScalar() { AdamW.sgdStepScalar(param, grad, 0, N, 1e-3f, 0.1f); }
}
