package leviathan.nn;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.Locale;
import leviathan.backend.Backend;
import leviathan.kernel.Correlation;
import leviathan.kernel.CorrelationFft;
import leviathan.kernel.CorrelationLagged;
import leviathan.kernel.CorrelationWorkspace;
import leviathan.kernel.Parallel;
import leviathan.kernel.Simd;

/**
 * The correlation operation the model calls (LEVIATHAN.md, "Multi-head correlation"), with the
 * implementation chosen per shape. Layouts as in {@link Correlation}: qkv {@code (B,T,3C)},
 * out {@code (B,T,C)}, lse {@code (B,H,T)}, lagBias {@code (H,N)} or null (dot attention).
 *
 * <p>Three implementations compute the same thing:
 * <ul>
 *   <li>{@link Impl#SCALAR}: the reference, {@link Correlation#forwardScalar}.
 *   <li>{@link Impl#DIRECT}: the Vector API kernel, {@link Correlation#forward}: no lagged copies,
 *       register-tiled products on per-thread blocks.
 *   <li>{@link Impl#GEMM}: attention over the {@code T·N} lagged keys and values, built explicitly,
 *       with the score and output products (and the five of the backward) on the {@link Backend}.
 *       Backward recomputes the scores from {@code lse} (no probability cache: at T = 512, N = 64,
 *       B·H = 48 it would take 3.2 GB).
 * </ul>
 * {@link Impl#AUTO} picks by shape from measurements ({@link #choose}); the system property
 * {@code leviathan.correlation=scalar|direct|gemm} forces one for a whole run.
 *
 * <p>All scratch is sized at construction for {@code maxB × maxT}: the direct kernel's
 * per-thread arrays at once, the GEMM path's native buffers (an arena owned by this object,
 * freed by {@link #close}) on its first use. Forward and backward then allocate nothing.
 */
public final class CorrelationAttention implements AutoCloseable {

    /** Which implementation runs; AUTO picks by shape. */
    public enum Impl { AUTO, SCALAR, DIRECT, GEMM, FFT }

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    private final Backend backend;
    private final int maxB, maxT, C, H, N, D;
    private final Impl impl;
    private final CorrelationWorkspace direct;
    private Arena arena;                 // GEMM path buffers, created on first use
    private GemmPart[] gemmParts = new GemmPart[0];
    private final float[] gemmBiasGrad;  // (maxB, H, N) lag-bias gradient per sequence, reduced in order

    public CorrelationAttention(Backend backend, int maxB, int maxT, int C, int H, int N, Impl impl) {
        if (C % H != 0) throw new IllegalArgumentException("n_embd " + C + " is not divisible by n_head " + H);
        int D = C / H;
        if (N < 1 || N > D) throw new IllegalArgumentException("lags must be in [1, head dim " + D + "], got " + N);
        this.backend = backend;
        this.maxB = maxB;
        this.maxT = maxT;
        this.C = C;
        this.H = H;
        this.N = N;
        this.D = D;
        this.impl = impl == Impl.AUTO ? forcedImpl() : impl;
        this.direct = new CorrelationWorkspace(maxB, maxT, C, H, N);
        this.gemmBiasGrad = new float[maxB * H * N];
    }

    private static Impl forcedImpl() {
        String p = System.getProperty("leviathan.correlation");
        if (p == null || p.isBlank()) return Impl.AUTO;
        try {
            return Impl.valueOf(p.trim().toUpperCase(Locale.ROOT));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("leviathan.correlation must be auto, scalar, direct, gemm or fft, got '" + p + "'");
        }
    }

