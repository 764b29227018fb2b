package leviathan.kernel;

import static leviathan.kernel.CorrelationTiles.L;
import static leviathan.kernel.VectorMath.exp;
import static leviathan.kernel.Simd.F;
import static leviathan.kernel.Simd.NATIVE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;

/**
 * The element-wise pieces of the lag-expanded GEMM formulation of correlation, for one
 * (sequence, head): attention over the {@code T·N} lagged tokens {@code (S_t k_j, S_t v_j)},
 * ordered {@code (j, t)} so that the keys visible to query i are the prefix {@code (i+1)·N}.
 * The products themselves run on a GEMM backend ({@code leviathan.nn.CorrelationAttention});
 * this class builds the lagged copies, does the row softmax and its gradient, and folds the
 * gradients of the copies back with the inverse shifts. Buffers are native segments, so a
 * native backend can read them.
 */
public final class CorrelationLagged {
    private CorrelationLagged() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    /**
     * Lagged copies of the T rows {@code x_j = seg[base + j·stride + (0..D)]}: {@code rows} gets
     * {@code (T·N, D)} with row {@code j·N + t} = {@code S_t x_j}; {@code cols} gets its transpose
     * {@code (D, T·N)}. Either may be null. {@code ext} is scratch of at least 2D floats.
     */
    public static void build(MemorySegment rows, MemorySegment cols, MemorySegment seg, long base, int stride,
                             int T, int D, int N, float[] ext) {
        int TN = T * N;
        for (int j = 0; j < T; j++) {
            MemorySegment.copy(seg, FL, (base + (long) j * stride) * Float.BYTES, ext, 0, D);
            System.arraycopy(ext, 0, ext, D, D);                      // ext[m] = x_j[m mod D], m < 2D
            for (int t = 0; t < N && rows != null; t++) {            // (S_t x_j)[d] = ext[(lag t mod D) + d]
                int off = Math.floorMod(Correlation.lag(t, N), D);
                MemorySegment.copy(ext, off, rows, FL, ((long) j * N + t) * D * Float.BYTES, D);
            }
            for (int d = 0; d < D && cols != null; d++) {            // lags t = 0..N-1 of x_j[d + lag t]: a window
                int off = Math.floorMod(d + Correlation.lag(0, N), D);
                MemorySegment.copy(ext, off, cols, FL, ((long) d * TN + (long) j * N) * Float.BYTES, N);
            }
        }
    }

    /**
     * {@code seg[base + j·stride + (d + lag t) mod D] += grad[(j·N + t)·D + d]}: the gradient of
     * the lagged copies {@code (T·N, D)} folded back onto the rows they were copied from.
     * {@code acc} and {@code tmp} are scratch of at least 2D and D floats.
     */
    public static void fold(MemorySegment seg, long base, int stride, MemorySegment grad, int T, int D, int N,
                            float[] acc, float[] tmp) {
        for (int j = 0; j < T; j++) {
            java.util.Arrays.fill(acc, 0, 2 * D, 0f);
            for (int t = 0; t < N; t++) {                            // acc[(lag t mod D) + d] += grad row
                int off = Math.floorMod(Correlation.lag(t, N), D);
                MemorySegment.copy(grad, FL, ((long) j * N + t) * D * Float.BYTES, tmp, 0, D);
                for (int d = 0; d < D; d++) acc[off + d] += tmp[d];
            }
            long row = (base + (long) j * stride) * Float.BYTES;
            MemorySegment.copy(seg, FL, row, tmp, 0, D);
            for (int d = 0; d < D; d++) tmp[d] += acc[d] + acc[d + D];
            MemorySegment.copy(tmp, 0, seg, FL, row, D);
        }
    }

