package leviathan.bench;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.kernel.Bias;
import org.openjdk.jmh.annotations.Benchmark;

/** Bias add and its column-sum backward on the MLP's first layer, {@code (B·T, 4C)} = 768×512. */
public class BiasBench extends KernelBench {
    private MemorySegment out, bias, dbias;
    private final int cols = 4 * C;

    @Override
    void allocate(SplittableRandom rnd) {
        out = random((long) ROWS * cols, rnd, 1);
        bias = random(cols, rnd, 1);
        dbias = random(cols, rnd, 1);
    }

    @Benchmark public void forward() { Bias.forward(out, bias, ROWS, cols); }
    @Benchmark public void forwardScalar() { Bias.forwardScalar(out, bias, ROWS, cols); }
    /** dout is {@code out}. */
    @Benchmark public void backward() { Bias.backward(dbias, out, ROWS, cols); }
    @Benchmark public void backwardScalar() { Bias.backwardScalar(dbias, out, ROWS, cols); }
}
