package leviathan.kernel;

import static jdk.incubator.vector.VectorOperators.GT;
import static jdk.incubator.vector.VectorOperators.LSHL;
import static jdk.incubator.vector.VectorOperators.LT;
import static leviathan.kernel.Simd.F;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorShuffle;

/**
 * The one copy of each vector helper the kernels share: {@link #exp}, the lane sum {@link #sum}
 * and the lane-wise running max {@link #maxLanes}. Every kernel that needs one of them (softmax,
 * GELU, LayerNorm, cross-entropy, and the direct, GEMM and FFT correlation paths) calls these.
 *
 * <p>Their result does not depend on how the JIT compiled them. {@code lanewise(EXP)},
 * {@code lanewise(TANH)} and {@code reduceLanes(ADD)} give different bits in interpreted or C1 code
 * (one {@code Math.exp}/{@code Math.tanh} per lane, lanes summed in order) than in C2 code (a vector
 * math stub, lanes summed in another order): a kernel's output then changes as it warms up, and two
 * threads can disagree on the same input. These helpers use only correctly rounded lanewise
 * operations (+, −, ×, ÷, fused multiply-add, compares, blends, integer bit operations) and a fixed
 * summation order, so every tier, thread and call gives the same bits.
 */
final class VectorMath {
    private VectorMath() {}

    // Butterfly shuffles for sum: lane i swaps with lane i xor s. Separate static finals (not an
    // array) so C2 sees constant shuffles; steps at or above the lane count stay unused.
    private static final VectorShuffle<Float> X1 = xor(1), X2 = xor(2), X4 = xor(4), X8 = xor(8), X16 = xor(16), X32 = xor(32);

    private static VectorShuffle<Float> xor(int step) {
        return VectorShuffle.fromOp(F, i -> step < F.length() ? i ^ step : i);
    }

    /**
     * The sum of the lanes by a fixed pairwise tree (lanes i and i^(L/2), then i^(L/4), ..., then
     * i^1; lane counts up to 64): the same bits compiled or not, unlike {@code reduceLanes(ADD)},
     * whose order C2 may choose.
     */
    static float sum(FloatVector v) {
        int L = F.length();
        if (L > 32) v = v.add(v.rearrange(X32));
        if (L > 16) v = v.add(v.rearrange(X16));
        if (L > 8) v = v.add(v.rearrange(X8));
        if (L > 4) v = v.add(v.rearrange(X4));
        if (L > 2) v = v.add(v.rearrange(X2));
        if (L > 1) v = v.add(v.rearrange(X1));
        return v.lane(0);
    }

    /**
     * {@link #sum(FloatVector)} of the vector stored at {@code a[offset .. offset + lanes)}: for
     * methods too big for C2 to inline {@code sum} into. A vector passed to a call that is not
     * inlined is boxed (an allocation per call); an array and an index are not, so a caller that
     * stores its accumulator and calls this allocates nothing whether the call is inlined or not.
     */
    static float sum(float[] a, int offset) { return sum(FloatVector.fromArray(F, a, offset)); }

    private static final ThreadLocal<float[]> LANES = ThreadLocal.withInitial(() -> new float[F.length()]);

    /** This thread's scratch of one vector's lanes, for {@link #sum(float[], int)}. */
    static float[] lanes() { return LANES.get(); }

    /**
     * {@code max(acc, x)} per lane, keeping acc where x is NaN: a compare and a blend, where
     * {@code FloatVector.max} (Java's NaN and ±0 rules) takes several instructions on x86.
     */
    static FloatVector maxLanes(FloatVector acc, FloatVector x) { return acc.blend(x, x.compare(GT, acc)); }

    // exp(x) = 2^k · exp(r), k = round(x/ln 2), r = x − k·ln 2 in [−ln2/2, ln2/2] (Cody–Waite:
    // ln 2 split in a short high part, so k·LN2_HI is exact, and a low correction)
    /** The range where 2^k stays a normal float: k in [−126, 127]. */
    static final float EXP_HI = 88.37626f, EXP_LO = -87.33654f;
    /** 1.5·2^23: adding it rounds a float of magnitude below 2^22 to an integer, held in the low mantissa bits. */
    private static final int ROUNDER_BITS = 0x4B400000;
    // Constants as vectors in static finals: C2 loads them as constants, which keeps the node count
    // of a method with an inlined exp (the correlation kernels' softmax loops) low enough that
    // nothing around it stops inlining (a Vector API call that is not inlined boxes its vectors:
    // an allocation per call).
    private static final FloatVector LOG2E = bc(1.44269504088896341f), ROUNDER = bc(12582912f), ONE = bc(1f),
            HI = bc(EXP_HI), MINUS_LN2_HI = bc(-0.693359375f), MINUS_LN2_LO = bc(2.12194440e-4f);
    // exp(r) ≈ 1 + r + r²·P(r) on [−ln2/2, ln2/2], P of degree 5 (Cephes' expf coefficients)
    private static final FloatVector P0 = bc(1.9875691500e-4f), P1 = bc(1.3981999507e-3f), P2 = bc(8.3334519073e-3f),
            P3 = bc(4.1665795894e-2f), P4 = bc(1.6666665459e-1f), P5 = bc(5.0000001201e-1f);

    private static FloatVector bc(float x) { return FloatVector.broadcast(F, x); }

    /**
     * {@code exp(x)} per lane, within 1.5 ulp of the exact value (1.01 measured) for x in
     * {@code [EXP_LO, EXP_HI]}. Outside that range it applies two documented clamps, choices of this
     * function rather than mathematics: below {@code EXP_LO} (where e^x is a subnormal or 0, also for
     * −∞) it returns 0, which is what a softmax weight that small is in float anyway; above
     * {@code EXP_HI} it returns {@code exp(EXP_HI)} (about 2.4e38, finite) instead of +∞, so that
     * GELU's {@code 1/(1 + e)} stays a plain division. NaN gives NaN.
     *
     * <p>Built from fused multiply-adds, multiplies, adds and bit operations (single rounding in
     * every tier, so deterministic; every x86-64 CPU with AVX2 and every AArch64 CPU has FMA in
     * hardware). The clamps are compares and blends: lanes below the range compute garbage (even
     * NaN) that the final blend replaces, and Java's vector min/max, which must order NaN and ±0,
     * cost several instructions each on x86.
     */
    static FloatVector exp(FloatVector x) {
        var xc = x.blend(HI, x.compare(GT, EXP_HI));                  // keeps 2^k a normal float
        var t = xc.fma(LOG2E, ROUNDER);
        var k = t.sub(ROUNDER);                                       // round(x·log2 e), as a float
        var r = k.fma(MINUS_LN2_HI, xc);                              // exact: LN2_HI has few bits
        r = k.fma(MINUS_LN2_LO, r);
        var p = r.fma(P0, P1).fma(r, P2).fma(r, P3).fma(r, P4).fma(r, P5);    // Horner
        var er = p.fma(r.mul(r), r).add(ONE);                         // 1 + r + r²·P(r)
        // 2^k from its bits: the integer k sits in t's low bits; move it to the exponent field
        var twoK = ((IntVector) t.reinterpretAsInts()).sub(ROUNDER_BITS - 127).lanewise(LSHL, 23).reinterpretAsFloats();
        return er.mul((FloatVector) twoK).blend(0f, x.compare(LT, EXP_LO));
    }
}
