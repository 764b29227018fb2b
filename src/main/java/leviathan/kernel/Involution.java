package leviathan.kernel;

import static leviathan.kernel.Simd.F;
import static leviathan.kernel.Simd.NATIVE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;

/**
 * Involution scores (LEVIATHAN.md, "Variants"): a softmax over each token's own causal window of
 * span logits, then a causal weighted sum of the value rows, per head.
 *
 * <pre>
 *   n_i          = min(K, i + 1)                                   (positions that exist)
 *   p[i,h,k]     = softmax over k in [0, n_i) of w[i,h,k]           (0 for k >= n_i)
 *   o[i,h,:]     = sum_{k < n_i} p[i,h,k] · v[i-k,h,:]
 * </pre>
 *
 * Shapes, per sequence {@code b} of {@code B}: {@code w, p (B, T, H·K)} with {@code w[i,h,k]} at column
 * {@code h·K + k}; {@code v, o (B, T, C)} with head {@code h} at columns {@code h·D .. h·D + D - 1},
 * {@code D = C / H}. Rows {@code [t0, T)} of each sequence are computed (t0 = 0 in training; in
 * incremental sampling t0 is the first new position and {@code v} holds the earlier rows, of which
 * only the last {@code K - 1} are read).
 *
 * <p>Every kernel is parallel over rows {@code (b, i)}; each row's outputs are written by one
 * thread and summed in a fixed order, so results do not depend on the thread count.
 */
public final class Involution {
    private Involution() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    // ---------------------------------------------------------------------------------------------
    // softmax over the causal window

    /** {@code p = } the windowed causal softmax of {@code w}, rows {@code [t0, T)} of each sequence; p may alias w. */
    public static void softmax(MemorySegment p, MemorySegment w, int B, int T, int H, int K, int t0) {
        if (!Simd.ENABLED) {
            softmaxScalar(p, w, B, T, H, K, t0);
            return;
        }
        int rows = T - t0, HK = H * K;
        SoftmaxRows k = SOFTMAX.get();
        k.p = p;
        k.w = w;
        k.T = T;
        k.H = H;
        k.K = K;
        k.t0 = t0;
        Parallel.forRange(B * rows, Elementwise.grain(Elementwise.EXP_TASK, HK), k);
    }

    /** The arguments of {@link #softmax}, reused call after call: rows {@code r} of {@code B·(T - t0)}. */
    private static final class SoftmaxRows extends Parallel.Task {
        MemorySegment p, w;
        int T, H, K, t0;

        @Override
        public void run(int r0, int r1) {
            int rows = T - t0;
            float[] lanes = VectorMath.lanes();
            for (int r = r0; r < r1; r++) {
                int b = r / rows, i = t0 + r % rows, n = Math.min(K, i + 1);
                long row = ((long) b * T + i) * H * K;
                for (int h = 0; h < H; h++) Softmax.forwardRow(p, w, row + (long) h * K, n, K, lanes);
            }
        }
    }

    /** The arguments of {@link #weightedSum}, reused call after call: rows {@code r} of {@code B·(T - t0)}. */
    private static final class SumRows extends Parallel.Task {
        MemorySegment o, p, v;
        int C, T, H, K, t0;

        @Override
        public void run(int r0, int r1) {
            int rows = T - t0;
            for (int r = r0; r < r1; r++) weightedSumRow(o, p, v, r / rows, t0 + r % rows, T, C, H, K);
        }
    }

    private static final Parallel.Tasks<SoftmaxRows> SOFTMAX = new Parallel.Tasks<>(SoftmaxRows::new);
    private static final Parallel.Tasks<SumRows> SUM = new Parallel.Tasks<>(SumRows::new);

