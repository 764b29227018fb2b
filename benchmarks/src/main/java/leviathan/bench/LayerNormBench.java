package leviathan.bench;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.kernel.LayerNorm;
import org.openjdk.jmh.annotations.Benchmark;

/** LayerNorm forward and backward on the residual stream, {@code (B·T, C)} = 768×128. */
public class LayerNormBench extends KernelBench {
    private MemorySegment in, out, mean, rstd, weight, bias, dout, din, dweight, dbias;

    @Override
    void allocate(SplittableRandom rnd) {
        long n = (long) ROWS * C;
        in = random(n, rnd, 2);
        out = random(n, rnd, 1);
        mean = random(ROWS, rnd, 1);
        rstd = random(ROWS, rnd, 1);
        weight = random(C, rnd, 1);
        bias = random(C, rnd, 1);
        dout = random(n, rnd, 1);
        din = random(n, rnd, 1);
        dweight = random(C, rnd, 1);
        dbias = random(C, rnd, 1);
        LayerNorm.forwardScalar(out, mean, rstd, in, weight, bias, ROWS, C);
    }

    @Benchmark public void forward() { LayerNorm.forward(out, mean, rstd, in, weight, bias, ROWS, C); }
    @Benchmark public void forwardScalar() { LayerNorm.forwardScalar(out, mean, rstd, in, weight, bias, ROWS, C); }
    @Benchmark public void backward() { LayerNorm.backward(din, dweight, dbias, dout, in, weight, mean, rstd, ROWS, C); }
    @Benchmark public void backwardScalar() { LayerNorm.backwardScalar(din, dweight, dbias, dout, in, weight, mean, rstd, ROWS, C); }
}
