package leviathan.kernel;

import static leviathan.testing.Segments.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import leviathan.testing.Segments;
import org.junit.jupiter.api.Test;

class DropoutTest {
    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    @Test
    void theKeptFractionIsOneMinusPWithinFourSigma() {
        int n = 1 << 20;
        for (float p : new float[] {0.05f, 0.2f, 0.5f, 0.9f}) {
            for (long site = 0; site < 3; site++) {
                long key = Dropout.key(1337, 7, 0, site);
                int threshold = Dropout.threshold(p), kept = 0;
                for (int i = 0; i < n; i++) if (Dropout.kept(key, i, threshold)) kept++;
                double sigma = Math.sqrt(n * p * (1 - p));
                assertTrue(Math.abs(kept - n * (1.0 - p)) < 4 * sigma, "p " + p + " site " + site + ": kept " + kept + " of " + n);
            }
        }
    }

    @Test
    void keptElementsAreScaledAndTheRestZeroed() {
        var rnd = new SplittableRandom(SEED);
        try (Arena arena = Arena.ofShared()) {
            int n = 3 * Simd.lanes() + 5;
            float p = 0.25f;
            MemorySegment x = random(arena, n, rnd, 2), before = copy(arena, x);
            long key = Dropout.key(1, 2, 3, 4);
            Dropout.apply(x, key, p, 100, 0, n);
            int threshold = Dropout.threshold(p);
            for (int i = 0; i < n; i++) {
                float expected = Dropout.kept(key, 100 + i, threshold) ? before.getAtIndex(FL, i) * (1f / (1f - p)) : 0f;
                assertEquals(expected, x.getAtIndex(FL, i), "element " + i);
            }
        }
    }

    @Test
    void anElementsMaskDependsOnItsIndexAloneNotOnThreadsOrRanges() {
        var rnd = new SplittableRandom(SEED + 1);
        try (Arena arena = Arena.ofShared()) {
            long n = 5L * Elementwise.BLOCK + 7;
            long key = Dropout.key(9, 1, 0, 2);
            MemorySegment x = random(arena, n, rnd, 1), one = copy(arena, x);
            withThreads(1, () -> Dropout.apply(one, key, 0.1f, 0, 0, n));
            for (int t : new int[] {2, 3}) {
                MemorySegment y = copy(arena, x);
                withThreads(t, () -> Dropout.apply(y, key, 0.1f, 0, 0, n));
                assertSame("threads " + t, y, one, n);
            }
            // two ranks, each its half of the global batch counted from its first row: the same masks as one process
            long half = n / 2;
            MemorySegment lo = copy(arena, x.asSlice(0, half * Float.BYTES)), hi = copy(arena, x.asSlice(half * Float.BYTES));
            Dropout.apply(lo, key, 0.1f, 0, 0, half);
            Dropout.apply(hi, key, 0.1f, half, 0, n - half);
            assertSame("first rank", lo, one, half);
            assertSame("second rank", hi, one.asSlice(half * Float.BYTES), n - half);
        }
    }

    @Test
    void keysDifferBySeedStepMicroBatchAndSite() {
        long k = Dropout.key(1, 2, 3, 4);
        assertNotEquals(k, Dropout.key(2, 2, 3, 4));
        assertNotEquals(k, Dropout.key(1, 3, 3, 4));
        assertNotEquals(k, Dropout.key(1, 2, 4, 4));
        assertNotEquals(k, Dropout.key(1, 2, 3, 5));
        // two sites' masks overlap as independent draws would: (1 - p)² of the elements kept by both
        int n = 1 << 18, both = 0, threshold = Dropout.threshold(0.5f);
        long a = Dropout.key(1, 2, 3, 4), b = Dropout.key(1, 2, 3, 5);
        for (int i = 0; i < n; i++) if (Dropout.kept(a, i, threshold) && Dropout.kept(b, i, threshold)) both++;
        assertTrue(Math.abs(both - n * 0.25) < 4 * Math.sqrt(n * 0.25 * 0.75), "kept by both: " + both);
    }

    @Test
    void probabilitiesOutsideZeroToOneAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> Dropout.threshold(1f));
        assertThrows(IllegalArgumentException.class, () -> Dropout.threshold(-0.1f));
        assertThrows(IllegalArgumentException.class, () -> Dropout.threshold(Float.NaN));
        assertEquals(0, Dropout.threshold(0f));
    }
}
