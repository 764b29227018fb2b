package leviathan.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The per-head work of the FFT correlation ({@link CorrelationFft}, whose class comment has the
 * formulas and the cost model): one thread's buffers for one (b, h) at a time, sized for up to
 * maxT keys, and the forward and backward of a head over them. Blocks of w keys, spectra as F rows
 * × w lanes. {@link #begin} sets the block count of the current call. A class of its own because
 * it is an object with state: the scratch type of the FFT {@link CorrelationImpl}, one per kernel
 * thread, while {@link CorrelationFft} is the stateless entry point ({@link CorrelationFft#impl})
 * with the cost model that picks it.
 */
final class CorrelationFftWork {
    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;
    private static final VectorSpecies<Float> S = Simd.F;

    final Fft fft;
    final int D, F, w, N;
    int nb, Tp;                                     // key blocks of this call, and keys padded to them
    final float[] kr, ki, vr, vi, qr, qi, gr, gi;   // spectra of k, v, q, g_o: block jb at jb·F·w
    final float[] accVr, accVi, accKr, accKi;       // backward: ĝv, ĝk per key block
    final float[] x1, x2, zr, zi;                   // time-domain rows (D·w) and FFT scratch
    final float[] s1r, s1i, s2r, s2i, accR, accI;   // spectra scratch and the per-row accumulator (F·w)
    final float[] rowR, rowI, row;                  // one reduced spectrum and its signal
    final float[] sc;                               // forward: scores then p of one query row, [t][j]
    final float[] bias, dbias;                      // lag bias of the head; backward bias-gradient lanes [t][l]
    final float[] lanes = new float[S.length()];    // one vector's lanes, for a lane sum (VectorMath.sum(float[], int))
    final int[] lagRow;                             // lag index t -> row (shift mod D)

    CorrelationFftWork(Fft fft, int maxT, int N) {
        this.fft = fft;
        this.D = fft.size();
        this.F = fft.bins();
        this.w = S.length();
        this.nb = (maxT + w - 1) / w;
        this.Tp = nb * w;
        this.N = N;
        int spec = nb * F * w;
        kr = new float[spec]; ki = new float[spec]; vr = new float[spec]; vi = new float[spec];
        qr = new float[spec]; qi = new float[spec]; gr = new float[spec]; gi = new float[spec];
        accVr = new float[spec]; accVi = new float[spec]; accKr = new float[spec]; accKi = new float[spec];
        x1 = new float[D * w]; x2 = new float[D * w];
        zr = new float[fft.scratch(w)]; zi = new float[fft.scratch(w)];
        s1r = new float[F * w]; s1i = new float[F * w]; s2r = new float[F * w]; s2i = new float[F * w];
        accR = new float[F * w]; accI = new float[F * w];
        rowR = new float[F]; rowI = new float[F]; row = new float[D];
        sc = new float[N * Tp];
        bias = new float[N];
        dbias = new float[N * w];
        lagRow = new int[N];
        for (int t = 0; t < N; t++) lagRow[t] = Correlation.wrap(0, Correlation.lag(t, N), D);
    }

    /** Sets the key blocks for sequences of length T (at most the maxT this was sized for). */
    void begin(int T) {
        nb = (T + w - 1) / w;
        Tp = nb * w;
    }

    /** Spectra of the head-h vectors at column offset {@code col} (0 q, C k, 2C v) of rows [0, T) of a (B,T,ld) tensor. */
    void spectra(MemorySegment src, int ld, int col, int b, int h, int T, float[] re, float[] im) {
        for (int jb = 0; jb < nb; jb++) {
            for (int l = 0; l < w; l++) {
                int j = jb * w + l;
                if (j < T) {
                    long base = ((long) b * T + j) * ld + col + (long) h * D;
                    for (int d = 0; d < D; d++) x1[d * w + l] = src.getAtIndex(FL, base + d);
                } else {
                    for (int d = 0; d < D; d++) x1[d * w + l] = 0f;
                }
            }
            fft.forward(x1, 0, re, im, jb * F * w, w, zr, zi);
        }
    }

    void loadBias(MemorySegment lagBias, int h) {
        for (int t = 0; t < N; t++) bias[t] = lagBias == null ? 0f : lagBias.getAtIndex(FL, (long) h * N + t);
    }

    /**
     * The scores spectrum of pair block (i, jb): dst = conj(a_i) ⊙ b_jb, with a_i the spectrum
     * of query i in (ar, ai) and b the key block in (br, bi).
     */
    void crossSpectrum(float[] ar, float[] ai, int i, float[] br, float[] bi, int jb, float[] dr, float[] di) {
        int qa = (i / w) * F * w + i % w, kb = jb * F * w;
        for (int f = 0; f < F; f++) {
            float xr = ar[qa + f * w], xi = ai[qa + f * w];
            int o = kb + f * w, r = f * w;
            int l = 0;
            if (Simd.ENABLED) {
                for (; l < w; l += S.length()) {
                    var yr = FloatVector.fromArray(S, br, o + l);
                    var yi = FloatVector.fromArray(S, bi, o + l);
                    yr.mul(xr).add(yi.mul(xi)).intoArray(dr, r + l);
                    yi.mul(xr).sub(yr.mul(xi)).intoArray(di, r + l);
                }
            }
            for (; l < w; l++) {
                float yr = br[o + l], yi = bi[o + l];
                dr[r + l] = xr * yr + xi * yi;
                di[r + l] = xr * yi - xi * yr;
            }
        }
    }

    /** acc (F·w at ao) += conj(a) ⊙ b (conj = true) or a ⊙ b, all blocks of F rows × w lanes. */
    void mac(float[] accr, float[] acci, int ao, float[] ar, float[] ai, int a0, float[] br, float[] bi, int b0, boolean conj) {
        float sgn = conj ? -1f : 1f;     // conj(a) = ar - i·ai
        int n = F * w, l = 0;
        if (Simd.ENABLED) {
            for (; l < n; l += S.length()) {
                var xr = FloatVector.fromArray(S, ar, a0 + l);
                var xi = FloatVector.fromArray(S, ai, a0 + l).mul(sgn);
                var yr = FloatVector.fromArray(S, br, b0 + l);
                var yi = FloatVector.fromArray(S, bi, b0 + l);
                xr.fma(yr, FloatVector.fromArray(S, accr, ao + l)).sub(xi.mul(yi)).intoArray(accr, ao + l);
                xr.fma(yi, FloatVector.fromArray(S, acci, ao + l)).add(xi.mul(yr)).intoArray(acci, ao + l);
            }
        }
        for (; l < n; l++) {
            float xr = ar[a0 + l], xi = sgn * ai[a0 + l], yr = br[b0 + l], yi = bi[b0 + l];
            accr[ao + l] += xr * yr - xi * yi;
            acci[ao + l] += xr * yi + xi * yr;
        }
    }

    /** acc (F·w) += a ⊙ broadcast(x_i), with x_i one spectrum of the blocked arrays (xr, xi). */
    void macBroadcast(float[] accr, float[] acci, int ao, float[] ar, float[] ai, float[] xr, float[] xi, int i) {
        int qa = (i / w) * F * w + i % w;
        for (int f = 0; f < F; f++) {
            float cr = xr[qa + f * w], ci = xi[qa + f * w];
            int o = ao + f * w, r = f * w, l = 0;
            if (Simd.ENABLED) {
                for (; l < w; l += S.length()) {
                    var yr = FloatVector.fromArray(S, ar, r + l);
                    var yi = FloatVector.fromArray(S, ai, r + l);
                    yr.mul(cr).sub(yi.mul(ci)).add(FloatVector.fromArray(S, accr, o + l)).intoArray(accr, o + l);
                    yr.mul(ci).add(yi.mul(cr)).add(FloatVector.fromArray(S, acci, o + l)).intoArray(acci, o + l);
                }
            }
            for (; l < w; l++) {
                float yr = ar[r + l], yi = ai[r + l];
                accr[o + l] += yr * cr - yi * ci;
                acci[o + l] += yr * ci + yi * cr;
            }
        }
    }

    /** Sums the w lanes of each of the F rows of (accR, accI) into (rowR, rowI). */
    void reduceLanes() {
        for (int f = 0; f < F; f++) {
            float sr = 0f, si = 0f;
            for (int l = 0; l < w; l++) {
                sr += accR[f * w + l];
                si += accI[f * w + l];
            }
            rowR[f] = sr;
            rowI[f] = si;
        }
    }

    void forward(MemorySegment out, MemorySegment lse, MemorySegment qkv, MemorySegment lagBias,
                 int b, int h, int T, int C, int H, int N, int t0) {
        begin(T);
        int C3 = 3 * C;
        spectra(qkv, C3, 0, b, h, T, qr, qi);
        spectra(qkv, C3, C, b, h, T, kr, ki);
        spectra(qkv, C3, 2 * C, b, h, T, vr, vi);
        loadBias(lagBias, h);
        float scaleD = (float) (1.0 / (D * Math.sqrt(D)));   // 1/sqrt(D), and 1/D for the unnormalised inverse
        float invD = 1f / D;
        for (int i = t0; i < T; i++) {
            int nbi = i / w + 1, valid = i + 1 - (nbi - 1) * w;   // keys j <= i in the last block
            // pass 1: scores s[t][j] of the blocks holding keys 0..i, -inf past i; their max
            var vmax = FloatVector.broadcast(S, Float.NEGATIVE_INFINITY);
            float max = Float.NEGATIVE_INFINITY;
            for (int jb = 0; jb < nbi; jb++) {
                crossSpectrum(qr, qi, i, kr, ki, jb, s1r, s1i);
                fft.inverse(s1r, s1i, 0, x1, 0, w, zr, zi);
                int live = jb == nbi - 1 ? valid : w;
                for (int t = 0; t < N; t++) {
                    int src = lagRow[t] * w, dst = t * Tp + jb * w;
                    float bt = bias[t];
                    int l = 0;
                    if (Simd.ENABLED) {
                        for (; l < w; l += S.length()) {
                            var sv = FloatVector.fromArray(S, x1, src + l).fma(scaleD, bt)
                                    .blend(Float.NEGATIVE_INFINITY, S.indexInRange(l, live).not());
                            sv.intoArray(sc, dst + l);
                            vmax = vmax.max(sv);
                        }
                    }
                    for (; l < w; l++) {
                        float v = l < live ? x1[src + l] * scaleD + bt : Float.NEGATIVE_INFINITY;
                        sc[dst + l] = v;
                        max = Math.max(max, v);
                    }
                }
            }
            if (Simd.ENABLED) max = Math.max(max, vmax.reduceLanes(VectorOperators.MAX));
            // pass 2: e = exp(s - max) in place (0 past i) and its sum; lse = max + log(sum)
            float sum = 0f;
            for (int t = 0; t < N; t++) sum += expInPlace(sc, t * Tp, nbi * w, max, lanes);
            lse.setAtIndex(FL, ((long) b * H + h) * T + i, (float) (max + Math.log(sum)));
            float inv = 1f / sum;                                  // p = e / sum, applied in pass 3
            // pass 3: ô_i = Σ_jb conj(FFT(p_ij)) ⊙ v̂_j, then one inverse FFT
            Arrays.fill(accR, 0f);
            Arrays.fill(accI, 0f);
            for (int jb = 0; jb < nbi; jb++) {
                placeLags(x1, sc, jb * w, Tp, inv);
                fft.forward(x1, 0, s1r, s1i, 0, w, zr, zi);
                mac(accR, accI, 0, s1r, s1i, 0, vr, vi, jb * F * w, true);
            }
            reduceLanes();
            fft.inverse(rowR, rowI, 0, row, 0, 1, zr, zi);
            long o = ((long) b * T + i) * C + (long) h * D;
            for (int d = 0; d < D; d++) out.setAtIndex(FL, o + d, row[d] * invD);
        }
    }

    /** Rows of x (D rows × w lanes): a·e[t][j0 + l] at row lagRow[t], zero on rows outside L. */
    void placeLags(float[] x, float[] e, int j0, int stride, float a) {
        if (N < D) Arrays.fill(x, 0, D * w, 0f);
        for (int t = 0; t < N; t++) {
            int src = t * stride + j0, dst = lagRow[t] * w, l = 0;
            if (Simd.ENABLED) {
                for (; l < w; l += S.length()) FloatVector.fromArray(S, e, src + l).mul(a).intoArray(x, dst + l);
            }
            for (; l < w; l++) x[dst + l] = e[src + l] * a;
        }
    }

    void backward(MemorySegment dqkv, float[] dbiasOut, int at, MemorySegment dout, MemorySegment out,
                  MemorySegment lse, MemorySegment qkv, MemorySegment lagBias,
                  int b, int h, int T, int C, int H, int N) {
        begin(T);
        int C3 = 3 * C;
        spectra(qkv, C3, 0, b, h, T, qr, qi);
        spectra(qkv, C3, C, b, h, T, kr, ki);
        spectra(qkv, C3, 2 * C, b, h, T, vr, vi);
        spectra(dout, C, 0, b, h, T, gr, gi);
        loadBias(lagBias, h);
        Arrays.fill(accVr, 0f); Arrays.fill(accVi, 0f); Arrays.fill(accKr, 0f); Arrays.fill(accKi, 0f);
        Arrays.fill(dbias, 0f);
        float scale = (float) (1.0 / Math.sqrt(D));
        float scaleD = scale / D, invD = 1f / D;
        for (int i = 0; i < T; i++) {
            int nbi = i / w + 1;
            long go = ((long) b * T + i) * C + (long) h * D;
            float rowDot = 0f;
            for (int d = 0; d < D; d++) rowDot += dout.getAtIndex(FL, go + d) * out.getAtIndex(FL, go + d);
            float logSum = lse.getAtIndex(FL, ((long) b * H + h) * T + i);
            Arrays.fill(accR, 0f);
            Arrays.fill(accI, 0f);
            for (int jb = 0; jb < nbi; jb++) {
                int valid = Math.min(w, i + 1 - jb * w);            // keys j <= i in this block
                crossSpectrum(qr, qi, i, kr, ki, jb, s1r, s1i);     // scores
                fft.inverse(s1r, s1i, 0, x1, 0, w, zr, zi);
                crossSpectrum(gr, gi, i, vr, vi, jb, s2r, s2i);     // g_p
                fft.inverse(s2r, s2i, 0, x2, 0, w, zr, zi);
                softmaxGrad(valid, logSum, rowDot, scaleD, invD);   // x1 <- p rows, x2 <- g_s rows
                fft.forward(x1, 0, s1r, s1i, 0, w, zr, zi);         // p̂
                fft.forward(x2, 0, s2r, s2i, 0, w, zr, zi);         // ĝs
                int kb = jb * F * w;
                macBroadcast(accVr, accVi, kb, s1r, s1i, gr, gi, i);          // ĝv_j += p̂ ⊙ ĝ_i
                macBroadcast(accKr, accKi, kb, s2r, s2i, qr, qi, i);          // ĝk_j += ĝs ⊙ q̂_i
                mac(accR, accI, 0, s2r, s2i, 0, kr, ki, kb, true);            // ĝq_i += conj(ĝs) ⊙ k̂_j
            }
            reduceLanes();
            fft.inverse(rowR, rowI, 0, row, 0, 1, zr, zi);
            long q = ((long) b * T + i) * C3 + (long) h * D;
            for (int d = 0; d < D; d++) add(dqkv, q + d, row[d] * scaleD);
        }
        for (int jb = 0; jb < nb; jb++) {                    // one inverse FFT per key block for g_v, g_k
            fft.inverse(accVr, accVi, jb * F * w, x1, 0, w, zr, zi);
            fft.inverse(accKr, accKi, jb * F * w, x2, 0, w, zr, zi);
            for (int l = 0; l < w && jb * w + l < T; l++) {
                long k = ((long) b * T + jb * w + l) * C3 + C + (long) h * D;
                for (int d = 0; d < D; d++) {
                    add(dqkv, k + d, x2[d * w + l] * scaleD);
                    add(dqkv, k + C + d, x1[d * w + l] * invD);
                }
            }
        }
        for (int t = 0; t < N; t++) {
            float sum = 0f;
            for (int l = 0; l < w; l++) sum += dbias[t * w + l];
            dbiasOut[at + t] = sum;
        }
    }

    /**
     * From the inverse FFTs in x1 (D·scores without scale/bias) and x2 (D·g_p), for one block
     * whose first {@code valid} lanes are keys j <= i: p = exp(s - lse), g_s = p·(g_p - g_o·o);
     * writes p to the lag rows of x1 and g_s to those of x2 (other rows 0) and adds g_s to the
     * bias-gradient lanes.
     */
    void softmaxGrad(int valid, float logSum, float rowDot, float scaleD, float invD) {
        for (int t = 0; t < N; t++) {
            int r = lagRow[t] * w, l = 0;
            float bt = bias[t] - logSum;
            if (Simd.ENABLED) {
                for (; l < w; l += S.length()) {
                    VectorMask<Float> live = S.indexInRange(l, valid);
                    var p = VectorMath.exp(FloatVector.fromArray(S, x1, r + l).fma(scaleD, bt)).blend(0f, live.not());
                    var gs = FloatVector.fromArray(S, x2, r + l).fma(invD, -rowDot).mul(p);
                    p.intoArray(x1, r + l);
                    gs.intoArray(x2, r + l);
                    gs.add(FloatVector.fromArray(S, dbias, t * w + l)).intoArray(dbias, t * w + l);
                }
            }
            for (; l < w; l++) {
                float p = l < valid ? (float) Math.exp(x1[r + l] * scaleD + bt) : 0f;
                float gs = p * (x2[r + l] * invD - rowDot);
                x1[r + l] = p;
                x2[r + l] = gs;
                dbias[t * w + l] += gs;
            }
        }
        if (N < D) {                                           // rows outside L carry nothing
            for (int d = 0; d < D; d++) {
                if (!isLagRow(d)) {
                    Arrays.fill(x1, d * w, d * w + w, 0f);
                    Arrays.fill(x2, d * w, d * w + w, 0f);
                }
            }
        }
    }

    boolean isLagRow(int d) {
        int t = Math.floorMod(d - Correlation.lag(0, N), D);   // lag index whose shift is d mod D
        return t < N;
    }

    /**
     * a[off..off+n) = exp(a - max) (n a multiple of the block width), returns their sum. The
     * accumulator's lanes go through {@code lanes}: inlined into the forward, this method is past the
     * size where C2 still inlines the lane sum, and a vector passed to a call is boxed.
     */
    private static float expInPlace(float[] a, int off, int n, float max, float[] lanes) {
        int i = 0;
        float s = 0f;
        if (Simd.ENABLED) {
            var acc = FloatVector.zero(S);
            for (int bound = S.loopBound(n); i < bound; i += S.length()) {
                var e = VectorMath.exp(FloatVector.fromArray(S, a, off + i).sub(max));
                e.intoArray(a, off + i);
                acc = acc.add(e);
            }
            acc.intoArray(lanes, 0);
            s = VectorMath.sum(lanes, 0);
        }
        for (; i < n; i++) {
            float e = (float) Math.exp(a[off + i] - max);
            a[off + i] = e;
            s += e;
        }
        return s;
    }

    private static void add(MemorySegment s, long i, float x) { s.setAtIndex(FL, i, s.getAtIndex(FL, i) + x); }
}
