package leviathan.kernel;

import static leviathan.testing.Segments.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.testing.Segments;
import org.junit.jupiter.api.Test;

/** The gradient norm's sum of squares and the clip scaling against their scalar references; clipping folded into AdamW/SGD. */
class ClipTest {
    private static final float LR = 1e-3f, B1 = 0.9f, B2 = 0.95f, EPS = 1e-8f;

    private static int[] sizes() {
        return GeluTest.concat(GeluTest.concat(GeluTest.concat(lengths(), Elementwise.BLOCK - 1), Elementwise.BLOCK + 17),
                9 * Elementwise.BLOCK + 5);
    }

    @Test
    void sumOfSquaresMatchesTheScalarReferenceInDouble() {
        var rnd = new SplittableRandom(SEED);
        try (Arena arena = Arena.ofShared()) {
            for (int n : sizes()) {
                MemorySegment x = random(arena, n, rnd, 3);
                double want = Clip.sumOfSquaresScalar(x, n), got = Clip.sumOfSquares(x, n, new double[Clip.partials(n)]);
                double exact = 0;                                 // the same sum, compensated (Kahan), as a third opinion
                double c = 0;
                for (long i = 0; i < n; i++) {
                    double v = x.getAtIndex(FL, i), y = v * v - c, t = exact + y;
                    c = (t - exact) - y;
                    exact = t;
                }
                // recursive summation of n positive terms: relative error at most (n - 1)·2^-53
                double bound = Math.max(1, n) * 0x1p-53 * exact + Double.MIN_NORMAL;
                assertEquals(exact, want, bound, "scalar reference, n=" + n);
                assertEquals(exact, got, bound, "vector, n=" + n);
            }
        }
    }

    @Test
    void sumOfSquaresIsTheSameForAnyThreadCount() {
        var rnd = new SplittableRandom(SEED + 1);
        int n = 9 * Elementwise.BLOCK + 5;
        int before = Parallel.threads();
        try (Arena arena = Arena.ofShared()) {
            MemorySegment x = random(arena, n, rnd, 1);
            double[] p = new double[Clip.partials(n)];
            Parallel.setThreads(1);
            double one = Clip.sumOfSquares(x, n, p);
            Parallel.setThreads(3);
            double three = Clip.sumOfSquares(x, n, p);
            assertEquals(Double.doubleToRawLongBits(one), Double.doubleToRawLongBits(three));
            assertThrows(IllegalArgumentException.class, () -> Clip.sumOfSquares(x, n, new double[1]));
        } finally {
            Parallel.setThreads(before);
        }
    }

    @Test
    void scaleMatchesScalarExactly() {
        var rnd = new SplittableRandom(SEED + 2);
        try (Arena arena = Arena.ofShared()) {
            for (int n : sizes()) {
                MemorySegment x = random(arena, n, rnd, 5), y = copy(arena, x);
                Clip.scale(x, n, 0.37f);
                Clip.scaleScalar(y, 0, n, 0.37f);
                assertSame("n=" + n, x, y, n);
            }
        }
    }

    @Test
    void clippingFoldedIntoTheUpdateEqualsScalingFirst() {
        var rnd = new SplittableRandom(SEED + 3);
        float s = 0.2371f;
        try (Arena arena = Arena.ofShared()) {
            for (int n : GeluTest.concat(lengths(), 210_000)) {
                for (boolean sgd : new boolean[] {false, true}) {
                    MemorySegment p = random(arena, n, rnd, 1), m = random(arena, n, rnd, 0.1), v = random(arena, n, rnd, 0.01);
                    for (long i = 0; i < n; i++) v.setAtIndex(FL, i, Math.abs(v.getAtIndex(FL, i)));
                    MemorySegment p1 = copy(arena, p), m1 = copy(arena, m), v1 = copy(arena, v);
                    MemorySegment p2 = copy(arena, p), m2 = copy(arena, m), v2 = copy(arena, v);
                    for (int step = 1; step <= 3; step++) {
                        MemorySegment g = random(arena, n, rnd, 1), scaled = copy(arena, g);
                        Clip.scale(scaled, n, s);
                        if (sgd) {
                            AdamW.sgdStep(p, g, n, LR, 0.1f, s);
                            AdamW.sgdStep(p1, scaled, n, LR, 0.1f);
                            AdamW.sgdStepScalar(p2, g, 0, n, LR, 0.1f, s);
                        } else {
                            AdamW.step(p, g, m, v, n, LR, B1, B2, EPS, 0.1f, step, s);
                            AdamW.step(p1, scaled, m1, v1, n, LR, B1, B2, EPS, 0.1f, step);
                            AdamW.stepScalar(p2, g, m2, v2, 0, n, LR, B1, B2, EPS, 0.1f, step, s);
                        }
                    }
                    String at = (sgd ? " sgd" : " adamw") + " n=" + n;
                    assertSame("folded vs scaled first" + at, p, p1, n);
                    assertSame("vector vs scalar" + at, p, p2, n);
                    if (!sgd) {
                        assertSame("m" + at, m, m1, n);
                        assertSame("v" + at, v, v2, n);
                    }
                }
            }
        }
    }
}