    /**
     * The implementation AUTO runs for sequences of length T: DIRECT, or FFT at many lags (SCALAR under
     * {@code -Dleviathan.scalar=true}).
     *
     * <p>From measurements on the development machine (AMD EPYC Zen 5, 2 vCPUs, AVX-512, JDK 25;
     * benchmarks/results/correlation.md), forward+backward GFLOP/s on one thread, B·H = 48:
     * <pre>
     *   T    D   N    direct   GEMM path, Java GEMM   GEMM path, oneDNN sgemm (1 thread)
     *   64   32  1      48            9                      13
     *   64   32  4      73           12                      29
     *   64   64  4      66           13                      34
     *   256  64  8     100           13                      87
     *   512  64  64    110            -                      93
     * </pre>
     * The direct kernel wins at every shape, on either backend (oneDNN's sgemm runs at 190-250
     * GFLOP/s on these operand shapes, but the GEMM path also builds T·N lagged copies, folds
     * their gradients back, runs its softmax over segments and wastes up to a block of causal
     * work per row). So T, B, H and the backend do not change the choice today; the method
     * takes T so that a backend on which the GEMM path wins (e.g. a GPU) can add a rule here.
     *
     * <p>The FFT path's cost does not grow with N: at D = 64 it overtook the direct kernel
     * between N = 32 and N = 64 (B·H = 48, T = 256, forward+backward: direct 154 ms vs FFT 285 ms
     * at N = 16, 379-433 ms vs 334-350 ms at N = 64; benchmarks/results/fft.md, measured against
     * an earlier direct kernel). So AUTO runs FFT for N >= 3D/4 with a power-of-two D >= 16.
     */
    public Impl choose(int T) {
        if (impl != Impl.AUTO) return impl;
        if (!Simd.ENABLED) return Impl.SCALAR;
        return 4 * N >= 3 * D && D >= 16 && CorrelationFft.supports(D) ? Impl.FFT : Impl.DIRECT;
    }

    /** Query rows {@code [t0, T)} of each of the B sequences; rows below t0 are left as they are. */
    public void forward(MemorySegment out, MemorySegment lse, MemorySegment qkv, MemorySegment lagBias, int B, int T, int t0) {
        check(B, T);
        switch (choose(T)) {
            case SCALAR -> Correlation.forwardScalar(out, lse, qkv, lagBias, B, T, C, H, N, t0);
            case GEMM -> gemmForward(out, lse, qkv, lagBias, B, T, t0);
            case FFT -> CorrelationFft.forward(out, lse, qkv, lagBias, B, T, C, H, N, t0);
            default -> Correlation.forward(direct, out, lse, qkv, lagBias, B, T, t0);
        }
    }

    /** Adds into {@code dqkv} and {@code dlagBias} (null for dot attention). */
    public void backward(MemorySegment dqkv, MemorySegment dlagBias, MemorySegment dout, MemorySegment out,
                         MemorySegment lse, MemorySegment qkv, MemorySegment lagBias, int B, int T) {
        check(B, T);
        switch (choose(T)) {
            case SCALAR -> Correlation.backwardScalar(dqkv, dlagBias, dout, out, lse, qkv, lagBias, B, T, C, H, N);
            case GEMM -> gemmBackward(dqkv, dlagBias, dout, out, lse, qkv, lagBias, B, T);
            case FFT -> CorrelationFft.backward(dqkv, dlagBias, dout, out, lse, qkv, lagBias, B, T, C, H, N);
            default -> Correlation.backward(direct, dqkv, dlagBias, dout, out, lse, qkv, lagBias, B, T);
        }
    }

    private void check(int B, int T) {
        if (B < 1 || B > maxB) throw new IllegalArgumentException("batch " + B + " outside [1, " + maxB + "]");
        if (T < 1 || T > maxT) throw new IllegalArgumentException("sequence length " + T + " outside [1, " + maxT + "]");
    }

    @Override
    public synchronized void close() {
        if (arena != null) arena.close();
        arena = null;
        gemmParts = new GemmPart[0];
    }

    // -------------------------------------------------------------------------------------------
    // The lag-expanded GEMM path
    // -------------------------------------------------------------------------------------------

    /**
     * Queries per block of the GEMM path. A block's score rows run over the keys of its last
     * query (causal waste about half a block per row), and its score buffer is
     * {@code rows × maxT·N}; 32 rows keep both small while the products stay GEMM-sized, and
     * larger {@code maxT·N} shrinks the block so the buffer stays under 4 MiB per thread.
     */
    private int gemmBlock() { return Math.max(4, Math.min(32, (1 << 20) / (maxT * N))); }

    /** One thread's native buffers for the GEMM path; shapes in comments. */
    private static final class GemmPart {
        final MemorySegment kexp, kexpT, vexp, vexpT;   // (T·N, D) lagged rows / (D, T·N) transposed
        final MemorySegment dkexp, dvexp;               // (T·N, D) gradients of the lagged rows
        final MemorySegment s, g;                       // (rows, T·N) scores → p, g_p → g_s
        final MemorySegment qb, gob, ub;                // (rows, D) query block, g_o block, product
        final float[] bias, colSum;                     // T·N: bias[j·N + t] = b[t]; Σ_i g_s per column
        final float[] ext, acc, tmp, tmp2;

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
    }

