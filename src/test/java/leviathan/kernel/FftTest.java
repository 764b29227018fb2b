package leviathan.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class FftTest {

    private static final int[] SIZES = {1, 2, 4, 8, 16, 32, 64, 128, 256};

    private static int[] widths() {
        int L = Simd.lanes();
        return new int[] {1, 3, L - 1, L, L + 1, 3 * L + 5};
    }

    @Test
    void forwardMatchesDoubleDft() {
        SplittableRandom r = new SplittableRandom(1337);
        for (int D : SIZES) {
            Fft fft = new Fft(D);
            int F = fft.bins();
            for (int w : widths()) {
                float[] x = new float[D * w];
                for (int i = 0; i < x.length; i++) x[i] = (float) r.nextDouble(-1, 1);
                float[] re = new float[F * w + 3], im = new float[F * w + 3];
                fft.forward(x, 0, re, im, 3, w, new float[fft.scratch(w)], new float[fft.scratch(w)]);
                double worst = 0;
                String where = "";
                for (int l = 0; l < w; l++) {
                    double[] xs = new double[D], er = new double[F], ei = new double[F];
                    for (int d = 0; d < D; d++) xs[d] = x[d * w + l];
                    Fft.dftScalar(xs, er, ei);
                    for (int f = 0; f < F; f++) {
                        double e = Math.max(Math.abs(re[3 + f * w + l] - er[f]), Math.abs(im[3 + f * w + l] - ei[f]));
                        if (e > worst) { worst = e; where = "D=" + D + " w=" + w + " lane " + l + " bin " + f; }
                    }
                }
                // float32 butterflies: error grows like eps·sqrt(D)·log2(D) on inputs of size 1
                assertTrue(worst <= 2e-6 * Math.sqrt(D) * (1 + Math.log(D)), "worst error " + worst + " at " + where);
            }
        }
    }

    @Test
    void inverseOfForwardIsDTimesInput() {
        SplittableRandom r = new SplittableRandom(7);
        for (int D : SIZES) {
            Fft fft = new Fft(D);
            for (int w : widths()) {
                float[] x = new float[D * w], y = new float[D * w + 5];
                for (int i = 0; i < x.length; i++) x[i] = (float) r.nextDouble(-1, 1);
                float[] re = new float[fft.bins() * w], im = new float[fft.bins() * w];
                float[] zr = new float[fft.scratch(w)], zi = new float[fft.scratch(w)];
                fft.forward(x, 0, re, im, 0, w, zr, zi);
                fft.inverse(re, im, 0, y, 5, w, zr, zi);
                for (int i = 0; i < x.length; i++) {
                    // round trip through two float32 transforms: relative error ~ eps·log2(D)
                    assertEquals(x[i], y[5 + i] / D, 3e-6 * (1 + Math.log(D)), "D=" + D + " w=" + w + " index " + i);
                }
            }
        }
    }

    /**
     * The vector loops of the transforms against their scalar tails, lane by lane: with
     * w = 3·lanes + 5 signals, lanes [0, 3·lanes) go through the vector loops and the last 5 through
     * the scalar tail; each is compared with a width-1 call on the same signal, which runs only the
     * scalar code (width 1 is below one vector). The two paths do the same operations in the same
     * order (no fused multiply-add in either), so they must agree to the bit, forward and inverse.
     * Under {@code -Dleviathan.scalar=true} every lane is scalar and the comparison is trivial.
     */
    @Test
    void vectorLanesAgreeWithTheScalarPathBitForBit() {
        SplittableRandom r = new SplittableRandom(3);
        int L = Simd.lanes(), w = 3 * L + 5;
        for (int D : new int[] {2, 8, 64}) {
            Fft fft = new Fft(D);
            int Fb = fft.bins();
            float[] x = new float[D * w];
            for (int i = 0; i < x.length; i++) x[i] = (float) r.nextDouble(-1, 1);
            float[] re = new float[Fb * w], im = new float[Fb * w], y = new float[D * w];
            float[] zr = new float[fft.scratch(w)], zi = new float[fft.scratch(w)];
            fft.forward(x, 0, re, im, 0, w, zr, zi);
            fft.inverse(re, im, 0, y, 0, w, zr, zi);
            float[] one = new float[D], r1 = new float[Fb], i1 = new float[Fb], y1 = new float[D];
            float[] zr1 = new float[fft.scratch(1)], zi1 = new float[fft.scratch(1)];
            for (int l = 0; l < w; l++) {
                for (int d = 0; d < D; d++) one[d] = x[d * w + l];
                fft.forward(one, 0, r1, i1, 0, 1, zr1, zi1);
                for (int f = 0; f < Fb; f++) {
                    String where = "D=" + D + " lane " + l + (l < 3 * L ? " (vector)" : " (tail)") + " bin " + f;
                    assertEquals(Float.floatToRawIntBits(r1[f]), Float.floatToRawIntBits(re[f * w + l]), "re " + where);
                    assertEquals(Float.floatToRawIntBits(i1[f]), Float.floatToRawIntBits(im[f * w + l]), "im " + where);
                }
                for (int f = 0; f < Fb; f++) {            // the inverse of the wide call's spectrum, alone
                    r1[f] = re[f * w + l];
                    i1[f] = im[f * w + l];
                }
                fft.inverse(r1, i1, 0, y1, 0, 1, zr1, zi1);
                for (int d = 0; d < D; d++) {
                    assertEquals(Float.floatToRawIntBits(y1[d]), Float.floatToRawIntBits(y[d * w + l]),
                            "inverse D=" + D + " lane " + l + " sample " + d);
                }
            }
        }
    }

    @Test
    void refusesOtherSizesWithAClearMessage() {
        for (int D : new int[] {0, 3, 6, 12, 48, 96}) {
            assertFalse(Fft.supports(D));
            var e = assertThrows(IllegalArgumentException.class, () -> new Fft(D));
            assertTrue(e.getMessage().contains("power-of-two") && e.getMessage().contains("got " + D), e.getMessage());
        }
        assertTrue(Fft.supports(1) && Fft.supports(64) && Fft.supports(1024));
    }
}
