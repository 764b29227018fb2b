package leviathan.kernel;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/**
 * Real-input FFT of a power-of-two size {@code D}, run on {@code w} independent signals at once.
 * <pre>
 *   forward:  X[f] = Σ_d x[d]·e^(-2πi·f·d/D),   f in [0, F), F = D/2 + 1   (the other bins are conj(X[D-f]))
 *   inverse:  y[d] = Σ_{f in [0,D)} X[f]·e^(+2πi·f·d/D) = D·x[d]             (unnormalised, as cuFFT)
 * </pre>
 * Layout ("structure of arrays", lanes = signals): a signal block is {@code D} rows of {@code w}
 * floats, {@code x[d·w + l]} is sample d of signal l; a spectrum block is {@code F} rows of
 * {@code w} floats in two arrays, {@code re[f·w + l]} and {@code im[f·w + l]}. Every butterfly is
 * then a vector operation across signals, with no shuffles, whatever the lane count.
 *
 * <p>Method: the D real samples are packed as M = D/2 complex ones, {@code z[n] = x[2n] + i·x[2n+1]},
 * transformed by an iterative radix-2 FFT of size M (input in bit-reversed order), and split into
 * the spectrum of x with {@code X[f] = E[f] + e^(-2πi f/D)·O[f]}, where
 * {@code E = (Z[f] + conj Z[M-f])/2} and {@code O = (Z[f] - conj Z[M-f])/2i} are the spectra of
 * the even and odd samples. The inverse runs the same steps backwards. Cost per signal:
 * {@code 5·M·log2(M)} flops for the butterflies plus about {@code 12·M} for the split, i.e. about
 * 1,200 flops at D = 64 (a direct DFT would take 2·D·F·2 = 8,448).
 *
 * <p>Only powers of two are supported ({@link #checkSize}); any other size is refused with a message
 * that names the other implementations. Instances are immutable (twiddle tables) and thread-safe;
 * callers pass their own scratch arrays.
 */
public final class Fft {

    private static final VectorSpecies<Float> F = Simd.F;

    /** Signal length, complex points of the packed transform, spectrum bins. */
    private final int D, M, bins;
    /** Bit reversal of [0, M). */
    private final int[] rev;
    /** Butterfly twiddles of the size-M transform: index half + k holds e^(-2πi·k/(2·half)). */
    private final float[] twr, twi;
    /** Split rotation e^(-2πi·f/D) for f in [0, F). */
    private final float[] rotr, roti;

    /** Plans transforms of length {@code D} (a power of two, >= 1). */
    public Fft(int D) {
        checkSize(D, "FFT");
        this.D = D;
        this.M = Math.max(1, D / 2);
        this.bins = D / 2 + 1;
        rev = new int[M];
        int bits = Integer.numberOfTrailingZeros(M);
        for (int n = 0; n < M; n++) rev[n] = bits == 0 ? 0 : Integer.reverse(n) >>> (32 - bits);
        twr = new float[M];
        twi = new float[M];
        for (int half = 1; half < M; half <<= 1) {
            for (int k = 0; k < half; k++) {
                double a = -Math.PI * k / half;
                twr[half + k] = (float) Math.cos(a);
                twi[half + k] = (float) Math.sin(a);
            }
        }
        rotr = new float[bins];
        roti = new float[bins];
        for (int f = 0; f < bins; f++) {
            double a = -2 * Math.PI * f / D;
            rotr[f] = (float) Math.cos(a);
            roti[f] = (float) Math.sin(a);
        }
    }

    /** True when {@code D} is a size this class transforms (a power of two). */
    public static boolean supports(int D) { return D >= 1 && Integer.bitCount(D) == 1; }

