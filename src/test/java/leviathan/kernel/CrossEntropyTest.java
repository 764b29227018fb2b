package leviathan.kernel;

import static leviathan.testing.Close.assertClose;
import static leviathan.testing.Segments.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.testing.Segments;
import org.junit.jupiter.api.Test;

class CrossEntropyTest {
    private static final int V = 65, ROWS = 768;        // the real vocabulary and B·T

    /** -log softmax(logits[r])[t], in double from the float logits. */
    private static double lossOfRow(double[] logits, int r, int V, int t) {
        double max = Double.NEGATIVE_INFINITY, sum = 0;
        for (int v = 0; v < V; v++) max = Math.max(max, logits[r * V + v]);
        for (int v = 0; v < V; v++) sum += Math.exp(logits[r * V + v] - max);
        return Math.log(sum) + max - logits[r * V + t];
    }

    @Test
    void forwardMatchesScalar() {
        var rnd = new SplittableRandom(SEED);
        try (Arena arena = Arena.ofShared()) {
            for (int V : widths()) {
                for (int rows : new int[] {1, 7, V == CrossEntropyTest.V ? ROWS : 3}) {
                    long n = (long) rows * V;
                    MemorySegment logits = random(arena, n, rnd, 6), targets = tokens(arena, rows, V, rnd);
                    MemorySegment probs = floats(arena, n), losses = floats(arena, rows);
                    MemorySegment probs0 = floats(arena, n), losses0 = floats(arena, rows);
                    double total = CrossEntropy.forward(losses, probs, logits, targets, rows, V);
                    double total0 = CrossEntropy.forwardScalar(losses0, probs0, logits, targets, rows, V);
                    String at = " rows=" + rows + " V=" + V;
                    // vector exp within ~1 ulp of Math.exp, sums in another order
                    assertClose("probs" + at, probs, probs0, n, 1e-7, 1e-5);
                    assertClose("losses" + at, losses, losses0, rows, 1e-6, 1e-5);
                    assertEquals(total0, total, 1e-6 * rows + 1e-5 * Math.abs(total0), "total" + at);  // as losses, summed
                }
            }
        }
    }

    @Test
    void probsMayAliasLogits() {
        var rnd = new SplittableRandom(SEED + 1);
        try (Arena arena = Arena.ofShared()) {
            long n = (long) ROWS * V;
            MemorySegment logits = random(arena, n, rnd, 6), targets = tokens(arena, ROWS, V, rnd);
            MemorySegment probs = floats(arena, n), losses = floats(arena, ROWS), inPlaceLosses = floats(arena, ROWS);
            double total = CrossEntropy.forward(losses, probs, logits, targets, ROWS, V);
            double inPlace = CrossEntropy.forward(inPlaceLosses, logits, logits, targets, ROWS, V);
            assertSame("probs", logits, probs, n);
            assertSame("losses", inPlaceLosses, losses, ROWS);
            assertEquals(total, inPlace);
        }
    }

    @Test
    void finiteAndCorrectForHugeLogits() {
        var rnd = new SplittableRandom(SEED + 2);
        for (int V : new int[] {V, 3 * Simd.lanes() + 5}) {
            int rows = 9;
            long n = (long) rows * V;
            try (Arena arena = Arena.ofShared()) {
                MemorySegment logits = random(arena, n, rnd, 1e4), targets = tokens(arena, rows, V, rnd);
                MemorySegment probs = floats(arena, n), losses = floats(arena, rows), dlogits = floats(arena, n);
                double[] l = toDoubles(logits, n);
                double total = CrossEntropy.forward(losses, probs, logits, targets, rows, V);
                CrossEntropy.backward(dlogits, probs, targets, 1f / rows, rows, V);
                double expectTotal = 0;
                for (int r = 0; r < rows; r++) {
                    double expect = lossOfRow(l, r, V, targets.getAtIndex(I32, r));
                    float got = losses.getAtIndex(FL, r);
                    assertTrue(Float.isFinite(got), "loss of row " + r + " is " + got);
                    // float rounding of a loss of up to ~2e4, plus the float sum of exps
                    assertEquals(expect, got, 1e-5 + 1e-6 * expect, "loss of row " + r);
                    expectTotal += expect;
                }
                assertEquals(expectTotal, total, 1e-4 + 1e-6 * expectTotal);
                for (long i = 0; i < n; i++) {
                    assertTrue(Float.isFinite(probs.getAtIndex(FL, i)), "prob " + i);
                    assertTrue(Float.isFinite(dlogits.getAtIndex(FL, i)), "dlogit " + i);
                }
            }
        }
    }

