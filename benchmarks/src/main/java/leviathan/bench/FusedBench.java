package leviathan.bench;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.kernel.Bias;
import leviathan.kernel.Gelu;
import leviathan.kernel.LayerNorm;
import leviathan.kernel.Residual;
import org.openjdk.jmh.annotations.Benchmark;

/**
 * One-pass kernels against the two passes they replace, at the default config's shapes:
 * bias + GELU on the MLP activation {@code (B·T, 4C)} = 768×512, residual + LayerNorm on the
 * stream {@code (B·T, C)} = 768×128. The fused kernels are in-place on {@code pre}/{@code res}, as
 * the model uses them; repeating them only drifts the values, not the work.
 */
public class FusedBench extends KernelBench {
    private MemorySegment pre, bias, gelu, res, x, ln, mean, rstd, w, b;

    @Override
    void allocate(SplittableRandom rnd) {
        pre = random((long) ROWS * 4 * C, rnd, 3);
        bias = random(4L * C, rnd, 0.1);
        gelu = zeros((long) ROWS * 4 * C);
        res = random((long) ROWS * C, rnd, 1);
        x = random((long) ROWS * C, rnd, 1e-3);
        ln = zeros((long) ROWS * C);
        mean = zeros(ROWS);
        rstd = zeros(ROWS);
        w = random(C, rnd, 1);
        b = random(C, rnd, 1);
    }

    @Benchmark public void biasGeluFused() { Gelu.forwardBias(gelu, pre, bias, ROWS, 4 * C); }

    @Benchmark public void biasGeluTwoPasses() {
        Bias.forward(pre, bias, ROWS, 4 * C);
        Gelu.forward(gelu, pre, (long) ROWS * 4 * C);
    }

    @Benchmark public void residualLayerNormFused() { LayerNorm.forwardResidual(ln, mean, rstd, res, x, w, b, ROWS, C); }

    @Benchmark public void residualLayerNormTwoPasses() {
        Residual.add(res, x, (long) ROWS * C);
        LayerNorm.forward(ln, mean, rstd, res, w, b, ROWS, C);
    }
}
