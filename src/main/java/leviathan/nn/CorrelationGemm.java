package leviathan.nn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import leviathan.backend.Backend;
import leviathan.kernel.CorrelationImpl;
import leviathan.kernel.CorrelationLagged;
import leviathan.kernel.Simd;

/**
 * The lag-expanded GEMM implementation of correlation ({@link CorrelationAttention.Impl#GEMM}):
 * attention over the {@code T·N} lagged keys and values, built explicitly, with the score and
 * output products (and the five of the backward) on the {@link Backend}. Backward recomputes the
 * scores from {@code lse} (no probability cache: at T = 512, N = 64, B·H = 48 it would take 3.2 GB).
 * Per-thread buffers are native segments from an arena owned by this object (so a native backend
 * can read them), made on first use and freed by {@link #close}.
 */
final class CorrelationGemm implements CorrelationImpl<CorrelationGemm.GemmPart> {

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    private final Backend backend;
    private final int maxT, C, H, N, D;
    private Arena arena;

    CorrelationGemm(Backend backend, int maxT, int C, int H, int N) {
        this.backend = backend;
        this.maxT = maxT;
        this.C = C;
        this.H = H;
        this.N = N;
        this.D = C / H;
    }

    @Override
    public synchronized GemmPart scratch(int maxT) {
        if (arena == null) arena = Arena.ofShared();
        return new GemmPart(arena, maxT, N, D, gemmBlock());
    }

    @Override
    public synchronized void close() {
        if (arena != null) arena.close();
        arena = null;
    }

    /**
     * Queries per block of the GEMM path. A block's score rows run over the keys of its last
     * query (causal waste about half a block per row), and its score buffer is
     * {@code rows × maxT·N}; 32 rows keep both small while the products stay GEMM-sized, and
     * larger {@code maxT·N} shrinks the block so the buffer stays under 4 MiB per thread.
     */
    private int gemmBlock() { return Math.max(4, Math.min(32, (1 << 20) / (maxT * N))); }

    /** One thread's native buffers for the GEMM path; shapes in comments. */
    static final class GemmPart {
        final MemorySegment kexp, kexpT, vexp, vexpT;   // (T·N, D) lagged rows / (D, T·N) transposed
        final MemorySegment dkexp, dvexp;               // (T·N, D) gradients of the lagged rows
        final MemorySegment s, g;                       // (rows, T·N) scores → p, g_p → g_s
        final MemorySegment qb, gob, ub;                // (rows, D) query block, g_o block, product
        final float[] bias, colSum;                     // T·N: bias[j·N + t] = b[t]; Σ_i g_s per column
        final float[] ext, acc, tmp, tmp2;
        final float[] lanes = new float[Simd.lanes()];   // one vector, for CorrelationLagged.softmaxRow

        GemmPart(Arena arena, int maxT, int N, int D, int rows) {
            long tnd = (long) maxT * N * D, rtn = (long) rows * maxT * N, rd = (long) rows * D;
            kexp = alloc(arena, tnd);
            kexpT = alloc(arena, tnd);
            vexp = alloc(arena, tnd);
            vexpT = alloc(arena, tnd);
            dkexp = alloc(arena, tnd);
            dvexp = alloc(arena, tnd);
            s = alloc(arena, rtn);
            g = alloc(arena, rtn);
            qb = alloc(arena, rd);
            gob = alloc(arena, rd);
            ub = alloc(arena, rd);
            bias = new float[maxT * N];
            colSum = new float[maxT * N];
            ext = new float[2 * D];
            acc = new float[2 * D];
            tmp = new float[Math.max(D, 64)];
            tmp2 = new float[D];
        }

        private static MemorySegment alloc(Arena arena, long floats) { return arena.allocate(floats * Float.BYTES, 64); }

        /** The first {@code floats} of dkexp and dvexp, cleared; their slices are kept while the length stays (no slice per head). */
        private MemorySegment dkexpUsed, dvexpUsed;

        void zeroLaggedGrads(long floats) {
            if (dkexpUsed == null || dkexpUsed.byteSize() != floats * Float.BYTES) {
                dkexpUsed = dkexp.asSlice(0, floats * Float.BYTES);
                dvexpUsed = dvexp.asSlice(0, floats * Float.BYTES);
            }
            dkexpUsed.fill((byte) 0);
            dvexpUsed.fill((byte) 0);
        }
    }

    /** Scores {@code S = Q·Kexpᵀ/sqrt(D)} and {@code O = softmax(S + b)·Vexp}, a block of queries at a time. */
    @Override
    public void forwardHead(GemmPart w, MemorySegment out, MemorySegment lse, MemorySegment qkv,
                            MemorySegment lagBias, int b, int h, int T, int t0) {
        int TN = T * N, rows = gemmBlock();
        float scale = (float) (1.0 / Math.sqrt(D));
        long q0 = (long) b * T * 3 * C + (long) h * D, o0 = (long) b * T * C + (long) h * D;
        CorrelationLagged.build(null, w.kexpT, qkv, q0 + C, 3 * C, T, D, N, w.ext);
        CorrelationLagged.build(w.vexp, null, qkv, q0 + 2L * C, 3 * C, T, D, N, w.ext);
        biasPattern(w.bias, lagBias, h, T);
        for (int i0 = t0; i0 < T; i0 += rows) {
            int i1 = Math.min(T, i0 + rows), m = i1 - i0, cols = i1 * N;
            for (int i = i0; i < i1; i++) copyRow(qkv, q0 + (long) i * 3 * C, w.qb, (long) (i - i0) * D);
            backend.sgemm(false, false, m, cols, D, scale, w.qb, D, w.kexpT, TN, 0f, w.s, TN);
            for (int i = i0; i < i1; i++) {
                float l = CorrelationLagged.softmaxRow(w.s, (long) (i - i0) * TN * Float.BYTES, (i + 1) * N, cols, w.bias, w.lanes);
                lse.setAtIndex(FL, ((long) b * H + h) * T + i, l);
            }
            backend.sgemm(false, false, m, D, cols, 1f, w.s, TN, w.vexp, D, 0f, w.ub, D);
            for (int i = i0; i < i1; i++) copyRow(w.ub, (long) (i - i0) * D, out, o0 + (long) i * C);
        }
    }

