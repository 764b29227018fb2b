package leviathan.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

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
 */
public final class Correlation {
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
        int D = C / H;
        float scale = (float) (1.0 / Math.sqrt(D));
        float[] s = new float[T * N];
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < H; h++) {
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
                            int shift = lag(t, N);
                            for (int d = 0; d < D; d++) {
                                out.setAtIndex(FL, o + d, out.getAtIndex(FL, o + d) + p * qkv.getAtIndex(FL, v + wrap(d, shift, D)));
                            }
                        }
                    }
                }
            }
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
     */
    public static void backwardScalar(MemorySegment dqkv, MemorySegment dlagBias, MemorySegment dout,
                                      MemorySegment out, MemorySegment lse, MemorySegment qkv, MemorySegment lagBias,
                                      int B, int T, int C, int H, int N) {
        int D = C / H;
        float scale = (float) (1.0 / Math.sqrt(D));
        for (int b = 0; b < B; b++) {
            for (int h = 0; h < H; h++) {
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
                            float gs = p * (gp - rowDot);
                            for (int d = 0; d < D; d++) {
                                int dd = wrap(d, shift, D);
                                add(dqkv, v + dd, p * dout.getAtIndex(FL, go + d));
                                add(dqkv, q + d, gs * scale * qkv.getAtIndex(FL, k + dd));
                                add(dqkv, k + dd, gs * scale * qkv.getAtIndex(FL, q + d));
                            }
                            if (dlagBias != null) add(dlagBias, (long) h * N + t, gs);
                        }
                    }
                }
            }
        }
    }

    private static void add(MemorySegment s, long i, float x) { s.setAtIndex(FL, i, s.getAtIndex(FL, i) + x); }
}
