package leviathan.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Row LayerNorm: {@code out = (x - mean)·rstd·weight + bias}, {@code rstd = 1/sqrt(var + 1e-5)},
 * variance computed in two passes. Shapes: in/out {@code (rows, C)}, mean/rstd {@code (rows)},
 * weight/bias {@code (C)}.
 */
public final class LayerNorm {
    private LayerNorm() {}

    public static final float EPS = 1e-5f;
    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    public static void forward(MemorySegment out, MemorySegment mean, MemorySegment rstd, MemorySegment in,
                               MemorySegment weight, MemorySegment bias, int rows, int C) {
        forwardScalar(out, mean, rstd, in, weight, bias, rows, C);
    }

    public static void forwardScalar(MemorySegment out, MemorySegment mean, MemorySegment rstd, MemorySegment in,
                                     MemorySegment weight, MemorySegment bias, int rows, int C) {
        for (int r = 0; r < rows; r++) {
            long base = (long) r * C;
            float m = 0f;                                           // pass 1: mean
            for (int c = 0; c < C; c++) m += in.getAtIndex(FL, base + c);
            m /= C;
            float var = 0f;                                         // pass 2: variance about the mean
            for (int c = 0; c < C; c++) {
                float d = in.getAtIndex(FL, base + c) - m;
                var += d * d;
            }
            var /= C;
            float s = (float) (1.0 / Math.sqrt(var + EPS));
            for (int c = 0; c < C; c++) {                           // pass 3: normalise, scale, shift
                float n = (in.getAtIndex(FL, base + c) - m) * s;
                out.setAtIndex(FL, base + c, n * weight.getAtIndex(FL, c) + bias.getAtIndex(FL, c));
            }
            mean.setAtIndex(FL, r, m);
            rstd.setAtIndex(FL, r, s);
        }
    }

    /**
     * Adds the gradients: with {@code n = (x-mean)·rstd} and {@code g = dout·weight},
     * {@code din += rstd·(g - mean(g) - n·mean(g·n))}, {@code dweight += Σ_rows dout·n},
     * {@code dbias += Σ_rows dout}.
     */
    public static void backward(MemorySegment din, MemorySegment dweight, MemorySegment dbias, MemorySegment dout,
                                MemorySegment in, MemorySegment weight, MemorySegment mean, MemorySegment rstd,
                                int rows, int C) {
        backwardScalar(din, dweight, dbias, dout, in, weight, mean, rstd, rows, C);
    }

    public static void backwardScalar(MemorySegment din, MemorySegment dweight, MemorySegment dbias, MemorySegment dout,
                                      MemorySegment in, MemorySegment weight, MemorySegment mean, MemorySegment rstd,
                                      int rows, int C) {
        for (int r = 0; r < rows; r++) {
            long base = (long) r * C;
            float m = mean.getAtIndex(FL, r), s = rstd.getAtIndex(FL, r);
            float gMean = 0f, gnMean = 0f;
            for (int c = 0; c < C; c++) {
                float n = (in.getAtIndex(FL, base + c) - m) * s;
                float g = dout.getAtIndex(FL, base + c) * weight.getAtIndex(FL, c);
                gMean += g;
                gnMean += g * n;
            }
            gMean /= C;
            gnMean /= C;
            for (int c = 0; c < C; c++) {
                float n = (in.getAtIndex(FL, base + c) - m) * s;
                float d = dout.getAtIndex(FL, base + c);
                float g = d * weight.getAtIndex(FL, c);
                din.setAtIndex(FL, base + c, din.getAtIndex(FL, base + c) + s * (g - gMean - n * gnMean));
                dweight.setAtIndex(FL, c, dweight.getAtIndex(FL, c) + d * n);
                dbias.setAtIndex(FL, c, dbias.getAtIndex(FL, c) + d);
            }
        }
    }
}
