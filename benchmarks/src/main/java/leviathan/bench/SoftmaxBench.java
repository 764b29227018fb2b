package leviathan.bench;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.kernel.Softmax;
import org.openjdk.jmh.annotations.Benchmark;

/** Causal row softmax on attention scores, {@code (B·H·T, T)} = 3072×64. */
public class SoftmaxBench extends KernelBench {
    private MemorySegment in, out;
    private final int rows = B * H * T;

    @Override
    void allocate(SplittableRandom rnd) {
        in = random((long) rows * T, rnd, 8);
        out = random((long) rows * T, rnd, 1);
    }

    @Benchmark public void forward() { Softmax.forward(out, in, rows, T, T); }
    @Benchmark public void forwardScalar() { Softmax.forwardScalar(out, in, rows, T, T); }
}
