package leviathan.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import leviathan.testing.Segments;
import org.junit.jupiter.api.Test;

/** float32 to bf16 rounding: known values, and the vector path equal to the scalar reference bit for bit. */
class Bf16Test {
    private static final ValueLayout.OfShort SH = ValueLayout.JAVA_SHORT;

    private static short bf(int floatBits) { return Bf16.fromFloat(Float.intBitsToFloat(floatBits)); }

    @Test
    void roundsToNearestEven() {
        assertEquals((short) 0x3F80, bf(0x3F800000));          // 1.0 exact
        assertEquals((short) 0x3F80, bf(0x3F808000));          // tie, lower is even: down
        assertEquals((short) 0x3F82, bf(0x3F818000));          // tie, lower is odd: up
        assertEquals((short) 0x3F81, bf(0x3F808001));          // above the tie: up
        assertEquals((short) 0x3F80, bf(0x3F807FFF));          // below the tie: down
        assertEquals((short) 0xBF80, bf(0xBF800000));          // sign kept
        assertEquals((short) 0x7F80, bf(0x7F800000));          // +inf
        assertEquals((short) 0x7F80, bf(0x7F7FFFFF));          // max float rounds to inf, as RNE does
        assertTrue(Float.isNaN(Bf16.toFloat(Bf16.fromFloat(Float.NaN))));
        assertTrue(Float.isNaN(Bf16.toFloat(bf(0x7F800001))));  // a NaN whose payload sits in the low half stays NaN
        assertEquals(0f, Bf16.toFloat(bf(0x00000001)));          // smallest subnormal rounds to zero
        for (float x : new float[] {0.1f, -3.75f, 1e-20f, 6.5e4f}) {
            float r = Bf16.toFloat(Bf16.fromFloat(x));
            assertTrue(Math.abs(r - x) <= Math.abs(x) * 0x1p-8, x + " -> " + r);   // half an ulp of an 8-bit mantissa
        }
    }

    @Test
    void vectorMatchesScalarWithStridesAndScale() {
        SplittableRandom rnd = new SplittableRandom(Segments.SEED);
        try (Arena arena = Arena.ofConfined()) {
            for (int cols : Segments.lengths()) {
                for (int rows : new int[] {1, 3}) {
                    for (float scale : new float[] {1f, 0.125f, -3f}) {
                        int ld = cols + 3;
                        MemorySegment in = Segments.random(arena, (long) rows * ld, rnd, 4.0);
                        if (cols > 2) {                      // special values inside the vector part
                            in.setAtIndex(ValueLayout.JAVA_FLOAT, 0, Float.NaN);
                            in.setAtIndex(ValueLayout.JAVA_FLOAT, 1, Float.NEGATIVE_INFINITY);
                            in.setAtIndex(ValueLayout.JAVA_FLOAT, 2, Float.intBitsToFloat(0x3F818000));
                        }
                        MemorySegment v = arena.allocate(Math.max(1, (long) rows * cols) * 2, 64);
                        MemorySegment s = arena.allocate(Math.max(1, (long) rows * cols) * 2, 64);
                        Bf16.convert(v, in, rows, cols, ld, scale);
                        Bf16.convertScalar(s, in, rows, cols, ld, scale);
                        for (long i = 0; i < (long) rows * cols; i++) {
                            short a = v.getAtIndex(SH, i), b = s.getAtIndex(SH, i);
                            boolean bothNaN = Float.isNaN(Bf16.toFloat(a)) && Float.isNaN(Bf16.toFloat(b));
                            assertTrue(a == b || bothNaN, "cols=" + cols + " rows=" + rows + " scale=" + scale + " at " + i
                                    + ": vector " + Integer.toHexString(a & 0xFFFF) + " scalar " + Integer.toHexString(b & 0xFFFF));
                        }
                    }
                }
            }
        }
    }
}