    /**
     * Softmax of one score row in place: {@code p[c] = exp(s[c] + bias[c] - lse)} for c < n,
     * 0 for n <= c < cols; returns {@code lse = max + log Σ exp(s + bias - max)} (max-subtracted,
     * so scores of any size stay finite). {@code s} starts at byte {@code off} of {@code seg};
     * {@code lanes} is scratch of one vector ({@link Simd#lanes()} floats).
     */
    public static float softmaxRow(MemorySegment seg, long off, int n, int cols, float[] bias, float[] lanes) {
        var mx = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);      // pass 1: max
        int c = 0;
        for (; c + L <= n; c += L) {
            var x = FloatVector.fromMemorySegment(F, seg, off + (long) c * Float.BYTES, NATIVE).add(FloatVector.fromArray(F, bias, c));
            mx = VectorMath.maxLanes(mx, x);
        }
        float max = mx.reduceLanes(VectorOperators.MAX);
        for (; c < n; c++) max = Math.max(max, seg.get(FL, off + (long) c * Float.BYTES) + bias[c]);
        var sum = FloatVector.zero(F);                                  // pass 2: exp and sum
        for (c = 0; c + L <= n; c += L) {
            long o = off + (long) c * Float.BYTES;
            var e = exp(FloatVector.fromMemorySegment(F, seg, o, NATIVE).add(FloatVector.fromArray(F, bias, c)).sub(max));
            e.intoMemorySegment(seg, o, NATIVE);
            sum = sum.add(e);
        }
        sum.intoArray(lanes, 0);                                         // a vector passed to a call that is not inlined is boxed
        float total = VectorMath.sum(lanes, 0);
        for (; c < n; c++) {
            float e = (float) Math.exp(seg.get(FL, off + (long) c * Float.BYTES) + bias[c] - max);
            seg.set(FL, off + (long) c * Float.BYTES, e);
            total += e;
        }
        float inv = 1f / total;                                         // pass 3: normalise, zero the tail
        for (c = 0; c + L <= n; c += L) {
            long o = off + (long) c * Float.BYTES;
            FloatVector.fromMemorySegment(F, seg, o, NATIVE).mul(inv).intoMemorySegment(seg, o, NATIVE);
        }
        for (; c < n; c++) seg.set(FL, off + (long) c * Float.BYTES, seg.get(FL, off + (long) c * Float.BYTES) * inv);
        zero(seg, off, n, cols);
        return (float) (max + Math.log(total));
    }

    /**
     * The backward's pass over one row: {@code p = exp(s + bias - lse)} into s,
     * {@code g_s = p·(g_p - rowDot)} into g (both 0 for n <= c < cols), {@code colSum[c] += g_s}.
     */
    public static void gradRow(MemorySegment s, MemorySegment g, long off, int n, int cols, float[] bias,
                               float lse, float rowDot, float[] colSum) {
        int c = 0;
        for (; c + L <= n; c += L) {
            long o = off + (long) c * Float.BYTES;
            var p = exp(FloatVector.fromMemorySegment(F, s, o, NATIVE).add(FloatVector.fromArray(F, bias, c)).sub(lse));
            var gs = p.mul(FloatVector.fromMemorySegment(F, g, o, NATIVE).sub(rowDot));
            p.intoMemorySegment(s, o, NATIVE);
            gs.intoMemorySegment(g, o, NATIVE);
            gs.add(FloatVector.fromArray(F, colSum, c)).intoArray(colSum, c);
        }
        for (; c < n; c++) {
            long o = off + (long) c * Float.BYTES;
            float p = (float) Math.exp(s.get(FL, o) + bias[c] - lse);
            float gs = p * (g.get(FL, o) - rowDot);
            s.set(FL, o, p);
            g.set(FL, o, gs);
            colSum[c] += gs;
        }
        zero(s, off, n, cols);
        zero(g, off, n, cols);
    }

    /** Elements {@code [from, to)} of the row at byte {@code off} set to 0 (the causal tail). */
    private static void zero(MemorySegment seg, long off, int from, int to) {
        var z = FloatVector.zero(F);
        int c = from;
        for (; c + L <= to; c += L) z.intoMemorySegment(seg, off + (long) c * Float.BYTES, NATIVE);
        for (; c < to; c++) seg.set(FL, off + (long) c * Float.BYTES, 0f);
    }
}
