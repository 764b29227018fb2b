package leviathan.kernel;

import static leviathan.kernel.Simd.F;
import static leviathan.kernel.Simd.NATIVE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;

/**
 * Row LayerNorm: {@code out = (x - mean)·rstd·weight + bias}, {@code rstd = 1/sqrt(var + 1e-5)},
 * variance computed in two passes. Shapes: in/out {@code (rows, C)}, mean/rstd {@code (rows)},
 * weight/bias {@code (C)}.
 *
 * <p>The vector paths run rows in parallel; the backward's {@code dweight}/{@code dbias} sums run
 * in a second parallel pass split over channels, each channel summed over the rows in row order by
 * one thread, so no two threads write the same float and the result is the same for any thread count.
 */
public final class LayerNorm {
    private LayerNorm() {}

    public static final float EPS = 1e-5f;
    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    /** Writes {@code out}, and each row's {@code mean} and {@code rstd} for the backward. */
    public static void forward(MemorySegment out, MemorySegment mean, MemorySegment rstd, MemorySegment in,
                               MemorySegment weight, MemorySegment bias, int rows, int C) {
        forward(out, mean, rstd, in, weight, bias, 0, rows, C);
    }

    /** {@code forward} on rows {@code [from, to)} (the new rows of incremental decoding, addressed by index: no slices). */
    public static void forward(MemorySegment out, MemorySegment mean, MemorySegment rstd, MemorySegment in,
                               MemorySegment weight, MemorySegment bias, int from, int to, int C) {
        if (!Simd.ENABLED) {
            forwardScalar(out, mean, rstd, in, weight, bias, from, to, C);
            return;
        }
        Forward k = FORWARD.get();
        k.out = out;
        k.mean = mean;
        k.rstd = rstd;
        k.in = in;
        k.weight = weight;
        k.bias = bias;
        k.C = C;
        Elementwise.forRows(from, to, Elementwise.grain(Elementwise.LIGHT_TASK, C), k);
    }

    /** The arguments of {@link #forward}, reused call after call. */
    private static class Forward extends Elementwise.Rows {
        MemorySegment out, mean, rstd, in, weight, bias;
        int C;

        @Override
        void rows(int r0, int r1) {
            for (int r = r0; r < r1; r++) forwardRow(out, mean, rstd, in, weight, bias, r, C);
        }
    }

    /** The arguments of {@link #forwardResidual}: those of {@link #forward} with {@code in} the residual, plus {@code x}. */
    private static final class ForwardResidual extends Forward {
        MemorySegment x;

        @Override
        void rows(int r0, int r1) {
            for (int r = r0; r < r1; r++) {
                long base = (long) r * C;
                Residual.forwardRange(in, in, x, base, base + C);
                forwardRow(out, mean, rstd, in, weight, bias, r, C);
            }
        }
    }

    private static final Parallel.Tasks<Forward> FORWARD = new Parallel.Tasks<>(Forward::new);
    private static final Parallel.Tasks<ForwardResidual> FORWARD_RESIDUAL = new Parallel.Tasks<>(ForwardResidual::new);

    /**
     * A residual join and the LayerNorm after it, in one pass over the rows:
     * {@code res += x}, then {@link #forward} of {@code res} (the block's {@code x + mixer(...)}
     * followed by {@code ln_2}). The same arithmetic as {@link Residual#add} then {@link #forward},
     * with each row still in cache for the second step and one parallel dispatch instead of two.
     */
    public static void forwardResidual(MemorySegment out, MemorySegment mean, MemorySegment rstd, MemorySegment res,
                                       MemorySegment x, MemorySegment weight, MemorySegment bias, int rows, int C) {
        forwardResidual(out, mean, rstd, res, x, weight, bias, 0, rows, C);
    }

    /** {@code forwardResidual} on rows {@code [from, to)}. */
    public static void forwardResidual(MemorySegment out, MemorySegment mean, MemorySegment rstd, MemorySegment res,
                                       MemorySegment x, MemorySegment weight, MemorySegment bias, int from, int to, int C) {
        if (!Simd.ENABLED) {
            Residual.addScalar(res, x, (long) from * C, (long) to * C);
            forwardScalar(out, mean, rstd, res, weight, bias, from, to, C);
            return;
        }
        ForwardResidual k = FORWARD_RESIDUAL.get();
        k.out = out;
        k.mean = mean;
        k.rstd = rstd;
        k.in = res;
        k.x = x;
        k.weight = weight;
        k.bias = bias;
        k.C = C;
        Elementwise.forRows(from, to, Elementwise.grain(Elementwise.LIGHT_TASK, 2L * C), k);
    }

    /** The definition of {@link #forwardResidual}. */
    public static void forwardResidualScalar(MemorySegment out, MemorySegment mean, MemorySegment rstd, MemorySegment res,
                                             MemorySegment x, MemorySegment weight, MemorySegment bias, int rows, int C) {
        Residual.addScalar(res, x, 0, (long) rows * C);
        forwardScalar(out, mean, rstd, res, weight, bias, rows, C);
    }

