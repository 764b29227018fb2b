package leviathan.bench;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.kernel.Involution;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.Param;

/**
 * Involution's windowed softmax + causal weighted sum and its backward, at the char-Shakespeare
 * size ({@code B·T = 768} rows, C = 128, H = 4) for a window of K steps. The projections around
 * it are GEMMs (see GemmBench).
 *
 * <pre>
 *   flock /tmp/leviathan-bench.lock ./leviathan bench 'leviathan.bench.InvolutionBench' -p threads=1,2 -p window=16,64 -wi 2 -i 5 -w 1 -r 1
 * </pre>
 */
public class InvolutionBench extends KernelBench {
    /** The window K. */
    @Param({"16", "64"})
    public int window;

    private MemorySegment w, p, v, o, dout, dw, dv;

    @Override
    void allocate(SplittableRandom rnd) {
        long nw = (long) ROWS * H * window, nv = (long) ROWS * C;
        w = random(nw, rnd, 3);
        p = zeros(nw);
        dw = zeros(nw);
        v = random(nv, rnd, 1);
        o = zeros(nv);
        dout = random(nv, rnd, 1);
        dv = zeros(nv);
        Involution.forward(o, p, w, v, B, T, C, H, window, 0);
    }

    @Benchmark public void forward() { Involution.forward(o, p, w, v, B, T, C, H, window, 0); }
    @Benchmark public void forwardScalar() { Involution.forwardScalar(o, p, w, v, B, T, C, H, window, 0); }
    @Benchmark public void backward() { Involution.backward(dw, dv, dout, p, v, B, T, C, H, window); }
    @Benchmark public void backwardScalar() { Involution.backwardScalar(dw, dv, dout, p, v, B, T, C, H, window); }
}