    @Test
    void backwardMatchesScalarExactly() {
        var rnd = new SplittableRandom(SEED + 3);
        try (Arena arena = Arena.ofShared()) {
            for (int V : widths()) {
                int rows = V == CrossEntropyTest.V ? ROWS : 5;
                long n = (long) rows * V;
                MemorySegment probs = random(arena, n, rnd, 1), targets = tokens(arena, rows, V, rnd);
                MemorySegment d = random(arena, n, rnd, 1), d0 = copy(arena, d);
                CrossEntropy.backward(d, probs, targets, 0.37f, rows, V);
                CrossEntropy.backwardScalar(d0, probs, targets, 0.37f, rows, V);
                assertSame("dlogits V=" + V, d, d0, n);        // same float operations, same order
            }
        }
    }

    @Test
    void backwardAgreesWithFiniteDifferences() {
        var rnd = new SplittableRandom(SEED + 4);
        for (int V : new int[] {8, V}) {
            int rows = 6;                                          // B=2, T=3
            long n = (long) rows * V;
            float dloss = 1f / rows;                               // the gradient of the mean loss
            try (Arena arena = Arena.ofShared()) {
                MemorySegment logits = random(arena, n, rnd, 3), targets = tokens(arena, rows, V, rnd);
                MemorySegment probs = floats(arena, n), losses = floats(arena, rows), d = floats(arena, n);
                CrossEntropy.forward(losses, probs, logits, targets, rows, V);
                CrossEntropy.backward(d, probs, targets, dloss, rows, V);
                int[] t = new int[rows];
                for (int r = 0; r < rows; r++) t[r] = targets.getAtIndex(I32, r);
                double[] numeric = numericGradient(x -> {
                    double loss = 0;
                    for (int r = 0; r < rows; r++) loss += lossOfRow(x, r, V, t[r]);
                    return dloss * loss;
                }, toDoubles(logits, n), 1e-3);
                assertGradient("dlogits V=" + V, toDoubles(d, n), numeric, 1e-6);
            }
        }
    }

    @Test
    void sameResultForAnyThreadCount() {
        var rnd = new SplittableRandom(SEED + 5);
        final int ROWS = 8192;                              // enough rows for two tasks, forward and backward
        long n = (long) ROWS * V;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment logits = random(arena, n, rnd, 6), targets = tokens(arena, ROWS, V, rnd);
            MemorySegment probs1 = floats(arena, n), losses1 = floats(arena, ROWS), d1 = floats(arena, n);
            double[] total1 = new double[1];
            withThreads(1, () -> {
                total1[0] = CrossEntropy.forward(losses1, probs1, logits, targets, ROWS, V);
                CrossEntropy.backward(d1, probs1, targets, 1f / ROWS, ROWS, V);
            });
            for (int threads : new int[] {2, 3}) {
                MemorySegment probs = floats(arena, n), losses = floats(arena, ROWS), d = floats(arena, n);
                double[] total = new double[1];
                withThreads(threads, () -> {
                    total[0] = CrossEntropy.forward(losses, probs, logits, targets, ROWS, V);
                    CrossEntropy.backward(d, probs, targets, 1f / ROWS, ROWS, V);
                });
                assertSame("probs, threads " + threads, probs, probs1, n);
                assertSame("losses, threads " + threads, losses, losses1, ROWS);
                assertSame("dlogits, threads " + threads, d, d1, n);
                assertEquals(total1[0], total[0], "total, threads " + threads);
            }
        }
    }
}
