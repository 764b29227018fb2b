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

class SoftmaxTest {
    @Test
    void matchesScalarFullAndCausal() {
        var rnd = new SplittableRandom(SEED);
        try (Arena arena = Arena.ofShared()) {
            for (int cols : widths()) {
                for (int causalT : new int[] {0, cols, Math.max(1, cols / 2)}) {
                    int rows = 2 * Math.max(1, causalT) + 1;
                    long n = (long) rows * cols;
                    MemorySegment in = random(arena, n, rnd, 8), out = floats(arena, n), ref = floats(arena, n);
                    Softmax.forward(out, in, rows, cols, causalT);
                    Softmax.forwardScalar(ref, in, rows, cols, causalT);
                    // vector exp is within ~1 ulp of Math.exp, and the sum is taken in another order
                    assertClose("cols=" + cols + " causalT=" + causalT, out, ref, n, 1e-7, 1e-5);
                }
            }
            // attention-sized: (B·H·T, T) = (4·4·256, 256), causal
            int T = 256, rows = 16 * T;
            MemorySegment in = random(arena, (long) rows * T, rnd, 8), out = floats(arena, (long) rows * T), ref = floats(arena, (long) rows * T);
            Softmax.forward(out, in, rows, T, T);
            Softmax.forwardScalar(ref, in, rows, T, T);
            assertClose("attention", out, ref, (long) rows * T, 1e-7, 1e-5);   // as above
        }
    }

    @Test
    void rowsSumToOneAndMaskIsZero() {
        var rnd = new SplittableRandom(SEED + 1);
        int T = 3 * Simd.lanes() + 5, rows = 2 * T;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment in = random(arena, (long) rows * T, rnd, 5), out = floats(arena, (long) rows * T);
            for (long i = 0; i < (long) rows * T; i++) out.setAtIndex(FL, i, Float.NaN);   // every entry must be written
            Softmax.forward(out, in, rows, T, T);
            for (int r = 0; r < rows; r++) {
                double sum = 0;
                for (int c = 0; c < T; c++) {
                    float p = out.getAtIndex(FL, (long) r * T + c);
                    if (c > r % T) assertEquals(0f, p, "future entry r=" + r + " c=" + c);
                    sum += p;
                }
                assertEquals(1.0, sum, 1e-5, "row " + r);          // T float roundings of values <= 1
            }
        }
    }

    @Test
    void finiteAndCorrectForHugeLogits() {
        var rnd = new SplittableRandom(SEED + 2);
        for (int cols : new int[] {65, 3 * Simd.lanes() + 5}) {
            int rows = 4;
            long n = (long) rows * cols;
            try (Arena arena = Arena.ofShared()) {
                MemorySegment in = random(arena, n, rnd, 1e4), out = floats(arena, n);
                in.setAtIndex(FL, 1, in.getAtIndex(FL, 0) + 1f);     // a near tie: both probabilities matter
                Softmax.forward(out, in, rows, cols, 0);
                for (int r = 0; r < rows; r++) {
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int c = 0; c < cols; c++) max = Math.max(max, in.getAtIndex(FL, (long) r * cols + c));
                    for (int c = 0; c < cols; c++) sum += Math.exp(in.getAtIndex(FL, (long) r * cols + c) - max);
                    for (int c = 0; c < cols; c++) {
                        long i = (long) r * cols + c;
                        float p = out.getAtIndex(FL, i);
                        assertTrue(Float.isFinite(p), "not finite at " + i);
                        double expect = Math.exp(in.getAtIndex(FL, i) - max) / sum;
                        assertEquals(expect, p, 1e-6 + 1e-5 * expect, "index " + i);   // float exp, float sum
                    }
                }
            }
        }
    }

    @Test
    void inPlaceAndAnyThreadCount() {
        var rnd = new SplittableRandom(SEED + 3);
        int T = 256, rows = 16 * T;                         // 16 tasks of Elementwise.EXP_TASK
        long n = (long) rows * T;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment in = random(arena, n, rnd, 8), one = floats(arena, n);
            withThreads(1, () -> Softmax.forward(one, in, rows, T, T));
            for (int t : new int[] {2, 3}) {
                MemorySegment x = copy(arena, in);
                withThreads(t, () -> Softmax.forward(x, x, rows, T, T));       // in place
                assertSame("threads " + t, x, one, n);
            }
        }
    }
}
