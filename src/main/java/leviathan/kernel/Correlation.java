package leviathan.kernel;

import static leviathan.kernel.CorrelationTiles.L;
import static leviathan.kernel.CorrelationTiles.gemm;
import static leviathan.kernel.CorrelationTiles.padLanes;
import static leviathan.kernel.CorrelationTiles.padRows;
import static leviathan.kernel.VectorMath.exp;
import static leviathan.kernel.Simd.F;
import static leviathan.kernel.Simd.NATIVE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;

/**
 * Multi-head correlation (LEVIATHAN.md, "Multi-head correlation"), per head and sequence:
 * <pre>
 *   s[i,j,t] = (q_i · S_t k_j)/sqrt(D) + b[t]      j <= i, t in L
 *   p[i,·,·] = softmax over all (j <= i, t in L)
 *   o_i      = Σ_j Σ_t p[i,j,t] · S_t v_j          (S_t x)[d] = x[(d + t) mod D]
 * </pre>
 * Layouts: {@code qkv (B,T,3C)} as produced by {@code c_attn} (q, k, v blocks of C; head h at
 * {@code h·D..h·D+D-1} of each), {@code out (B,T,C)} (heads merged), {@code lse (B,H,T)} the
 * per-row log-sum-exp of the scores (the only cache: backward recomputes p from it),
 * {@code lagBias (H,N)} in the order of L, or {@code null} for no bias (dot attention).
 * Lag index {@code t} in {@code [0,N)} means the shift {@link #lag(int, int)}.
 *
 * <h2>The direct SIMD kernel</h2>
 * {@link #forward} and {@link #backward} compute the same sums as the scalar reference without
 * materialising the {@code T·N} lagged keys and values. The shift moves to the query side, whose
 * block is small: {@code q_i · S_t k_j = (S_{-t} q_i) · k_j}, and {@code Σ_j p·S_t v_j = S_t Σ_j p·v_j}.
 * So, per (sequence, head) and block of queries {@code [i0, i1)}, with one row per (query, lag):
 * <pre>
 *   QS[(i,t)] = S_{-t} q_i / sqrt(D)        a window of q_i's periodic extension [q_i, q_i, ...]
 *   S         = QS · Kᵀ                      (rows (i,t), keys j < i1): a register-tiled GEMM
 *   P         = softmax of S + b[t] jointly over the N rows of query i and keys j <= i
 *   U         = P · V                        (rows (i,t), D columns): a register-tiled GEMM
 *   o_i       = Σ_t S_t U[(i,t)]             windows of U's rows extended periodically
 * </pre>
 * and the backward runs the five products of the derivative the same way (see {@link #backward}).
 * Forward blocks hold about 16 (query, lag) rows, backward blocks 16 to 64
 * ({@link CorrelationWorkspace#forwardQueries}, {@link CorrelationWorkspace#backwardQueries}), so
 * every operand stays in L1/L2; a head's rows are read from the tensors in one sweep first, and
 * its gradients written back in one sweep last (row-by-row reads between products left the
 * memory latency exposed: 3× slower at T = 256). Work is parallel over
 * sequences × heads through {@link CorrelationDriver} (the driver of every implementation): each
 * (b, h) is computed the same way whatever the thread count, and the lag-bias gradient is reduced
 * over b in a fixed order, so results are bitwise deterministic.
 * Any D and N <= D work: vectors run over keys and over the head width padded with zeros.
 *
 * <p>Both the scalar reference and the direct kernel implement {@link CorrelationImpl}, one head
 * at a time: {@link #scalar} and {@link CorrelationWorkspace}.
 *
 * <p>In order: the public entry points, the forward of one head (scalar reference and vector
 * kernel), the row helpers both directions share, then the backward of one head (scalar reference
 * beside the vector kernel).
 */
public final class Correlation {

    /** The register-tile widths of the direct kernel, in vectors: the candidates of {@link #setTileVectors}. */
    public static final java.util.List<Integer> TILE_VECTORS = java.util.List.of(1, 2, 3, 4);

    /** The direct kernel's widest register tile, in vectors: by default what this ISA's register budget fits. */
    public static int tileVectors() { return CorrelationTiles.tileVectors; }

    /** The default of {@link #tileVectors()} on this machine (4 with 32 vector registers, 2 with 16). */
    public static int defaultTileVectors() { return CorrelationTiles.DEFAULT_VECTORS; }