    /**
     * Refuses sizes other than powers of two, naming the caller ({@code what}) and the way out.
     * @throws IllegalArgumentException when {@code D} is not a power of two
     */
    public static void checkSize(int D, String what) {
        if (!supports(D)) {
            throw new IllegalArgumentException(what + " needs a power-of-two head dimension (n_embd / n_head), got " + D
                    + "; choose n_embd and n_head so that their ratio is 1, 2, 4, ..., 64, ..., or use the direct or GEMM"
                    + " correlation, which take any head dimension");
        }
    }

    /** Signal length D. */
    public int size() { return D; }

    /** Spectrum bins F = D/2 + 1 (bins 0 and D/2 are real). */
    public int bins() { return bins; }

    /** Length of each scratch array the transforms need for {@code w} signals: {@code max(1, D/2)·w}. */
    public int scratch(int w) { return M * w; }

    /**
     * Forward transform of {@code w} signals: {@code x[xo + d·w + l]} to
     * {@code re/im[so + f·w + l]}. {@code zr, zi} are scratch of {@link #scratch(int)} floats.
     */
    public void forward(float[] x, int xo, float[] re, float[] im, int so, int w, float[] zr, float[] zi) {
        if (D == 1) {                                       // X[0] = x[0]
            System.arraycopy(x, xo, re, so, w);
            java.util.Arrays.fill(im, so, so + w, 0f);
            return;
        }
        if (M == 1) {                                       // pass 1: z[rev n] = x[2n] + i·x[2n+1] ...
            copy(x, xo, zr, 0, w);
            copy(x, xo + w, zi, 0, w);
        } else {                                            // ... fused with the first butterfly stage:
            int h = M / 2;                                  // rev n and rev(n + M/2) = rev n + 1 are its pairs
            for (int n = 0; n < h; n++) {
                int a = rev[n] * w;
                loadAddSub(x, xo + 2 * n * w, xo + 2 * (n + h) * w, zr, a, a + w, w);
                loadAddSub(x, xo + (2 * n + 1) * w, xo + (2 * (n + h) + 1) * w, zi, a, a + w, w);
            }
        }
        butterflies(zr, zi, w, false, 2);                   // pass 2: Z = FFT_M(z), from the second stage
        for (int f = 0; f < bins; f++) {                    // pass 3: split into X
            split(zr, zi, (f % M) * w, ((M - f) % M) * w, re, im, so + f * w, rotr[f], roti[f], w);
        }
    }

    /**
     * Inverse transform of {@code w} spectra: {@code re/im[so + f·w + l]} to {@code D·x} at
     * {@code x[xo + d·w + l]} (unnormalised). The imaginary parts of bins 0 and D/2 are ignored.
     */
    public void inverse(float[] re, float[] im, int so, float[] x, int xo, int w, float[] zr, float[] zi) {
        if (D == 1) {
            System.arraycopy(re, so, x, xo, w);
            return;
        }
        for (int f = 0; f < M; f++) {                       // pass 1: Z[f] = E + i·O, stored at rev f
            merge(re, im, so + f * w, so + (M - f) * w, zr, zi, rev[f] * w, rotr[f], roti[f], w);
        }
        butterflies(zr, zi, w, true, 1);                    // pass 2: z = M·IFFT_M(Z)
        for (int n = 0; n < M; n++) {                       // pass 3: x[2n] = Re z, x[2n+1] = Im z
            copy(zr, n * w, x, xo + 2 * n * w, w);
            copy(zi, n * w, x, xo + (2 * n + 1) * w, w);
        }
    }

    /**
     * In-place radix-2 decimation-in-time FFT of size M on bit-reversed rows (conjugate twiddles
     * when inverse), from the stage whose butterflies span {@code firstHalf} rows.
     */
    private void butterflies(float[] zr, float[] zi, int w, boolean inverse, int firstHalf) {
        float sign = inverse ? -1f : 1f;
        for (int half = firstHalf; half < M; half <<= 1) {
            for (int start = 0; start < M; start += 2 * half) {
                int a0 = start * w;
                addSub(zr, zi, a0, a0 + half * w, w);       // k = 0: twiddle 1
                for (int k = 1; k < half; k++) {
                    int a = (start + k) * w;
                    rotateAddSub(zr, zi, a, a + half * w, twr[half + k], sign * twi[half + k], w);
                }
            }
        }
    }

