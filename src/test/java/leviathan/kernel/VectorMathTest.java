package leviathan.kernel;

import static leviathan.kernel.Simd.F;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

class VectorMathTest {
    private static float ulp(double x) { return Math.ulp((float) x); }

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
    void expEdgeCases() {
        float[] x = new float[F.length()];
        float[][] cases = {
                {0f, 1f}, {-0f, 1f}, {Float.NEGATIVE_INFINITY, 0f}, {-1000f, 0f}, {-88f, 0f}, {1f, (float) Math.E},
        };
        for (float[] c : cases) {
            java.util.Arrays.fill(x, c[0]);
            float e = VectorMath.exp(FloatVector.fromArray(F, x, 0)).lane(0);
            assertEquals(c[1], e, ulp(c[1]), "exp(" + c[0] + ")");
        }
        java.util.Arrays.fill(x, Float.NaN);
        assertTrue(Float.isNaN(VectorMath.exp(FloatVector.fromArray(F, x, 0)).lane(0)), "exp(NaN)");
        java.util.Arrays.fill(x, 1000f);
        assertTrue(Float.isFinite(VectorMath.exp(FloatVector.fromArray(F, x, 0)).lane(0)), "exp(1000) saturates");
    }

    @Test
    void sumAddsEveryLane() {
        float[] x = new float[F.length()];
        for (int i = 0; i < x.length; i++) x[i] = i + 1;
        assertEquals(x.length * (x.length + 1) / 2f, VectorMath.sum(FloatVector.fromArray(F, x, 0)));   // exact in float
    }
}
