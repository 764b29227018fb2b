package leviathan.kernel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.testing.Close;
import leviathan.testing.Segments;
import org.junit.jupiter.api.Test;

/**
 * One-pass kernels against the two passes they replace: bias + GELU ({@link Gelu#forwardBias})
 * and residual + LayerNorm ({@link LayerNorm#forwardResidual}). Vector vs scalar reference on
 * widths off the vector length; vector fused vs vector unfused bit for bit where the unfused
 * passes take the same vector/scalar split.
 */
class FusedKernelsTest {

    @Test
    void biasGeluMatchesBiasThenGelu() {
        SplittableRandom rnd = new SplittableRandom(Segments.SEED);
        int L = Simd.lanes();
        try (Arena arena = Arena.ofConfined()) {
            for (int cols : Segments.widths()) {
                for (int rows : new int[] {1, 3, 17}) {
                    long n = (long) rows * cols;
                    MemorySegment pre = Segments.random(arena, n, rnd, 4.0), bias = Segments.random(arena, cols, rnd, 1.0);
                    // reference: the scalar definitions of the two passes
                    MemorySegment refPre = Segments.copy(arena, pre), refOut = Segments.floats(arena, n);
                    Bias.forwardScalar(refPre, bias, rows, cols);
                    Gelu.forwardScalar(refOut, refPre, 0, n);
                    MemorySegment sPre = Segments.copy(arena, pre), sOut = Segments.floats(arena, n);
                    Gelu.forwardBiasScalar(sOut, sPre, bias, rows, cols);
                    Segments.assertSame("scalar fused pre, cols " + cols, sPre, refPre, n);
                    Segments.assertSame("scalar fused out, cols " + cols, sOut, refOut, n);
                    MemorySegment vPre = Segments.copy(arena, pre), vOut = Segments.floats(arena, n);
                    Gelu.forwardBias(vOut, vPre, bias, rows, cols);
                    Segments.assertSame("vector fused pre, cols " + cols, vPre, refPre, n);   // one float add either way
                    Close.assertClose("vector fused out, cols " + cols, vOut, refOut, n, 1e-6, 1e-5);
                    if (cols % L == 0) {                   // same vector split as the unfused passes: the same bits
                        MemorySegment uPre = Segments.copy(arena, pre), uOut = Segments.floats(arena, n);
                        Bias.forward(uPre, bias, rows, cols);
                        Gelu.forward(uOut, uPre, n);
                        Segments.assertSame("vector fused vs unfused, cols " + cols, vOut, uOut, n);
                    }
                }
            }
        }
    }

    @Test
    void residualLayerNormMatchesAddThenLayerNorm() {
        SplittableRandom rnd = new SplittableRandom(Segments.SEED + 1);
        try (Arena arena = Arena.ofConfined()) {
            for (int C : Segments.widths()) {
                for (int rows : new int[] {1, 3, 17}) {
                    long n = (long) rows * C;
                    MemorySegment res = Segments.random(arena, n, rnd, 2.0), x = Segments.random(arena, n, rnd, 2.0);
                    MemorySegment w = Segments.random(arena, C, rnd, 1.0), b = Segments.random(arena, C, rnd, 1.0);
                    MemorySegment refRes = Segments.copy(arena, res), refOut = Segments.floats(arena, n);
                    MemorySegment refMean = Segments.floats(arena, rows), refRstd = Segments.floats(arena, rows);
                    Residual.addScalar(refRes, x, 0, n);
                    LayerNorm.forwardScalar(refOut, refMean, refRstd, refRes, w, b, rows, C);
                    // scalar fused: the definition
                    MemorySegment sRes = Segments.copy(arena, res), sOut = Segments.floats(arena, n);
                    MemorySegment sMean = Segments.floats(arena, rows), sRstd = Segments.floats(arena, rows);
                    LayerNorm.forwardResidualScalar(sOut, sMean, sRstd, sRes, x, w, b, rows, C);
                    Segments.assertSame("scalar fused out, C " + C, sOut, refOut, n);
                    // vector fused vs vector unfused: the same bits; vs the scalar reference: LayerNorm's tolerance
                    MemorySegment vRes = Segments.copy(arena, res), vOut = Segments.floats(arena, n);
                    MemorySegment vMean = Segments.floats(arena, rows), vRstd = Segments.floats(arena, rows);
                    LayerNorm.forwardResidual(vOut, vMean, vRstd, vRes, x, w, b, rows, C);
                    MemorySegment uRes = Segments.copy(arena, res), uOut = Segments.floats(arena, n);
                    MemorySegment uMean = Segments.floats(arena, rows), uRstd = Segments.floats(arena, rows);
                    Residual.add(uRes, x, n);
                    LayerNorm.forward(uOut, uMean, uRstd, uRes, w, b, rows, C);
                    Segments.assertSame("vector fused res, C " + C, vRes, uRes, n);
                    Segments.assertSame("vector fused out, C " + C, vOut, uOut, n);
                    Segments.assertSame("vector fused rstd, C " + C, vRstd, uRstd, rows);
                    Segments.assertSame("residual vs scalar, C " + C, vRes, refRes, n);
                    Close.assertClose("vector fused vs scalar, C " + C, vOut, refOut, n, 1e-5, 1e-4);
                    Close.assertClose("mean vs scalar, C " + C, vMean, refMean, rows, 1e-5, 1e-4);
                }
            }
        }
    }
}
