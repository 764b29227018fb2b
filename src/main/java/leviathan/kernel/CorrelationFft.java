package leviathan.kernel;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.ConcurrentHashMap;

/**
 * Multi-head correlation through FFTs over the head dimension (LEVIATHAN.md, "Multi-head
 * correlation"): the same operation, layouts and semantics as
 * {@link Correlation#forwardScalar}/{@link Correlation#backwardScalar} ({@code qkv (B,T,3C)},
 * {@code out (B,T,C)}, {@code lse (B,H,T)}, {@code lagBias (H,N)} or null; forward writes query
 * rows {@code [t0, T)}; backward adds into {@code dqkv} and {@code dlagBias} and recomputes p from
 * lse). Head dimensions must be powers of two ({@link Fft#checkSize}).
 *
 * <p>With {@code ^} the real FFT over d ({@link Fft}, unnormalised inverse {@code IFFT = D·ifft}):
 * <pre>
 *   s[i,j,·] = IFFT(conj(q̂_i) ⊙ k̂_j)[L] / (D·sqrt(D)) + b        scores: one inverse FFT per pair
 *   ô_i      = Σ_j conj(p̂_ij) ⊙ v̂_j,  o_i = IFFT(ô_i) / D          p_ij = p[i,j,·] placed at (t mod D)
 *   g_p[i,j,·]= IFFT(conj(ĝ_i) ⊙ v̂_j)[L] / D                         g_s = p·(g_p - g_o_i·o_i)
 *   ĝv_j    += Σ_i p̂_ij ⊙ ĝ_i        ĝk_j += Σ_i ĝs_ij ⊙ q̂_i        ĝq_i = Σ_j conj(ĝs_ij) ⊙ k̂_j
 *   g_v = IFFT(ĝv)/D,  g_k = IFFT(ĝk)/(D·sqrt(D)),  g_q = IFFT(ĝq)/(D·sqrt(D))
 * </pre>
 * (correlations {@code Σ_t p_t·S_t x} become {@code conj(p̂)⊙x̂}; the adjoint shifts
 * {@code Σ_t p_t·S_{-t} x} are convolutions, {@code p̂⊙x̂}).
 *
 * <p>Where the FFT saves work. The spectra of every k_j, v_j (and q_i, g_o_i) are taken once per
 * (b, h): O(T·D·log D), negligible. Per causal pair (i, j <= i) the direct kernel spends
 * {@code 2·N·D} multiply-adds in the forward and {@code 5·N·D} in the backward. Here, with
 * F = D/2 + 1 bins and {@code R ≈ 5·(D/2)·log2(D/2) + 12·(D/2)} flops per real FFT of size D:
 * <pre>
 *   forward : 6F (conj(q̂)·k̂) + R (scores) + R (FFT of p_ij) + 8F (accumulate ô_i)    ≈ 2R + 14F
 *   backward: 2·6F + 2R (scores, g_p) + 2R (FFT of p, g_s) + 3·8F (three accumulations) ≈ 4R + 36F
 * </pre>
 * plus O(N) for the softmax per pair and one inverse FFT per query row (ô_i, ĝq_i) and per key
 * (ĝv_j, ĝk_j). At D = 64 (R ≈ 1,180, F = 33) that is ≈ 2,800 flops per pair forward and ≈ 5,900
 * backward, against 16,384 and 40,960 for the direct sums at N = 64: 5.8x and 6.9x fewer. The
 * FFT cost does not depend on N, the direct cost is linear in N, so the FFT wins only for large N
 * (measured crossover in {@code benchmarks/results/fft.md}).
 *
 * <p>Vectorisation is across keys, not within one FFT: a block of {@code w} = lane-count keys is
 * transformed together in {@link Fft}'s structure-of-arrays layout, so every butterfly, product
 * and softmax step is one vector operation over w pairs (i, j..j+w-1) and no shuffles are needed.
 * Keys past the query (the causal mask) in the last block get p = 0. Work is split over (b, h) by
 * {@link CorrelationDriver}, the driver of every implementation ({@link #impl}); the per-head
 * forward and backward and their scratch are in {@link CorrelationFftWork}.
 */
public final class CorrelationFft {
    private CorrelationFft() {}

    /** True when the head dimension {@code D} is one this implementation takes (a power of two). */
    public static boolean supports(int D) { return Fft.supports(D); }

    /**
     * Forward for query rows {@code [t0, T)}: writes {@code out} rows and {@code lse}; rows below
     * t0 are left untouched. Same contract as {@link Correlation#forwardScalar}.
     * @throws IllegalArgumentException when C/H is not a power of two or N is outside [1, C/H]
     */
    public static void forward(MemorySegment out, MemorySegment lse, MemorySegment qkv, MemorySegment lagBias,
                               int B, int T, int C, int H, int N, int t0) {
        if (t0 < 0 || t0 > T) throw new IllegalArgumentException("t0 must be in [0, T=" + T + "], got " + t0);
        var impl = impl(C, H, N);
        if (t0 == T || B == 0) return;
        new CorrelationDriver<>(impl, B, T, H, N).forward(out, lse, qkv, lagBias, B, T, t0);
    }

    /**
     * Backward: adds into {@code dqkv} and (when not null) {@code dlagBias}. Same contract as
     * {@link Correlation#backwardScalar} (p recomputed from lse; {@code Σ p·g_p = g_o·o}).
     * @throws IllegalArgumentException when C/H is not a power of two or N is outside [1, C/H]
     */
    public static void backward(MemorySegment dqkv, MemorySegment dlagBias, MemorySegment dout, MemorySegment out,
                                MemorySegment lse, MemorySegment qkv, MemorySegment lagBias,
                                int B, int T, int C, int H, int N) {
        var impl = impl(C, H, N);
        if (T == 0 || B == 0) return;
        new CorrelationDriver<>(impl, B, T, H, N).backward(dqkv, dlagBias, dout, out, lse, qkv, lagBias, B, T);
    }

    /**
     * The FFT path as a {@link CorrelationImpl} for width C, H heads and N lags, to be run by a
     * {@link CorrelationDriver} (kept, so that its per-thread scratch is made once).
     * @throws IllegalArgumentException when C/H is not a power of two or N is outside [1, C/H]
     */
    public static CorrelationImpl<?> impl(int C, int H, int N) {
        Correlation.checkShape(C, H, N);
        int D = C / H;
        Fft.checkSize(D, "FFT correlation");
        Fft fft = PLANS.computeIfAbsent(D, Fft::new);
        return new CorrelationImpl<CorrelationFftWork>() {
            @Override
            public CorrelationFftWork scratch(int maxT) { return new CorrelationFftWork(fft, maxT, N); }

            @Override
            public void forwardHead(CorrelationFftWork w, MemorySegment out, MemorySegment lse, MemorySegment qkv,
                                    MemorySegment lagBias, int b, int h, int T, int t0) {
                w.forward(out, lse, qkv, lagBias, b, h, T, C, H, N, t0);
            }

            @Override
            public void backwardHead(CorrelationFftWork w, float[] dbias, int at, MemorySegment dqkv, MemorySegment dout,
                                     MemorySegment out, MemorySegment lse, MemorySegment qkv, MemorySegment lagBias,
                                     int b, int h, int T) {
                w.backward(dqkv, dbias, at, dout, out, lse, qkv, lagBias, b, h, T, C, H, N);
            }
        };
    }

    /** Twiddle tables per head dimension, shared by all threads (Fft is immutable). */
    private static final ConcurrentHashMap<Integer, Fft> PLANS = new ConcurrentHashMap<>();
}
