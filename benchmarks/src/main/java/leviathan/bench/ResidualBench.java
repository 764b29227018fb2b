package leviathan.bench;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.kernel.Residual;
import org.openjdk.jmh.annotations.Benchmark;

/** Residual sums on the stream, {@code (B·T, C)} = 98,304 floats. */
public class ResidualBench extends KernelBench {
    private MemorySegment a, b, out;
    private final long n = (long) ROWS * C;

    @Override
    void allocate(SplittableRandom rnd) {
        a = random(n, rnd, 1);
        b = random(n, rnd, 1);
        out = random(n, rnd, 1);
    }

    @Benchmark public void forward() { Residual.forward(out, a, b, n); }
    @Benchmark public void forwardScalar() { Residual.forwardScalar(out, a, b, 0, n); }
    @Benchmark public void add() { Residual.add(out, b, n); }
    @Benchmark public void addScalar() { Residual.addScalar(out, b, 0, n); }
}