    /** dst[o..o+w) = src[i..i+w). Small row copies: a vector loop beats System.arraycopy's call here. */
    static void copy(float[] src, int i, float[] dst, int o, int w) {
        int l = 0;
        if (Simd.ENABLED) {
            for (int bound = F.loopBound(w); l < bound; l += F.length()) FloatVector.fromArray(F, src, i + l).intoArray(dst, o + l);
        }
        for (; l < w; l++) dst[o + l] = src[i + l];
    }

    /** (dst[a], dst[b]) = (src[p] + src[q], src[p] - src[q]) on w lanes. */
    private static void loadAddSub(float[] src, int p, int q, float[] dst, int a, int b, int w) {
        int l = 0;
        if (Simd.ENABLED) {
            for (int bound = F.loopBound(w); l < bound; l += F.length()) {
                var u = FloatVector.fromArray(F, src, p + l);
                var v = FloatVector.fromArray(F, src, q + l);
                u.add(v).intoArray(dst, a + l);
                u.sub(v).intoArray(dst, b + l);
            }
        }
        for (; l < w; l++) {
            float u = src[p + l], v = src[q + l];
            dst[a + l] = u + v;
            dst[b + l] = u - v;
        }
    }

    /** (a, b) <- (a + b, a - b) on w lanes. */
    private static void addSub(float[] zr, float[] zi, int a, int b, int w) {
        int l = 0;
        if (Simd.ENABLED) {
            for (int bound = F.loopBound(w); l < bound; l += F.length()) {
                var ar = FloatVector.fromArray(F, zr, a + l);
                var ai = FloatVector.fromArray(F, zi, a + l);
                var br = FloatVector.fromArray(F, zr, b + l);
                var bi = FloatVector.fromArray(F, zi, b + l);
                ar.add(br).intoArray(zr, a + l);
                ai.add(bi).intoArray(zi, a + l);
                ar.sub(br).intoArray(zr, b + l);
                ai.sub(bi).intoArray(zi, b + l);
            }
        }
        for (; l < w; l++) {
            float ar = zr[a + l], ai = zi[a + l], br = zr[b + l], bi = zi[b + l];
            zr[a + l] = ar + br;
            zi[a + l] = ai + bi;
            zr[b + l] = ar - br;
            zi[b + l] = ai - bi;
        }
    }

    /** t = c·b; (a, b) <- (a + t, a - t) on w lanes, c = cr + i·ci. */
    private static void rotateAddSub(float[] zr, float[] zi, int a, int b, float cr, float ci, int w) {
        int l = 0;
        if (Simd.ENABLED) {
            for (int bound = F.loopBound(w); l < bound; l += F.length()) {
                var br = FloatVector.fromArray(F, zr, b + l);
                var bi = FloatVector.fromArray(F, zi, b + l);
                var tr = br.mul(cr).sub(bi.mul(ci));
                var ti = br.mul(ci).add(bi.mul(cr));
                var ar = FloatVector.fromArray(F, zr, a + l);
                var ai = FloatVector.fromArray(F, zi, a + l);
                ar.add(tr).intoArray(zr, a + l);
                ai.add(ti).intoArray(zi, a + l);
                ar.sub(tr).intoArray(zr, b + l);
                ai.sub(ti).intoArray(zi, b + l);
            }
        }
        for (; l < w; l++) {
            float br = zr[b + l], bi = zi[b + l];
            float tr = br * cr - bi * ci, ti = br * ci + bi * cr;
            float ar = zr[a + l], ai = zi[a + l];
            zr[a + l] = ar + tr;
            zi[a + l] = ai + ti;
            zr[b + l] = ar - tr;
            zi[b + l] = ai - ti;
        }
    }

