package leviathan.kernel;

import static leviathan.kernel.Simd.F;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Arrays;
import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/**
 * The shared vector helpers: {@link VectorMath#exp} against {@link Math#exp} inside its range and
 * its two documented clamps outside it, the lane sum, and the lane-wise max.
 */
class VectorMathTest {
    private static float ulp(double x) { return Math.ulp((float) x); }

    private static float exp1(float x) {
        float[] v = new float[F.length()];
        Arrays.fill(v, x);
        return VectorMath.exp(FloatVector.fromArray(F, v, 0)).lane(0);
    }

    @Test
    void expIsWithinOneAndAHalfUlpsOverTheNormalRange() {
        var rnd = new SplittableRandom(1337);
        float[] x = new float[F.length()];
        double worst = 0;
        for (int it = 0; it < 20_000; it++) {
            for (int i = 0; i < x.length; i++) x[i] = (float) rnd.nextDouble(VectorMath.EXP_LO, VectorMath.EXP_HI);
            if (it % 2 == 0) for (int i = 0; i < x.length; i++) x[i] /= 40;       // many near 0, as softmax gives
            float[] e = VectorMath.exp(FloatVector.fromArray(F, x, 0)).toArray();
            for (int i = 0; i < x.length; i++) {
                double ref = Math.exp(x[i]);
                worst = Math.max(worst, Math.abs(e[i] - ref) / ulp(ref));
            }
        }
        assertTrue(worst <= 1.5, "worst error " + worst + " ulp");
    }

    @Test
    void expOfExactValues() {
        assertEquals(1f, exp1(0f), "exp(0)");
        assertEquals(1f, exp1(-0f), "exp(-0)");
        assertEquals((float) Math.E, exp1(1f), ulp(Math.E), "exp(1)");
        assertTrue(Float.isNaN(exp1(Float.NaN)), "exp(NaN)");
    }

    /**
     * Documented clamp (not mathematics): below {@code EXP_LO}, where e^x is a subnormal or 0 in
     * float, exp returns exactly 0 (a softmax weight that small is 0 anyway); −∞ gives 0 too.
     * Swept across the boundary, every lane either underflows to 0 or is accurate.
     */
    @Test
    void documentedClampBelowTheRangeGivesZero() {
        for (float x : new float[] {Float.NEGATIVE_INFINITY, -1000f, -88f, Math.nextDown(VectorMath.EXP_LO)}) {
            assertEquals(0f, exp1(x), "exp(" + x + ") clamps to 0");
        }
        for (int k = 0; k < 10_000; k++) {
            float x = -100f + 15f * k / 10_000f;                      // [-100, -85): across EXP_LO
            float e = exp1(x);
            if (x < VectorMath.EXP_LO) assertEquals(0f, e, "exp(" + x + ")");
            else assertEquals(Math.exp(x), e, 1.5 * Math.ulp(e), "exp(" + x + ")");
        }
    }

    /**
     * Documented clamp (not mathematics): above {@code EXP_HI} exp returns {@code exp(EXP_HI)}, about
     * 2.4e38 and finite, instead of +∞, so that GELU's {@code 1/(1 + e)} never meets infinity.
     */
    @Test
    void documentedClampAboveTheRangeSaturatesAtExpOfTheBound() {
        float top = exp1(VectorMath.EXP_HI);
        assertEquals(Math.exp(VectorMath.EXP_HI), top, 1.5 * Math.ulp(top));
        for (float x : new float[] {Math.nextUp(VectorMath.EXP_HI), 89f, 1000f, Float.POSITIVE_INFINITY}) {
            assertEquals(top, exp1(x), "exp(" + x + ") clamps to exp(EXP_HI)");
        }
    }

    @Test
    void sumAddsEveryLane() {
        float[] x = new float[F.length()];
        for (int i = 0; i < x.length; i++) x[i] = i + 1;
        assertEquals(x.length * (x.length + 1) / 2f, VectorMath.sum(FloatVector.fromArray(F, x, 0)));   // exact in float
    }

    /** The pairwise tree's order: lanes i and i^(L/2) first, then i^(L/4), ..., then i^1. */
    @Test
    void sumUsesTheFixedPairwiseOrder() {
        var rnd = new SplittableRandom(5);
        int L = F.length();
        float[] x = new float[L];
        for (int it = 0; it < 1000; it++) {
            for (int i = 0; i < L; i++) x[i] = (float) (rnd.nextGaussian() * Math.pow(10, rnd.nextInt(-3, 4)));
            float[] v = x.clone();
            for (int step = L / 2; step >= 1; step /= 2) {
                float[] next = new float[L];
                for (int i = 0; i < L; i++) next[i] = v[i] + v[i ^ step];
                v = next;
            }
            assertEquals(Float.floatToRawIntBits(v[0]), Float.floatToRawIntBits(VectorMath.sum(FloatVector.fromArray(F, x, 0))));
        }
    }

    @Test
    void maxLanesKeepsTheLargerAndIgnoresNaN() {
        int L = F.length();
        float[] a = new float[L], b = new float[L];
        for (int i = 0; i < L; i++) {
            a[i] = i % 2 == 0 ? 1f : Float.NEGATIVE_INFINITY;
            b[i] = i % 3 == 0 ? Float.NaN : i;
        }
        float[] m = VectorMath.maxLanes(FloatVector.fromArray(F, a, 0), FloatVector.fromArray(F, b, 0)).toArray();
        for (int i = 0; i < L; i++) assertEquals(Float.isNaN(b[i]) ? a[i] : Math.max(a[i], b[i]), m[i], "lane " + i);
    }
}
