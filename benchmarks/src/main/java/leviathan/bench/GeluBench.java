package leviathan.bench;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.kernel.Gelu;
import org.openjdk.jmh.annotations.Benchmark;

/** GELU forward and backward on the MLP activation, {@code (B·T, 4C)} = 768×512 floats. */
public class GeluBench extends KernelBench {
    private MemorySegment in, out, dout, din;
    private final long n = (long) ROWS * 4 * C;

    @Override
    void allocate(SplittableRandom rnd) {
        in = random(n, rnd, 3);
        out = random(n, rnd, 1);
        dout = random(n, rnd, 1);
        din = random(n, rnd, 1);
    }

    @Benchmark public void forward() { Gelu.forward(out, in, n); }
    @Benchmark public void forwardScalar() { Gelu.forwardScalar(out, in, 0, n); }
    @Benchmark public void backward() { Gelu.backward(din, in, dout, n); }
    @Benchmark public void backwardScalar() { Gelu.backwardScalar(din, in, dout, 0, n); }
}