    /** One row of {@link #forward}: whole vectors, then a scalar tail in each pass. */
    static void forwardRow(MemorySegment out, MemorySegment mean, MemorySegment rstd, MemorySegment in,
                           MemorySegment weight, MemorySegment bias, int r, int C) {
        long base = (long) r * C, row = base * Float.BYTES;
        int L = F.length(), bound = F.loopBound(C);
        // pass 1: mean (two accumulators hide the add latency; one lane sum)
        var acc0 = FloatVector.zero(F);
        var acc1 = FloatVector.zero(F);
        int c = 0;
        for (; c + 2 * L <= bound; c += 2 * L) {
            acc0 = acc0.add(FloatVector.fromMemorySegment(F, in, row + (long) c * Float.BYTES, NATIVE));
            acc1 = acc1.add(FloatVector.fromMemorySegment(F, in, row + (long) (c + L) * Float.BYTES, NATIVE));
        }
        for (; c < bound; c += L) acc0 = acc0.add(FloatVector.fromMemorySegment(F, in, row + (long) c * Float.BYTES, NATIVE));
        float sum = VectorMath.sum(acc0.add(acc1));
        for (; c < C; c++) sum += in.getAtIndex(FL, base + c);
        float m = sum / C;
        // pass 2: variance about the mean (never E[x²] - mean²: it cancels catastrophically)
        acc0 = FloatVector.zero(F);
        acc1 = FloatVector.zero(F);
        c = 0;
        for (; c + 2 * L <= bound; c += 2 * L) {
            var d0 = FloatVector.fromMemorySegment(F, in, row + (long) c * Float.BYTES, NATIVE).sub(m);
            var d1 = FloatVector.fromMemorySegment(F, in, row + (long) (c + L) * Float.BYTES, NATIVE).sub(m);
            acc0 = acc0.add(d0.mul(d0));
            acc1 = acc1.add(d1.mul(d1));
        }
        for (; c < bound; c += L) {
            var d = FloatVector.fromMemorySegment(F, in, row + (long) c * Float.BYTES, NATIVE).sub(m);
            acc0 = acc0.add(d.mul(d));
        }
        float var = VectorMath.sum(acc0.add(acc1));
        for (; c < C; c++) {
            float d = in.getAtIndex(FL, base + c) - m;
            var += d * d;
        }
        var /= C;
        float s = (float) (1.0 / Math.sqrt(var + EPS));
        // pass 3: normalise, scale, shift
        for (c = 0; c < bound; c += L) {
            long off = (long) c * Float.BYTES;
            var n = FloatVector.fromMemorySegment(F, in, row + off, NATIVE).sub(m).mul(s);
            n.mul(FloatVector.fromMemorySegment(F, weight, off, NATIVE))
                    .add(FloatVector.fromMemorySegment(F, bias, off, NATIVE))
                    .intoMemorySegment(out, row + off, NATIVE);
        }
        for (; c < C; c++) {
            float n = (in.getAtIndex(FL, base + c) - m) * s;
            out.setAtIndex(FL, base + c, n * weight.getAtIndex(FL, c) + bias.getAtIndex(FL, c));
        }
        mean.setAtIndex(FL, r, m);
        rstd.setAtIndex(FL, r, s);
    }

    public static void forwardScalar(MemorySegment out, MemorySegment mean, MemorySegment rstd, MemorySegment in,
                                     MemorySegment weight, MemorySegment bias, int rows, int C) {
        forwardScalar(out, mean, rstd, in, weight, bias, 0, rows, C);
    }