    private synchronized int gemmPrepare(int B) {
        int parts = Math.min(Parallel.threads(), B * H);
        if (arena == null) arena = Arena.ofShared();
        if (gemmParts.length < parts) {
            GemmPart[] grown = Arrays.copyOf(gemmParts, parts);
            for (int p = gemmParts.length; p < parts; p++) grown[p] = new GemmPart(arena, maxT, N, D, gemmBlock());
            gemmParts = grown;
        }
        return parts;
    }

    private void gemmForward(MemorySegment out, MemorySegment lse, MemorySegment qkv, MemorySegment lagBias,
                             int B, int T, int t0) {
        if (t0 < 0 || t0 > T) throw new IllegalArgumentException("t0 " + t0 + " outside [0, " + T + "]");
        int heads = B * H, parts = gemmPrepare(B);
        Parallel.forRange(parts, (p0, p1) -> {
            for (int p = p0; p < p1; p++) {
                for (int bh = heads * p / parts, end = heads * (p + 1) / parts; bh < end; bh++) {
                    gemmForwardHead(gemmParts[p], out, lse, qkv, lagBias, bh / H, bh % H, T, t0);
                }
            }
        });
    }

    /** Scores {@code S = Q·Kexpᵀ/sqrt(D)} and {@code O = softmax(S + b)·Vexp}, a block of queries at a time. */
    private void gemmForwardHead(GemmPart w, MemorySegment out, MemorySegment lse, MemorySegment qkv,
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
                float l = CorrelationLagged.softmaxRow(w.s, (long) (i - i0) * TN * Float.BYTES, (i + 1) * N, cols, w.bias);
                lse.setAtIndex(FL, ((long) b * H + h) * T + i, l);
            }
            backend.sgemm(false, false, m, D, cols, 1f, w.s, TN, w.vexp, D, 0f, w.ub, D);
            for (int i = i0; i < i1; i++) copyRow(w.ub, (long) (i - i0) * D, out, o0 + (long) i * C);
        }
    }

    private void gemmBackward(MemorySegment dqkv, MemorySegment dlagBias, MemorySegment dout, MemorySegment out,
                              MemorySegment lse, MemorySegment qkv, MemorySegment lagBias, int B, int T) {
        int heads = B * H, parts = gemmPrepare(B);
        Parallel.forRange(parts, (p0, p1) -> {
            for (int p = p0; p < p1; p++) {
                for (int bh = heads * p / parts, end = heads * (p + 1) / parts; bh < end; bh++) {
                    gemmBackwardHead(gemmParts[p], dqkv, dout, out, lse, qkv, lagBias, bh / H, bh % H, T);
                }
            }
        });
        if (dlagBias != null) {                     // b is shared by the batch: reduce in a fixed order
            for (int h = 0; h < H; h++) {
                for (int t = 0; t < N; t++) {
                    float sum = 0f;
                    for (int b = 0; b < B; b++) sum += gemmBiasGrad[(b * H + h) * N + t];
                    long i = (long) h * N + t;
                    dlagBias.setAtIndex(FL, i, dlagBias.getAtIndex(FL, i) + sum);
                }
            }
        }
    }

    /**
     * The derivative as five products over the lagged tokens, per block of queries:
     * <pre>
     *   G = G_O·Vexpᵀ (= g_p)   G_S = P ⊙ (G - g_o·o)   dVexp += Pᵀ·G_O   dKexp += G_Sᵀ·Q/sqrt(D)
     *   dQ += G_S·Kexp/sqrt(D)   then dk_j, dv_j += the rows of dKexp, dVexp shifted back by S_{-t}
     * </pre>
     */
    private void gemmBackwardHead(GemmPart w, MemorySegment dqkv, MemorySegment dout, MemorySegment out,
                                  MemorySegment lse, MemorySegment qkv, MemorySegment lagBias, int b, int h, int T) {
        int TN = T * N, rows = gemmBlock();
        float scale = (float) (1.0 / Math.sqrt(D));
        long q0 = (long) b * T * 3 * C + (long) h * D, o0 = (long) b * T * C + (long) h * D;
        CorrelationLagged.build(w.kexp, w.kexpT, qkv, q0 + C, 3 * C, T, D, N, w.ext);
        CorrelationLagged.build(null, w.vexpT, qkv, q0 + 2L * C, 3 * C, T, D, N, w.ext);
        biasPattern(w.bias, lagBias, h, T);
        w.dkexp.asSlice(0, (long) TN * D * Float.BYTES).fill((byte) 0);
        w.dvexp.asSlice(0, (long) TN * D * Float.BYTES).fill((byte) 0);
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
            gemmBiasGrad[(b * H + h) * N + t] = sum;
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
