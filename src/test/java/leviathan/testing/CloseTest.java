package leviathan.testing;

import static org.junit.jupiter.api.Assertions.assertDoesNotThrow;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import org.junit.jupiter.api.Test;

/** The shared tolerant comparison passes inside the tolerance, fails outside it or on NaN, and names the worst element. */
class CloseTest {
    private static MemorySegment of(Arena a, float... v) {
        MemorySegment s = a.allocate((long) v.length * Float.BYTES, 64);
        for (int i = 0; i < v.length; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, v[i]);
        return s;
    }

    @Test
    void toleranceIsAbsolutePlusRelative() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ref = of(a, 1f, 100f, 0f, Float.POSITIVE_INFINITY);
            assertDoesNotThrow(() -> Close.assertClose("in", of(a, 1.05f, 105f, 0.05f, Float.POSITIVE_INFINITY), ref, 0.1, 0.05));
            AssertionError e = assertThrows(AssertionError.class,
                    () -> Close.assertClose("out", of(a, 1.05f, 120f, 0.2f, Float.POSITIVE_INFINITY), ref, 0.1, 0.05));
            assertTrue(e.getMessage().startsWith("out: worst at index 1: got 120.0, expected 100.0"), e.getMessage());
            assertThrows(AssertionError.class, () -> Close.assertClose("nan", of(a, 1f, Float.NaN, 0f, Float.POSITIVE_INFINITY), ref, 1, 1));
        }
    }

    @Test
    void stridedComparisonSkipsPaddingAndNamesRowAndColumn() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment ref = of(a, 1f, 2f, 9f, 3f, 4f, 9f);                       // 2×2, leading dimension 3
            assertDoesNotThrow(() -> Close.assertClose("pad", of(a, 1f, 2f, -7f, 3f, 4f, -7f), ref, 2, 2, 3, 0, 0));
            AssertionError e = assertThrows(AssertionError.class,
                    () -> Close.assertClose("C", of(a, 1f, 2f, 9f, 3f, 5f, 9f), ref, 2, 2, 3, 0.5, 0));
            assertTrue(e.getMessage().startsWith("C: worst at [1,1]"), e.getMessage());
        }
    }

    @Test
    void againstDoublesFromAnOffset() {
        try (Arena a = Arena.ofConfined()) {
            double[] want = {0, 0, 1, 2};
            assertDoesNotThrow(() -> Close.assertClose("ok", of(a, 1f, 2f), want, 2, 2, 0, 0));
            assertThrows(AssertionError.class, () -> Close.assertClose("off", of(a, 1f, 2f), want, 1, 2, 0, 0));
        }
    }
}