    /**
     * The derivative as five products over the lagged tokens, per block of queries:
     * <pre>
     *   G = G_O·Vexpᵀ (= g_p)   G_S = P ⊙ (G - g_o·o)   dVexp += Pᵀ·G_O   dKexp += G_Sᵀ·Q/sqrt(D)
     *   dQ += G_S·Kexp/sqrt(D)   then dk_j, dv_j += the rows of dKexp, dVexp shifted back by S_{-t}
     * </pre>
     */
    @Override
    public void backwardHead(GemmPart w, float[] dbias, int at, MemorySegment dqkv, MemorySegment dout, MemorySegment out,
                             MemorySegment lse, MemorySegment qkv, MemorySegment lagBias, int b, int h, int T) {
        int TN = T * N, rows = gemmBlock();
        float scale = (float) (1.0 / Math.sqrt(D));
        long q0 = (long) b * T * 3 * C + (long) h * D, o0 = (long) b * T * C + (long) h * D;
        CorrelationLagged.build(w.kexp, w.kexpT, qkv, q0 + C, 3 * C, T, D, N, w.ext);
        CorrelationLagged.build(null, w.vexpT, qkv, q0 + 2L * C, 3 * C, T, D, N, w.ext);
        biasPattern(w.bias, lagBias, h, T);
        w.zeroLaggedGrads((long) TN * D);
        Arrays.fill(w.colSum, 0, TN, 0f);
        for (int i0 = 0; i0 < T; i0 += rows) {
            int i1 = Math.min(T, i0 + rows), m = i1 - i0, cols = i1 * N;
            for (int i = i0; i < i1; i++) {
                copyRow(qkv, q0 + (long) i * 3 * C, w.qb, (long) (i - i0) * D);
                copyRow(dout, o0 + (long) i * C, w.gob, (long) (i - i0) * D);
            }
            backend.sgemm(false, false, m, cols, D, scale, w.qb, D, w.kexpT, TN, 0f, w.s, TN);
            backend.sgemm(false, false, m, cols, D, 1f, w.gob, D, w.vexpT, TN, 0f, w.g, TN);
            for (int i = i0; i < i1; i++) {
                MemorySegment.copy(dout, FL, (o0 + (long) i * C) * Float.BYTES, w.tmp, 0, D);
                MemorySegment.copy(out, FL, (o0 + (long) i * C) * Float.BYTES, w.tmp2, 0, D);
                float rowDot = 0f;
                for (int d = 0; d < D; d++) rowDot += w.tmp[d] * w.tmp2[d];
                float l = lse.getAtIndex(FL, ((long) b * H + h) * T + i);
                CorrelationLagged.gradRow(w.s, w.g, (long) (i - i0) * TN * Float.BYTES, (i + 1) * N, cols, w.bias, l, rowDot, w.colSum);
            }
            backend.sgemm(true, false, cols, D, m, 1f, w.s, TN, w.gob, D, 1f, w.dvexp, D);
            backend.sgemm(true, false, cols, D, m, scale, w.g, TN, w.qb, D, 1f, w.dkexp, D);
            backend.sgemm(false, false, m, D, cols, scale, w.g, TN, w.kexp, D, 0f, w.ub, D);
            for (int i = i0; i < i1; i++) {
                MemorySegment.copy(w.ub, FL, (long) (i - i0) * D * Float.BYTES, w.tmp, 0, D);
                long row = (q0 + (long) i * 3 * C) * Float.BYTES;
                MemorySegment.copy(dqkv, FL, row, w.tmp2, 0, D);
                for (int d = 0; d < D; d++) w.tmp2[d] += w.tmp[d];
                MemorySegment.copy(w.tmp2, 0, dqkv, FL, row, D);
            }
        }
        CorrelationLagged.fold(dqkv, q0 + C, 3 * C, w.dkexp, T, D, N, w.acc, w.tmp);
        CorrelationLagged.fold(dqkv, q0 + 2L * C, 3 * C, w.dvexp, T, D, N, w.acc, w.tmp);
        for (int t = 0; t < N; t++) {
            float sum = 0f;
            for (int j = 0; j < T; j++) sum += w.colSum[j * N + t];
            dbias[at + t] = sum;
        }
    }

    private void biasPattern(float[] bias, MemorySegment lagBias, int h, int T) {
        for (int j = 0; j < T; j++) {
            for (int t = 0; t < N; t++) bias[j * N + t] = lagBias == null ? 0f : lagBias.getAtIndex(FL, (long) h * N + t);
        }
    }

    /** D floats from element {@code from} of {@code src} to element {@code to} of {@code dst}. */
    private void copyRow(MemorySegment src, long from, MemorySegment dst, long to) {
        MemorySegment.copy(src, from * Float.BYTES, dst, to * Float.BYTES, (long) D * Float.BYTES);
    }
}