    private static void forwardScalar(MemorySegment out, MemorySegment mean, MemorySegment rstd, MemorySegment in,
                                      MemorySegment weight, MemorySegment bias, int from, int to, int C) {
        for (int r = from; r < to; r++) {
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
        if (!Simd.ENABLED) {
            backwardScalar(din, dweight, dbias, dout, in, weight, mean, rstd, rows, C);
            return;
        }
        Backward k = BACKWARD.get();
        k.din = din; k.dweight = dweight; k.dbias = dbias; k.dout = dout;
        k.in = in; k.weight = weight; k.mean = mean; k.rstd = rstd; k.rows = rows; k.C = C;
        // pass A, parallel over rows: din
        k.params = false;
        Parallel.forRange(rows, Elementwise.grain(Elementwise.LIGHT_TASK, C), k);
        // pass B, parallel over channel blocks (the last may be a partial vector): dweight, dbias
        int L = F.length();
        k.params = true;
        Parallel.forRange((C + L - 1) / L, Elementwise.grain(Elementwise.LIGHT_TASK, (long) rows * L), k);
    }

    /** The arguments of {@link #backward}, reused call after call; {@code params} says which pass runs. */
    private static final class Backward extends Parallel.Task {
        MemorySegment din, dweight, dbias, dout, in, weight, mean, rstd;
        int rows, C;
        boolean params;

        @Override
        public void run(int i0, int i1) {
            if (params) {
                int L = F.length();
                backwardParams(dweight, dbias, dout, in, mean, rstd, rows, C, i0 * L, Math.min(C, i1 * L));
            } else {
                for (int r = i0; r < i1; r++) backwardInputRow(din, dout, in, weight, mean, rstd, r, C);
            }
        }
    }

    private static final Parallel.Tasks<Backward> BACKWARD = new Parallel.Tasks<>(Backward::new);

    /** {@code din} of row {@code r}. */
    static void backwardInputRow(MemorySegment din, MemorySegment dout, MemorySegment in, MemorySegment weight,
                                 MemorySegment mean, MemorySegment rstd, int r, int C) {
        long base = (long) r * C, row = base * Float.BYTES;
        int L = F.length(), bound = F.loopBound(C);
        float m = mean.getAtIndex(FL, r), s = rstd.getAtIndex(FL, r);
        // pass 1: mean(g) and mean(g·n)
        var accG = FloatVector.zero(F);
        var accGN = FloatVector.zero(F);
        int c = 0;
        for (; c < bound; c += L) {
            long off = (long) c * Float.BYTES;
            var n = FloatVector.fromMemorySegment(F, in, row + off, NATIVE).sub(m).mul(s);
            var g = FloatVector.fromMemorySegment(F, dout, row + off, NATIVE).mul(FloatVector.fromMemorySegment(F, weight, off, NATIVE));
            accG = accG.add(g);
            accGN = accGN.add(g.mul(n));
        }
        float gMean = VectorMath.sum(accG), gnMean = VectorMath.sum(accGN);
        for (; c < C; c++) {
            float n = (in.getAtIndex(FL, base + c) - m) * s;
            float g = dout.getAtIndex(FL, base + c) * weight.getAtIndex(FL, c);
            gMean += g;
            gnMean += g * n;
        }
        gMean /= C;
        gnMean /= C;
        // pass 2: din += rstd·(g - mean(g) - n·mean(g·n))
        for (c = 0; c < bound; c += L) {
            long off = (long) c * Float.BYTES;
            var n = FloatVector.fromMemorySegment(F, in, row + off, NATIVE).sub(m).mul(s);
            var g = FloatVector.fromMemorySegment(F, dout, row + off, NATIVE).mul(FloatVector.fromMemorySegment(F, weight, off, NATIVE));
            var d = g.sub(gMean).sub(n.mul(gnMean)).mul(s);
            FloatVector.fromMemorySegment(F, din, row + off, NATIVE).add(d).intoMemorySegment(din, row + off, NATIVE);
        }
        for (; c < C; c++) {
            float n = (in.getAtIndex(FL, base + c) - m) * s;
            float g = dout.getAtIndex(FL, base + c) * weight.getAtIndex(FL, c);
            din.setAtIndex(FL, base + c, din.getAtIndex(FL, base + c) + s * (g - gMean - n * gnMean));
        }
    }

    /**
     * {@code dweight[c] += Σ_r dout·n} and {@code dbias[c] += Σ_r dout} for channels {@code [c0, c1)},
     * rows in order (the scalar reference's order, so the sums match it exactly).
     */
    static void backwardParams(MemorySegment dweight, MemorySegment dbias, MemorySegment dout, MemorySegment in,
                               MemorySegment mean, MemorySegment rstd, int rows, int C, int c0, int c1) {
        int L = F.length();
        int bound = c0 + F.loopBound(c1 - c0);
        for (int c = c0; c < bound; c += L) {
            long off = (long) c * Float.BYTES;
            var dw = FloatVector.fromMemorySegment(F, dweight, off, NATIVE);
            var db = FloatVector.fromMemorySegment(F, dbias, off, NATIVE);
            for (int r = 0; r < rows; r++) {
                long at = ((long) r * C) * Float.BYTES + off;
                var n = FloatVector.fromMemorySegment(F, in, at, NATIVE).sub(mean.getAtIndex(FL, r)).mul(rstd.getAtIndex(FL, r));
                var d = FloatVector.fromMemorySegment(F, dout, at, NATIVE);
                dw = dw.add(d.mul(n));
                db = db.add(d);
            }
            dw.intoMemorySegment(dweight, off, NATIVE);
            db.intoMemorySegment(dbias, off, NATIVE);
        }
        for (int c = bound; c < c1; c++) {
            float dw = dweight.getAtIndex(FL, c), db = dbias.getAtIndex(FL, c);
            for (int r = 0; r < rows; r++) {
                long at = (long) r * C + c;
                float n = (in.getAtIndex(FL, at) - mean.getAtIndex(FL, r)) * rstd.getAtIndex(FL, r);
                float d = dout.getAtIndex(FL, at);
                dw += d * n;
                db += d;
            }
            dweight.setAtIndex(FL, c, dw);
            dbias.setAtIndex(FL, c, db);
        }
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