    /** Scalar reference of {@link #softmax}. */
    public static void softmaxScalar(MemorySegment p, MemorySegment w, int B, int T, int H, int K, int t0) {
        for (int b = 0; b < B; b++) {
            for (int i = t0; i < T; i++) {
                int n = Math.min(K, i + 1);
                for (int h = 0; h < H; h++) {
                    long base = ((long) b * T + i) * H * K + (long) h * K;
                    float max = Float.NEGATIVE_INFINITY;                          // pass 1: max
                    for (int k = 0; k < n; k++) max = Math.max(max, w.getAtIndex(FL, base + k));
                    float sum = 0f;                                               // pass 2: exp and sum
                    for (int k = 0; k < n; k++) {
                        float e = (float) Math.exp(w.getAtIndex(FL, base + k) - max);
                        p.setAtIndex(FL, base + k, e);
                        sum += e;
                    }
                    float inv = 1f / sum;                                         // pass 3: normalise
                    for (int k = 0; k < n; k++) p.setAtIndex(FL, base + k, p.getAtIndex(FL, base + k) * inv);
                    for (int k = n; k < K; k++) p.setAtIndex(FL, base + k, 0f);   // positions before the sequence
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // causal weighted sum

    /** {@code o[i,h,:] = sum_{k < n_i} p[i,h,k]·v[i-k,h,:]}, rows {@code [t0, T)} (overwrites those rows of o). */
    public static void weightedSum(MemorySegment o, MemorySegment p, MemorySegment v,
                                   int B, int T, int C, int H, int K, int t0) {
        if (!Simd.ENABLED) {
            weightedSumScalar(o, p, v, B, T, C, H, K, t0);
            return;
        }
        SumRows k = SUM.get();
        k.o = o;
        k.p = p;
        k.v = v;
        k.C = C;
        k.T = T;
        k.H = H;
        k.K = K;
        k.t0 = t0;
        Parallel.forRange(B * (T - t0), Elementwise.grain(Elementwise.LIGHT_TASK, (long) C * K), k);
    }

    /** One row: whole vectors over each head's D channels, the scalar reference for the tail. */
    private static void weightedSumRow(MemorySegment o, MemorySegment p, MemorySegment v,
                                       int b, int i, int T, int C, int H, int K) {
        int D = C / H, n = Math.min(K, i + 1), L = F.length(), bound = F.loopBound(D);
        long orow = ((long) b * T + i) * C, prow = ((long) b * T + i) * H * K;
        for (int h = 0; h < H; h++) {
            int d = 0;
            for (; d < bound; d += L) {
                var acc = FloatVector.zero(F);
                for (int k = 0; k < n; k++) {
                    float pk = p.getAtIndex(FL, prow + (long) h * K + k);
                    long voff = (((long) b * T + i - k) * C + (long) h * D + d) * Float.BYTES;
                    acc = FloatVector.fromMemorySegment(F, v, voff, NATIVE).fma(FloatVector.broadcast(F, pk), acc);
                }
                acc.intoMemorySegment(o, (orow + (long) h * D + d) * Float.BYTES, NATIVE);
            }
            weightedSumHead(o, p, v, b, i, h, d, D, T, C, H, K);
        }
    }

    /** Channels {@code [dFrom, D)} of head h in row (b, i). */
    private static void weightedSumHead(MemorySegment o, MemorySegment p, MemorySegment v,
                                        int b, int i, int h, int dFrom, int D, int T, int C, int H, int K) {
        int n = Math.min(K, i + 1);
        long orow = ((long) b * T + i) * C, prow = ((long) b * T + i) * H * K;
        for (int d = dFrom; d < D; d++) {
            float acc = 0f;
            for (int k = 0; k < n; k++) {
                acc += p.getAtIndex(FL, prow + (long) h * K + k) * v.getAtIndex(FL, ((long) b * T + i - k) * C + (long) h * D + d);
            }
            o.setAtIndex(FL, orow + (long) h * D + d, acc);
        }
    }

    /** Scalar reference of {@link #weightedSum}. */
    public static void weightedSumScalar(MemorySegment o, MemorySegment p, MemorySegment v,
                                         int B, int T, int C, int H, int K, int t0) {
        int D = C / H;
        for (int b = 0; b < B; b++) {
            for (int i = t0; i < T; i++) {
                for (int h = 0; h < H; h++) weightedSumHead(o, p, v, b, i, h, 0, D, T, C, H, K);
            }
        }
    }

    /** Softmax then weighted sum, rows {@code [t0, T)}: {@code p} is the saved activation for the backward. */
    public static void forward(MemorySegment o, MemorySegment p, MemorySegment w, MemorySegment v,
                               int B, int T, int C, int H, int K, int t0) {
        softmax(p, w, B, T, H, K, t0);
        weightedSum(o, p, v, B, T, C, H, K, t0);
    }

    /** Scalar reference of {@link #forward}. */
    public static void forwardScalar(MemorySegment o, MemorySegment p, MemorySegment w, MemorySegment v,
                                     int B, int T, int C, int H, int K, int t0) {
        softmaxScalar(p, w, B, T, H, K, t0);
        weightedSumScalar(o, p, v, B, T, C, H, K, t0);
    }

    // ---------------------------------------------------------------------------------------------
    // backward

    /**
     * Adds the gradients of the whole forward (all rows) into {@code dw} and {@code dv}, given
     * {@code dout = dL/do}:
     * <pre>
     *   g_p[i,h,k]  = dout[i,h,:] · v[i-k,h,:]                                  (k < n_i)
     *   dw[i,h,k]  += p[i,h,k]·(g_p[i,h,k] - sum_k' p[i,h,k']·g_p[i,h,k'])      (softmax backward)
     *   dv[j,h,:]  += sum_{k < K, j+k < T} p[j+k,h,k]·dout[j+k,h,:]              (gathered per row j)
     * </pre>
     * The {@code dv} sum gathers from the rows that read row j, so each row of dv is one thread's.
     */
    public static void backward(MemorySegment dw, MemorySegment dv, MemorySegment dout, MemorySegment p,
                                MemorySegment v, int B, int T, int C, int H, int K) {
        if (!Simd.ENABLED) {
            backwardScalar(dw, dv, dout, p, v, B, T, C, H, K);
            return;
        }
        Backward k = BACKWARD.get();
        k.dw = dw; k.dv = dv; k.dout = dout; k.p = p; k.v = v; k.T = T; k.C = C; k.H = H; k.K = K;
        Parallel.forRange(B * T, Elementwise.grain(Elementwise.LIGHT_TASK, 2L * C * K), k);
    }

    private static final class Backward extends Parallel.Task {
        MemorySegment dw, dv, dout, p, v;
        int T, C, H, K;

        @Override
        public void run(int r0, int r1) {
            float[] gp = GP.get();                                          // this thread's g_p, K floats
            if (gp.length < K) GP.set(gp = new float[K]);
            for (int r = r0; r < r1; r++) backwardRow(dw, dv, dout, p, v, gp, r / T, r % T, T, C, H, K);
        }
    }

    private static final Parallel.Tasks<Backward> BACKWARD = new Parallel.Tasks<>(Backward::new);
    private static final ThreadLocal<float[]> GP = ThreadLocal.withInitial(() -> new float[0]);

    private static void backwardRow(MemorySegment dw, MemorySegment dv, MemorySegment dout, MemorySegment p,
                                    MemorySegment v, float[] gp, int b, int i, int T, int C, int H, int K) {
        int D = C / H, n = Math.min(K, i + 1), L = F.length(), bound = F.loopBound(D);
        long row = (long) b * T + i, prow = row * H * K;
        for (int h = 0; h < H; h++) {
            long hoff = (long) h * D;
            // pass 1: g_p[k] = dout[i,h,:]·v[i-k,h,:], vector accumulator then the scalar tail
            for (int k = 0; k < n; k++) {
                long vrow = (row - k) * C + hoff;
                var acc = FloatVector.zero(F);
                int d = 0;
                for (; d < bound; d += L) {
                    var g = FloatVector.fromMemorySegment(F, dout, (row * C + hoff + d) * Float.BYTES, NATIVE);
                    acc = g.fma(FloatVector.fromMemorySegment(F, v, (vrow + d) * Float.BYTES, NATIVE), acc);
                }
                float s = VectorMath.sum(acc);
                for (; d < D; d++) s += dout.getAtIndex(FL, row * C + hoff + d) * v.getAtIndex(FL, vrow + d);
                gp[k] = s;
            }
            softmaxBackward(dw, p, gp, prow + (long) h * K, n);
            // pass 3: dv[i,h,:] += sum_k p[i+k,h,k]·dout[i+k,h,:]
            int m = Math.min(K, T - i);
            int d = 0;
            for (; d < bound; d += L) {
                long off = (row * C + hoff + d) * Float.BYTES;
                var acc = FloatVector.fromMemorySegment(F, dv, off, NATIVE);
                for (int k = 0; k < m; k++) {
                    float pk = p.getAtIndex(FL, (row + k) * H * K + (long) h * K + k);
                    acc = FloatVector.fromMemorySegment(F, dout, off + (long) k * C * Float.BYTES, NATIVE).fma(FloatVector.broadcast(F, pk), acc);
                }
                acc.intoMemorySegment(dv, off, NATIVE);
            }
            dvHead(dv, dout, p, row, h, d, D, T - i, C, H, K);
        }
    }

    /** pass 2: {@code dw[base + k] += p·(g_p - sum p·g_p)} over the window's n entries. */
    private static void softmaxBackward(MemorySegment dw, MemorySegment p, float[] gp, long base, int n) {
        float dot = 0f;
        for (int k = 0; k < n; k++) dot += p.getAtIndex(FL, base + k) * gp[k];
        for (int k = 0; k < n; k++) {
            float pk = p.getAtIndex(FL, base + k);
            dw.setAtIndex(FL, base + k, dw.getAtIndex(FL, base + k) + pk * (gp[k] - dot));
        }
    }

    /** Channels {@code [dFrom, D)} of {@code dv[row, h]}; {@code after} = rows from this one to the sequence end. */
    private static void dvHead(MemorySegment dv, MemorySegment dout, MemorySegment p, long row, int h, int dFrom,
                               int D, int after, int C, int H, int K) {
        int m = Math.min(K, after);
        for (int d = dFrom; d < D; d++) {
            long at = row * C + (long) h * D + d;
            float acc = dv.getAtIndex(FL, at);
            for (int k = 0; k < m; k++) acc += p.getAtIndex(FL, (row + k) * H * K + (long) h * K + k) * dout.getAtIndex(FL, at + (long) k * C);
            dv.setAtIndex(FL, at, acc);
        }
    }

    /** Scalar reference of {@link #backward}. */
    public static void backwardScalar(MemorySegment dw, MemorySegment dv, MemorySegment dout, MemorySegment p,
                                      MemorySegment v, int B, int T, int C, int H, int K) {
        int D = C / H;
        float[] gp = new float[K];
        for (int b = 0; b < B; b++) {
            for (int i = 0; i < T; i++) {
                long row = (long) b * T + i;
                int n = Math.min(K, i + 1);
                for (int h = 0; h < H; h++) {
                    for (int k = 0; k < n; k++) {
                        float s = 0f;
                        for (int d = 0; d < D; d++) {
                            s += dout.getAtIndex(FL, row * C + (long) h * D + d) * v.getAtIndex(FL, (row - k) * C + (long) h * D + d);
                        }
                        gp[k] = s;
                    }
                    softmaxBackward(dw, p, gp, row * H * K + (long) h * K, n);
                    dvHead(dv, dout, p, row, h, 0, D, T - i, C, H, K);
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // dropout of the window weights (LEVIATHAN.md: the mixer's weights before they mix the values)

    /**
     * {@code pd[i,h,k] = p[i,h,k]·mask(i,h,k)/(1 - p)} for every row of the B sequences: the weights
     * that mix the values when dropout is on ({@link #weightedSum} of pd). Weight {@code (b, i, h, k)}
     * is numbered {@code ((firstRow + b)·T + i)·H·K + h·K + k} over the global batch.
     */
    public static void dropWeights(MemorySegment pd, MemorySegment p, Dropout.Mask drop, int B, int T, int H, int K) {
        long n = (long) B * T * H * K, base = (long) drop.firstRow() * T * H * K;
        for (long e = 0; e < n; e++) pd.setAtIndex(FL, e, p.getAtIndex(FL, e) * drop.factor(base + e));
    }

    /**
     * The backward through dropped weights, from {@link #backward} run with {@code pd}: that gives
     * {@code dv} exactly and {@code dw' = pd·(g_p - S)} with {@code S = dout[i,h,:]·o[i,h,:] = sum pd·g_p};
     * the weights' true gradient is {@code p·(m·g_p - sum p·m·g_p) = pd·g_p - p·S}, so this adds
     * {@code (pd - p)·S} to {@code dw}. {@code o} is the forward's output (computed from pd).
     */
    public static void dropBackwardCorrection(MemorySegment dw, MemorySegment pd, MemorySegment p, MemorySegment dout,
                                              MemorySegment o, int B, int T, int C, int H, int K) {
        int D = C / H;
        for (long row = 0; row < (long) B * T; row++) {
            for (int h = 0; h < H; h++) {
                long at = row * C + (long) h * D;
                float S = 0f;
                for (int d = 0; d < D; d++) S += dout.getAtIndex(FL, at + d) * o.getAtIndex(FL, at + d);
                long base = row * H * K + (long) h * K;
                for (int k = 0; k < K; k++) {
                    long e = base + k;
                    dw.setAtIndex(FL, e, dw.getAtIndex(FL, e) + (pd.getAtIndex(FL, e) - p.getAtIndex(FL, e)) * S);
                }
            }
        }
    }
}