    /** Sets the widest tile (one of {@link #TILE_VECTORS}); results are the same for any, only speed differs. */
    public static void setTileVectors(int vectors) {
        if (!TILE_VECTORS.contains(vectors)) throw new IllegalArgumentException("correlation tile must be one of " + TILE_VECTORS + " vectors, got " + vectors);
        CorrelationTiles.tileVectors = vectors;
    }
    private Correlation() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    /** The shift of lag index {@code t}: L = {-floor((N-1)/2), ..., ceil((N-1)/2)}. */
    public static int lag(int t, int N) { return t - (N - 1) / 2; }

    /** {@code (d + shift) mod D}, non-negative. */
    static int wrap(int d, int shift, int D) { return Math.floorMod(d + shift, D); }

    /**
     * Scalar reference forward, query rows {@code [t0, T)} of every sequence (rows below t0 are
     * left untouched: incremental decoding computes only the newest row). Keys {@code j <= i}.
     */
    public static void forwardScalar(MemorySegment out, MemorySegment lse, MemorySegment qkv, MemorySegment lagBias,
                                     int B, int T, int C, int H, int N, int t0) {
        float[] s = new float[T * N];
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < H; h++) forwardScalarHead(s, null, out, lse, qkv, lagBias, b, h, T, C, H, N, t0);
        }
    }

    /**
     * Scalar reference backward; adds into {@code dqkv} and (when not null) {@code dlagBias}.
     * Recomputes {@code p = exp(s - lse)}; the softmax row term {@code Σ p·g_p} equals
     * {@code g_o_i · o_i}, so {@code out} from the forward is read instead of a second pass.
     * <pre>
     *   g_p[i,j,t] = g_o_i · S_t v_j            g_s = p·(g_p - g_o_i·o_i)
     *   g_v_j     += Σ_i Σ_t p · S_{-t} g_o_i   g_q_i += Σ_j Σ_t g_s · S_t k_j / sqrt(D)
     *   g_k_j     += Σ_i Σ_t g_s · S_{-t} q_i / sqrt(D)            g_b[t] += Σ g_s
     * </pre>
     * The lag-bias gradient is summed per (b, h), then over b by {@link CorrelationDriver#reduceLagBias},
     * as every implementation does.
     */
    public static void backwardScalar(MemorySegment dqkv, MemorySegment dlagBias, MemorySegment dout,
                                      MemorySegment out, MemorySegment lse, MemorySegment qkv, MemorySegment lagBias,
                                      int B, int T, int C, int H, int N) {
        float[] gb = new float[B * H * N];
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < H; h++) {
                backwardScalarHead(null, gb, (b * H + h) * N, dqkv, dout, out, lse, qkv, lagBias, b, h, T, C, H, N);
            }
        }
        if (dlagBias != null) CorrelationDriver.reduceLagBias(dlagBias, gb, B, H, N);
    }

    /**
     * The scalar reference as a {@link CorrelationImpl} for width C, H heads and N lags (its
     * scratch: one query's {@code T·N} scores).
     */
    public static CorrelationImpl<float[]> scalar(int C, int H, int N) {
        checkShape(C, H, N);
        return new CorrelationImpl<>() {
            @Override
            public float[] scratch(int maxT) { return new float[maxT * N]; }

            @Override
            public void forwardHead(float[] s, MemorySegment out, MemorySegment lse, MemorySegment qkv, MemorySegment lagBias,
                                    int b, int h, int T, int t0) {
                forwardScalarHead(s, null, out, lse, qkv, lagBias, b, h, T, C, H, N, t0);
            }

            @Override
            public void backwardHead(float[] s, float[] dbias, int at, MemorySegment dqkv, MemorySegment dout, MemorySegment out,
                                     MemorySegment lse, MemorySegment qkv, MemorySegment lagBias, int b, int h, int T) {
                backwardScalarHead(null, dbias, at, dqkv, dout, out, lse, qkv, lagBias, b, h, T, C, H, N);
            }

            @Override
            public void forwardHead(float[] s, Dropout.Mask drop, MemorySegment out, MemorySegment lse, MemorySegment qkv,
                                    MemorySegment lagBias, int b, int h, int T, int t0) {
                forwardScalarHead(s, drop, out, lse, qkv, lagBias, b, h, T, C, H, N, t0);
            }

            @Override
            public void backwardHead(float[] s, Dropout.Mask drop, float[] dbias, int at, MemorySegment dqkv, MemorySegment dout,
                                     MemorySegment out, MemorySegment lse, MemorySegment qkv, MemorySegment lagBias, int b, int h, int T) {
                backwardScalarHead(drop, dbias, at, dqkv, dout, out, lse, qkv, lagBias, b, h, T, C, H, N);
            }

            @Override
            public boolean dropsWeights() { return true; }
        };
    }

    /** Checks {@code C = H·D} and {@code 1 <= N <= D}, with a message that names the fix. */
    static void checkShape(int C, int H, int N) {
        if (H < 1 || C % H != 0) throw new IllegalArgumentException("n_embd " + C + " is not divisible by n_head " + H);
        int D = C / H;
        if (N < 1 || N > D) throw new IllegalArgumentException("lags must be in [1, head dim " + D + "], got " + N);
    }

    /**
     * The number of weight {@code p[i, j, t]} of head h of sequence b (of this rank's share) among
     * the weights of the global batch, {@code (B, H, T, T, N)}: what a dropout mask is keyed by.
     */
    static long dropIndex(Dropout.Mask drop, int b, int h, int i, int j, int t, int H, int T, int N) {
        return ((((long) (drop.firstRow() + b) * H + h) * T + i) * T + j) * N + t;
    }

    /**
     * {@link #forwardScalar} for head h of sequence b; {@code s} holds at least {@code T·N} floats.
     * With {@code drop}, each weight is multiplied by its mask factor before it mixes the values.
     */
    static void forwardScalarHead(float[] s, Dropout.Mask drop, MemorySegment out, MemorySegment lse, MemorySegment qkv, MemorySegment lagBias,
                                  int b, int h, int T, int C, int H, int N, int t0) {
        int D = C / H;
        float scale = (float) (1.0 / Math.sqrt(D));
        for (int i = t0; i < T; i++) {
            long q = ((long) b * T + i) * 3 * C + (long) h * D;
            float max = Float.NEGATIVE_INFINITY;            // pass 1: scores and their max
            for (int j = 0; j <= i; j++) {
                long k = ((long) b * T + j) * 3 * C + C + (long) h * D;
                for (int t = 0; t < N; t++) {
                    int shift = lag(t, N);
                    float dot = 0f;
                    for (int d = 0; d < D; d++) {
                        dot += qkv.getAtIndex(FL, q + d) * qkv.getAtIndex(FL, k + wrap(d, shift, D));
                    }
                    float sc = dot * scale + (lagBias == null ? 0f : lagBias.getAtIndex(FL, (long) h * N + t));
                    s[j * N + t] = sc;
                    max = Math.max(max, sc);
                }
            }
            double sum = 0;                                   // pass 2: exp-sum
            for (int jt = 0; jt < (i + 1) * N; jt++) sum += Math.exp(s[jt] - max);
            float logSum = (float) (max + Math.log(sum));
            lse.setAtIndex(FL, ((long) b * H + h) * T + i, logSum);
            long o = ((long) b * T + i) * C + (long) h * D;   // pass 3: o = Σ p · S_t v_j
            for (int d = 0; d < D; d++) out.setAtIndex(FL, o + d, 0f);
            for (int j = 0; j <= i; j++) {
                long v = ((long) b * T + j) * 3 * C + 2L * C + (long) h * D;
                for (int t = 0; t < N; t++) {
                    float p = (float) Math.exp(s[j * N + t] - logSum);
                    if (drop != null) p *= drop.factor(dropIndex(drop, b, h, i, j, t, H, T, N));
                    int shift = lag(t, N);
                    for (int d = 0; d < D; d++) {
                        out.setAtIndex(FL, o + d, out.getAtIndex(FL, o + d) + p * qkv.getAtIndex(FL, v + wrap(d, shift, D)));
                    }
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // The direct SIMD kernel
    // ---------------------------------------------------------------------------------------

    /**
     * Direct SIMD forward, same contract as {@link #forwardScalar}: query rows {@code [t0, T)},
     * writes {@code out} and {@code lse}. {@code ws} fixes C, H and N and bounds B and T.
     * Under {@code -Dleviathan.scalar=true} each head runs the scalar reference.
     */
    public static void forward(CorrelationWorkspace ws, MemorySegment out, MemorySegment lse, MemorySegment qkv,
                               MemorySegment lagBias, int B, int T, int t0) {
        ws.driver().forward(out, lse, qkv, lagBias, B, T, t0);
    }

    /**
     * Direct SIMD backward, same contract as {@link #backwardScalar}: adds into {@code dqkv} and
     * (when not null) {@code dlagBias}. Per block of queries, with {@code GOS[(i,t)] = S_{-t} g_o_i}:
     * <pre>
     *   S = QS·Kᵀ, P = exp(S + b[t] - lse_i)       G = GOS·Vᵀ  (= g_p)      G_S = P ⊙ (G - g_o_i·o_i)
     *   dV += Pᵀ·GOS     dK += G_Sᵀ·QS     dq_i += Σ_t S_t (G_S·K)[(i,t)] / sqrt(D)     db[t] += Σ G_S[(·,t)]
     * </pre>
     */
    public static void backward(CorrelationWorkspace ws, MemorySegment dqkv, MemorySegment dlagBias, MemorySegment dout,
                                MemorySegment out, MemorySegment lse, MemorySegment qkv, MemorySegment lagBias,
                                int B, int T) {
        ws.driver().backward(dqkv, dlagBias, dout, out, lse, qkv, lagBias, B, T);
    }

    /** The direct kernel's forward of head h of sequence b ({@link CorrelationImpl#forwardHead}). */
    static void forwardHead(CorrelationWorkspace ws, CorrelationWorkspace.Part w, Dropout.Mask drop, MemorySegment out,
                            MemorySegment lse, MemorySegment qkv, MemorySegment lagBias,
                            int b, int h, int T, int t0) {
        if (!Simd.ENABLED) {
            forwardScalarHead(w.scores(), drop, out, lse, qkv, lagBias, b, h, T, ws.C, ws.H, ws.N, t0);
            return;
        }
        final int C = ws.C, H = ws.H, N = ws.N, D = ws.D, Dp = ws.Dp, Tp = ws.Tp, Us = ws.Us;
        final float scale = (float) (1.0 / Math.sqrt(D));
        final int Dq = D + Dp;
        long q0 = (long) b * T * 3 * C + (long) h * D;                 // element index of q_0 of this head
        for (int j = 0; j < T; j++) {                                    // pass 0: this head's rows, in one sweep
            long row = q0 + (long) j * 3 * C;
            if (j >= t0) loadPeriodic(w.qP, j * Dq, qkv, row, D, Dp);
            loadRow(w.kP, j * Dp, qkv, row + C, D);
            loadRow(w.vP, j * Dp, qkv, row + 2L * C, D);
        }
        transpose(w.kT, w.kP, T, D, Dp, Tp, w.rowStarts);
        loadBias(w.bias, lagBias, h, N);
        for (int i0 = t0; i0 < T; i0 += ws.R) {
            int i1 = Math.min(T, i0 + ws.R), M = (i1 - i0) * N, Mp = padRows(M), jc = padLanes(i1);
            for (int i = i0; i < i1; i++) shiftedRows(w.qs, w.qP, i * Dq, (i - i0) * N, N, D, Dp, scale);  // QS
            gemm(Mp, jc / L, D, w.qs, 0, Dp, 1, w.kT, 0, Tp, w.s, 0, Tp, false);      // S = QS·Kᵀ
            for (int i = i0; i < i1; i++) {                              // softmax per query, rows (i, ·)
                float l = softmaxRows(w.s, (i - i0) * N, N, Tp, i + 1, jc, w.bias, w.rowStat, i - i0);
                lse.setAtIndex(FL, ((long) b * H + h) * T + i, l);
                if (drop != null) dropRows(drop, w.s, (i - i0) * N, Tp, b, h, i, T, H, N);   // after the sum: p' = e·m/(1-p)/sum
            }
            gemm(Mp, Dp / L, i1, w.s, 0, Tp, 1, w.vP, 0, Dp, w.u, 0, Us, false, periodic(N, D, Dp));  // U = E·V
            for (int i = i0; i < i1; i++) {                              // o_i = Σ_t S_t U[(i,t)] / sum
                shiftSum(w.row, 0, w.u, (i - i0) * N, N, D, Dp, Us, w.rowStat[i - i0]);
                storeRow(out, ((long) b * T + i) * C + (long) h * D, w.row, D);
            }
        }
    }


    /** {@code s[(r0 + t)·ld + j] *= mask factor of weight (i, j, t)}, j <= i, t < N: the weights of query i, dropped. */
    static void dropRows(Dropout.Mask drop, float[] s, int r0, int ld, int b, int h, int i, int T, int H, int N) {
        for (int t = 0; t < N; t++) {
            int base = (r0 + t) * ld;
            for (int j = 0; j <= i; j++) s[base + j] *= drop.factor(dropIndex(drop, b, h, i, j, t, H, T, N));
        }
    }

    // Row I/O between the tensors and the scratch arrays, by vectors (a masked one for the tail):
    // for rows of a few dozen floats this is several times faster than MemorySegment.copy.
    // Both directions use them.

    /** {@code dst[off + d] = seg[base + d]}, d < D; lanes up to the next whole vector get 0. */
    static void loadRow(float[] dst, int off, MemorySegment seg, long base, int D) {
        long o = base * Float.BYTES;
        int d = 0;
        for (; d + L <= D; d += L) FloatVector.fromMemorySegment(F, seg, o + (long) d * Float.BYTES, NATIVE).intoArray(dst, off + d);
        if (d < D) {
            FloatVector.fromMemorySegment(F, seg, o + (long) d * Float.BYTES, NATIVE, F.indexInRange(d, D)).intoArray(dst, off + d);
        }
    }

    /** {@code seg[base + d] = src[d]}, d < D. */
    private static void storeRow(MemorySegment seg, long base, float[] src, int D) {
        long o = base * Float.BYTES;
        int d = 0;
        for (; d + L <= D; d += L) FloatVector.fromArray(F, src, d).intoMemorySegment(seg, o + (long) d * Float.BYTES, NATIVE);
        if (d < D) FloatVector.fromArray(F, src, d).intoMemorySegment(seg, o + (long) d * Float.BYTES, NATIVE, F.indexInRange(d, D));
    }

    /**
     * {@code dst[d·Tp + j] = src[j·Dp + d]}: keys (or values) as columns, for the score products.
     * Gathers L rows' element d at a time ({@code rowStarts[l] = l·Dp}): 2× faster than scalar
     * moves at T = 64 and 13× at T = 512, where the scalar version's strided stores miss cache.
     * Rows T..padLanes(T) of src are read too (finite padding; their columns are never used).
     */
    static void transpose(float[] dst, float[] src, int T, int D, int Dp, int Tp, int[] rowStarts) {
        for (int j0 = 0; j0 < T; j0 += L) {
            for (int d = 0; d < D; d++) FloatVector.fromArray(F, src, j0 * Dp + d, rowStarts, 0).intoArray(dst, d * Tp + j0);
        }
    }

    static void loadBias(float[] bias, MemorySegment lagBias, int h, int N) {
        if (lagBias == null) Arrays.fill(bias, 0f);
        else MemorySegment.copy(lagBias, FL, (long) h * N * Float.BYTES, bias, 0, N);
    }

    /**
     * {@code dst[off + m] = seg[base + (m mod D)]}, m < D + Dp: the row extended periodically,
     * so any window of length Dp starting below D is a shift of it.
     */
    static void loadPeriodic(float[] dst, int off, MemorySegment seg, long base, int D, int Dp) {
        loadRow(dst, off, seg, base, D);
        if (D == Dp) loadRow(dst, off + D, seg, base, D);           // [x, x]: the same cache lines again
        else for (int m = D; m < D + Dp; m += D) System.arraycopy(dst, off, dst, off + m, Math.min(D, D + Dp - m));
    }

    /**
     * Rows {@code r0 + t} of {@code dst} (stride Dp) = {@code mul · S_{-t} x}, t < N, from the
     * periodic extension of x at {@code ext[e..]}: {@code (S_{-t} x)[d] = x[(d - lag t) mod D]
     * = ext[e + off_t + d]}. Lanes d >= D hold more of the extension: finite, and met only by
     * zero padding.
     */
    static void shiftedRows(float[] dst, float[] ext, int e, int r0, int N, int D, int Dp, float mul) {
        for (int t = 0; t < N; t++) {
            int off = e + Math.floorMod(-lag(t, N), D), o = (r0 + t) * Dp;
            for (int v = 0; v < Dp; v += L) FloatVector.fromArray(F, ext, off + v).mul(mul).intoArray(dst, o + v);
        }
    }

    /**
     * The {@code dup} argument of the U products: when D is a whole number of vectors the product
     * writes each row twice, {@code U[D..2D) = U[0..D)}, which is the periodic extension
     * {@link #shiftSum} needs (no shift needs it with one lag).
     */
    static int periodic(int N, int D, int Dp) { return N > 1 && D == Dp ? D : 0; }

    /**
     * {@code dst[off + d] = mul · Σ_t U[r0 + t][(d + lag t) mod D]}, d < D (lanes up to Dp are scratch).
     * The rows of U are periodic ({@code U[D..2D) = U[0..D)}: written so by the product when D is
     * whole vectors, copied here otherwise), so each shift is an unaligned window.
     */
    static void shiftSum(float[] dst, int off, float[] u, int r0, int N, int D, int Dp, int Us, float mul) {
        if (N > 1 && periodic(N, D, Dp) == 0) {
            for (int t = 0; t < N; t++) System.arraycopy(u, (r0 + t) * Us, u, (r0 + t) * Us + D, D);
        }
        for (int v = 0; v < Dp; v += L) {
            var acc = FloatVector.zero(F);
            for (int t = 0; t < N; t++) {
                acc = acc.add(FloatVector.fromArray(F, u, (r0 + t) * Us + Math.floorMod(lag(t, N), D) + v));
            }
            acc.mul(mul).intoArray(dst, off + v);
        }
    }

    /**
     * Softmax of the scores of one query, rows {@code r0..r0+N-1} (stride ld), over keys j < n,
     * in place: pass 1 the max of {@code s + bias[t]}, pass 2 {@code e = exp(s + bias[t] - max)}
     * and its sum; keys {@code n <= j < jc} get 0 (the products run over whole vectors and the
     * causal tail must add nothing). Returns {@code lse = max + log(sum)}; {@code inv[k] = 1/sum}.
     * One exp call site, one reduction per query: small enough for C2 to inline everything.
     */
    private static float softmaxRows(float[] s, int r0, int N, int ld, int n, int jc, float[] bias,
                                     float[] inv, int k) {
        var mx = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        for (int t = 0; t < N; t++) {
            int base = (r0 + t) * ld;
            float bt = bias[t];
            for (int j = 0; j < n; j += L) {
                var x = FloatVector.fromArray(F, s, base + j).add(bt);
                if (j + L > n) x = x.blend(Float.NEGATIVE_INFINITY, F.indexInRange(j, n).not());
                mx = VectorMath.maxLanes(mx, x);
            }
        }
        float max = mx.reduceLanes(VectorOperators.MAX);
        var sum = FloatVector.zero(F);
        for (int t = 0; t < N; t++) {
            int base = (r0 + t) * ld, j = 0;
            float c = bias[t] - max;
            for (; j < n; j += L) {
                var e = exp(FloatVector.fromArray(F, s, base + j).add(c));
                if (j + L > n) e = e.blend(0f, F.indexInRange(j, n).not());
                e.intoArray(s, base + j);
                sum = sum.add(e);
            }
            for (; j < jc; j += L) FloatVector.zero(F).intoArray(s, base + j);
        }
        float total = VectorMath.sum(sum);
        inv[k] = 1f / total;
        return (float) (max + Math.log(total));
    }

    // ---------------------------------------------------------------------------------------
    // The backward of one head: scalar reference, then the direct SIMD kernel
    // ---------------------------------------------------------------------------------------

    /** {@link #backwardScalar} for head h of sequence b: adds into dqkv, writes its Σ g_s per lag to {@code dbias[at..at+N)}. */
    static void backwardScalarHead(Dropout.Mask drop, float[] dbias, int at, MemorySegment dqkv, MemorySegment dout, MemorySegment out,
                                   MemorySegment lse, MemorySegment qkv, MemorySegment lagBias,
                                   int b, int h, int T, int C, int H, int N) {
        int D = C / H;
        float scale = (float) (1.0 / Math.sqrt(D));
        Arrays.fill(dbias, at, at + N, 0f);
        for (int i = 0; i < T; i++) {
            long q = ((long) b * T + i) * 3 * C + (long) h * D;
            long go = ((long) b * T + i) * C + (long) h * D;
            float rowDot = 0f;
            for (int d = 0; d < D; d++) rowDot += dout.getAtIndex(FL, go + d) * out.getAtIndex(FL, go + d);
            float logSum = lse.getAtIndex(FL, ((long) b * H + h) * T + i);
            for (int j = 0; j <= i; j++) {
                long k = ((long) b * T + j) * 3 * C + C + (long) h * D;
                long v = k + C;
                for (int t = 0; t < N; t++) {
                    int shift = lag(t, N);
                    float dot = 0f, gp = 0f;
                    for (int d = 0; d < D; d++) {
                        int dd = wrap(d, shift, D);
                        dot += qkv.getAtIndex(FL, q + d) * qkv.getAtIndex(FL, k + dd);
                        gp += dout.getAtIndex(FL, go + d) * qkv.getAtIndex(FL, v + dd);
                    }
                    float bias = lagBias == null ? 0f : lagBias.getAtIndex(FL, (long) h * N + t);
                    float p = (float) Math.exp(dot * scale + bias - logSum);
                    // with dropout the values saw p' = p·m: dv takes p', and g_p reaches p through the mask
                    float m = drop == null ? 1f : drop.factor(dropIndex(drop, b, h, i, j, t, H, T, N));
                    float gs = p * (gp * m - rowDot);
                    for (int d = 0; d < D; d++) {
                        int dd = wrap(d, shift, D);
                        add(dqkv, v + dd, p * m * dout.getAtIndex(FL, go + d));
                        add(dqkv, q + d, gs * scale * qkv.getAtIndex(FL, k + dd));
                        add(dqkv, k + dd, gs * scale * qkv.getAtIndex(FL, q + d));
                    }
                    dbias[at + t] += gs;
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // The direct SIMD kernel, backward
    // ---------------------------------------------------------------------------------------

    /** The direct kernel's backward of head h of sequence b ({@link CorrelationImpl#backwardHead}). */
    static void backwardHead(CorrelationWorkspace ws, CorrelationWorkspace.Part w, Dropout.Mask drop, float[] dbias, int at, MemorySegment dqkv,
                             MemorySegment dout, MemorySegment out, MemorySegment lse, MemorySegment qkv,
                             MemorySegment lagBias, int b, int h, int T) {
        if (!Simd.ENABLED) {
            backwardScalarHead(drop, dbias, at, dqkv, dout, out, lse, qkv, lagBias, b, h, T, ws.C, ws.H, ws.N);
            return;
        }
        final int C = ws.C, H = ws.H, N = ws.N, D = ws.D, Dp = ws.Dp, Tp = ws.Tp, Us = ws.Us;
        final float scale = (float) (1.0 / Math.sqrt(D));
        long q0 = (long) b * T * 3 * C + (long) h * D;                 // q_0 of this head in qkv / dqkv
        long o0 = (long) b * T * C + (long) h * D;                     // o_0 / g_o_0 in out / dout
        final int Dq = D + Dp;
        for (int j = 0; j < T; j++) {                                    // pass 0: this head's rows, in one sweep
            long row = q0 + (long) j * 3 * C, orow = o0 + (long) j * C;
            loadPeriodic(w.qP, j * Dq, qkv, row, D, Dp);
            loadRow(w.kP, j * Dp, qkv, row + C, D);
            loadRow(w.vP, j * Dp, qkv, row + 2L * C, D);              // vP: a staging area for Vᵀ
            loadPeriodic(w.goP, j * Dq, dout, orow, D, Dp);
            loadRow(w.row, 0, out, orow, D);
            w.rowDot[j] = CorrelationTiles.dot(w.goP, j * Dq, w.row, 0, D);   // g_o·o, the softmax row term
        }
        transpose(w.vT, w.vP, T, D, Dp, Tp, w.rowStarts);
        transpose(w.kT, w.kP, T, D, Dp, Tp, w.rowStarts);
        loadBias(w.bias, lagBias, h, N);
        int Tr = padRows(T), Rb = CorrelationWorkspace.backwardQueries(T, N);
        Arrays.fill(w.dK, 0, Tr * Dp, 0f);
        Arrays.fill(w.dV, 0, Tr * Dp, 0f);
        Arrays.fill(w.gacc, 0f);
        for (int i0 = 0; i0 < T; i0 += Rb) {
            int i1 = Math.min(T, i0 + Rb), M = (i1 - i0) * N, Mp = padRows(M), jc = padLanes(i1);
            for (int i = i0; i < i1; i++) {                              // QS and GOS rows
                shiftedRows(w.qs, w.qP, i * Dq, (i - i0) * N, N, D, Dp, scale);
                shiftedRows(w.gos, w.goP, i * Dq, (i - i0) * N, N, D, Dp, 1f);
            }
            gemm(Mp, jc / L, D, w.qs, 0, Dp, 1, w.kT, 0, Tp, w.s, 0, Tp, false);      // S = QS·Kᵀ
            gemm(Mp, jc / L, D, w.gos, 0, Dp, 1, w.vT, 0, Tp, w.g, 0, Tp, false);     // G = GOS·Vᵀ
            for (int i = i0; i < i1; i++) {                              // P and G_S, rows (i, ·)
                float logSum = lse.getAtIndex(FL, ((long) b * H + h) * T + i);
                if (drop == null) gradRows(w.s, w.g, (i - i0) * N, N, Tp, i + 1, jc, w.bias, logSum, w.rowDot[i], w.gacc, null);
                else gradRowsDropped(drop, w, (i - i0) * N, N, Tp, i + 1, jc, logSum, w.rowDot[i], b, h, i, T, H);
            }
            int Kr = padRows(i1);                                        // key rows touched (zeros past i1)
            gemm(Kr, Dp / L, M, w.s, 0, 1, Tp, w.gos, 0, Dp, w.dV, 0, Dp, true);      // dV += Pᵀ·GOS
            gemm(Kr, Dp / L, M, w.g, 0, 1, Tp, w.qs, 0, Dp, w.dK, 0, Dp, true);       // dK += G_Sᵀ·QS
            gemm(Mp, Dp / L, i1, w.g, 0, Tp, 1, w.kP, 0, Dp, w.u, 0, Us, false, periodic(N, D, Dp));  // U = G_S·K
            for (int i = i0; i < i1; i++) {                              // dq_i = Σ_t S_t U[(i,t)] / sqrt(D)
                shiftSum(w.dQ, i * Dp, w.u, (i - i0) * N, N, D, Dp, Us, scale);
            }
        }
        for (int j = 0; j < T; j++) {                                    // add dq, dk, dv to dqkv, in one sweep
            long row = q0 + (long) j * 3 * C;
            addRow(dqkv, row, w.dQ, j * Dp, D);
            addRow(dqkv, row + C, w.dK, j * Dp, D);
            addRow(dqkv, row + 2L * C, w.dV, j * Dp, D);
        }
        for (int t = 0; t < N; t++) dbias[at + t] = VectorMath.sum(w.gacc, t * L);   // an array crosses the call: nothing boxed
    }

    /** {@code seg[base + d] += src[off + d]}, d < D. */
    private static void addRow(MemorySegment seg, long base, float[] src, int off, int D) {
        long o = base * Float.BYTES;
        int d = 0;
        for (; d + L <= D; d += L) {
            long od = o + (long) d * Float.BYTES;
            FloatVector.fromMemorySegment(F, seg, od, NATIVE).add(FloatVector.fromArray(F, src, off + d)).intoMemorySegment(seg, od, NATIVE);
        }
        if (d < D) {
            long od = o + (long) d * Float.BYTES;
            var m = F.indexInRange(d, D);
            FloatVector.fromMemorySegment(F, seg, od, NATIVE, m).add(FloatVector.fromArray(F, src, off + d)).intoMemorySegment(seg, od, NATIVE, m);
        }
    }

    /**
     * The backward's softmax pass over the rows {@code r0..r0+N-1} of one query:
     * {@code p = exp(s + bias[t] - lse)} into s, {@code g_s = p·(g_p - rowDot)} into g (both 0 for
     * {@code n <= j < jc}), and the lanes of {@code Σ_j g_s} added to {@code gacc[t·L ..]} (reduced
     * once per head, in lane order).
     */
    private static void gradRows(float[] s, float[] g, int r0, int N, int ld, int n, int jc, float[] bias,
                                 float logSum, float rowDot, float[] gacc, float[] mask) {
        for (int t = 0; t < N; t++) {
            int base = (r0 + t) * ld, j = 0;
            float c = bias[t] - logSum;
            var acc = FloatVector.fromArray(F, gacc, t * L);
            for (; j < n; j += L) {
                var p = exp(FloatVector.fromArray(F, s, base + j).add(c));
                var gp = FloatVector.fromArray(F, g, base + j);
                if (mask != null) {                                         // dropout: g_p through the mask, p' for dV
                    var m = FloatVector.fromArray(F, mask, t * ld + j);
                    gp = gp.mul(m);
                    var gs = p.mul(gp.sub(rowDot));
                    p = p.mul(m);
                    if (j + L > n) {
                        VectorMask<Float> tail = F.indexInRange(j, n).not();
                        p = p.blend(0f, tail);
                        gs = gs.blend(0f, tail);
                    }
                    p.intoArray(s, base + j);
                    gs.intoArray(g, base + j);
                    acc = acc.add(gs);
                    continue;
                }
                var gs = p.mul(gp.sub(rowDot));
                if (j + L > n) {
                    VectorMask<Float> tail = F.indexInRange(j, n).not();
                    p = p.blend(0f, tail);
                    gs = gs.blend(0f, tail);
                }
                p.intoArray(s, base + j);
                gs.intoArray(g, base + j);
                acc = acc.add(gs);
            }
            acc.intoArray(gacc, t * L);
            for (; j < jc; j += L) {
                FloatVector.zero(F).intoArray(s, base + j);
                FloatVector.zero(F).intoArray(g, base + j);
            }
        }
    }

    /**
     * {@link #gradRows} with dropout: the mask factors of query i's weights (j < n, every lag) are
     * hashed into {@code w.mask} first (zero past n), then the vector pass applies them.
     */
    private static void gradRowsDropped(Dropout.Mask drop, CorrelationWorkspace.Part w, int r0, int N, int ld, int n, int jc,
                                        float logSum, float rowDot, int b, int h, int i, int T, int H) {
        float[] mask = w.mask;
        for (int t = 0; t < N; t++) {
            int base = t * ld;
            for (int j = 0; j < jc; j++) mask[base + j] = j < n ? drop.factor(dropIndex(drop, b, h, i, j, t, H, T, N)) : 0f;
        }
        gradRows(w.s, w.g, r0, N, ld, n, jc, w.bias, logSum, rowDot, w.gacc, mask);
    }

    private static void add(MemorySegment s, long i, float x) { s.setAtIndex(FL, i, s.getAtIndex(FL, i) + x); }
}