    /**
     * One bin of the forward split: A = Z[f] (rows at p), Bc = conj Z[M-f] (rows at q),
     * E = (A + Bc)/2, O = (A - Bc)/2i, X[f] = E + (cr + i·ci)·O.
     */
    private static void split(float[] zr, float[] zi, int p, int q, float[] re, float[] im, int o,
                              float cr, float ci, int w) {
        int l = 0;
        if (Simd.ENABLED) {
            for (int bound = F.loopBound(w); l < bound; l += F.length()) {
                var ar = FloatVector.fromArray(F, zr, p + l);
                var ai = FloatVector.fromArray(F, zi, p + l);
                var br = FloatVector.fromArray(F, zr, q + l);
                var bi = FloatVector.fromArray(F, zi, q + l);
                var er = ar.add(br).mul(0.5f);
                var ei = ai.sub(bi).mul(0.5f);
                var or = ai.add(bi).mul(0.5f);
                var oi = br.sub(ar).mul(0.5f);
                er.add(or.mul(cr)).sub(oi.mul(ci)).intoArray(re, o + l);
                ei.add(oi.mul(cr)).add(or.mul(ci)).intoArray(im, o + l);
            }
        }
        for (; l < w; l++) {
            float ar = zr[p + l], ai = zi[p + l], br = zr[q + l], bi = zi[q + l];
            float er = 0.5f * (ar + br), ei = 0.5f * (ai - bi);
            float or = 0.5f * (ai + bi), oi = 0.5f * (br - ar);
            re[o + l] = er + or * cr - oi * ci;
            im[o + l] = ei + oi * cr + or * ci;
        }
    }

    /**
     * One bin of the inverse merge: with X = X[f] (rows at p) and Yc = conj X[M-f] (rows at q),
     * E = X + Yc, O = (X - Yc)·conj(cr + i·ci), Z[f] = E + i·O (written at rows z).
     */
    private static void merge(float[] re, float[] im, int p, int q, float[] zr, float[] zi, int z,
                              float cr, float ci, int w) {
        int l = 0;
        if (Simd.ENABLED) {
            for (int bound = F.loopBound(w); l < bound; l += F.length()) {
                var xr = FloatVector.fromArray(F, re, p + l);
                var xi = FloatVector.fromArray(F, im, p + l);
                var yr = FloatVector.fromArray(F, re, q + l);
                var yi = FloatVector.fromArray(F, im, q + l);
                var er = xr.add(yr);
                var ei = xi.sub(yi);
                var dr = xr.sub(yr);
                var di = xi.add(yi);
                var or = dr.mul(cr).add(di.mul(ci));
                var oi = di.mul(cr).sub(dr.mul(ci));
                er.sub(oi).intoArray(zr, z + l);
                ei.add(or).intoArray(zi, z + l);
            }
        }
        for (; l < w; l++) {
            float xr = re[p + l], xi = im[p + l], yr = re[q + l], yi = im[q + l];
            float er = xr + yr, ei = xi - yi, dr = xr - yr, di = xi + yi;
            float or = dr * cr + di * ci, oi = di * cr - dr * ci;
            zr[z + l] = er - oi;
            zi[z + l] = ei + or;
        }
    }

    /** Reference DFT in double, O(D²), any D: {@code re/im[f]} for f in [0, D/2]. For tests. */
    public static void dftScalar(double[] x, double[] re, double[] im) {
        int n = x.length;
        for (int f = 0; f <= n / 2; f++) {
            double sr = 0, si = 0;
            for (int d = 0; d < n; d++) {
                double a = -2 * Math.PI * ((long) f * d % n) / n;
                sr += x[d] * Math.cos(a);
                si += x[d] * Math.sin(a);
            }
            re[f] = sr;
            im[f] = si;
        }
    }
}
