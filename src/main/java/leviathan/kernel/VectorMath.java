package leviathan.kernel;

import static jdk.incubator.vector.VectorOperators.LSHL;
import static leviathan.kernel.Simd.F;

import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.IntVector;
import jdk.incubator.vector.VectorShuffle;

/**
 * Vector building blocks whose result does not depend on how the JIT compiled them.
 *
 * <p>{@code lanewise(EXP)}, {@code lanewise(TANH)} and {@code reduceLanes(ADD)} give different bits
 * in interpreted or C1 code (one {@code Math.exp}/{@code Math.tanh} per lane, lanes summed in order)
 * than in C2 code (a vector math stub, lanes summed in another order): a kernel's output then
 * changes as it warms up, and two threads can disagree on the same input. These helpers use only
 * correctly rounded lanewise operations (+, −, ×, ÷, min, max, compares, integer bit operations) and
 * a fixed summation order, so every tier, thread and call gives the same bits.
 */
final class VectorMath {
    private VectorMath() {}

    // Butterfly shuffles for sum: lane i swaps with lane i xor s. Separate static finals (not an
    // array) so C2 sees constant shuffles; steps at or above the lane count stay unused.
    private static final VectorShuffle<Float> X1 = xor(1), X2 = xor(2), X4 = xor(4), X8 = xor(8), X16 = xor(16), X32 = xor(32);

    private static VectorShuffle<Float> xor(int step) {
        return VectorShuffle.fromOp(F, i -> step < F.length() ? i ^ step : i);
    }

    /** The sum of the lanes, in a fixed pairwise order (lane counts up to 64). */
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

    // exp(x) = 2^k · exp(r), k = round(x/ln 2), r = x − k·ln 2 in [−ln2/2, ln2/2] (Cody–Waite:
    // ln 2 split in a short high part, so k·LN2_HI is exact, and a low correction)
    private static final float LOG2E = 1.44269504088896341f;
    private static final float LN2_HI = 0.693359375f;
    private static final float LN2_LO = -2.12194440e-4f;
    /** 1.5·2^23: adding it rounds a float of magnitude below 2^22 to an integer, held in the low mantissa bits. */
    private static final float ROUNDER = 12582912f;
    private static final int ROUNDER_BITS = 0x4B400000;
    /** The range where 2^k stays a normal float: k in [−126, 127]. */
    static final float EXP_HI = 88.37626f, EXP_LO = -87.33654f;
    // exp(r) ≈ 1 + r + r²·P(r) on [−ln2/2, ln2/2], P of degree 5 (Cephes' expf coefficients)
    private static final float P0 = 1.9875691500e-4f, P1 = 1.3981999507e-3f, P2 = 8.3334519073e-3f,
            P3 = 4.1665795894e-2f, P4 = 1.6666665459e-1f, P5 = 5.0000001201e-1f;

    /**
     * {@code exp(x)} per lane, within 1.5 ulp of the exact value (1.01 measured) for x in {@code [EXP_LO, EXP_HI]};
     * 0 below that range (also for −∞), {@code exp(EXP_HI)} (about 2.4e38, finite) above it, NaN for NaN.
     * Uses fused multiply-adds (single rounding in every tier, so still deterministic; every x86-64
     * CPU with AVX2 and every AArch64 CPU has them in hardware).
     */
    static FloatVector exp(FloatVector x) {
        var xc = x.max(EXP_LO).min(EXP_HI);                         // keeps 2^k a normal float
        var t = xc.fma(LOG2E, ROUNDER);
        var k = t.sub(ROUNDER);                                     // round(x·log2 e), as a float
        var r = k.fma(c(-LN2_HI), xc);                               // exact: LN2_HI has few bits
        r = k.fma(c(-LN2_LO), r);
        var p = r.fma(P0, P1).fma(r, c(P2)).fma(r, c(P3)).fma(r, c(P4)).fma(r, c(P5));    // Horner
        var er = p.fma(r.mul(r), r).add(1f);
        // 2^k from its bits: the integer k sits in t's low bits; move it to the exponent field
        var twoK = ((IntVector) t.reinterpretAsInts()).sub(ROUNDER_BITS - 127).lanewise(LSHL, 23).reinterpretAsFloats();
        return er.mul((FloatVector) twoK).blend(0f, x.lt(EXP_LO));
    }

    private static FloatVector c(float value) { return FloatVector.broadcast(F, value); }
}
