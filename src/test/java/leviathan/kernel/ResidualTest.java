package leviathan.kernel;

import static leviathan.testing.Segments.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.testing.Segments;
import org.junit.jupiter.api.Test;

class ResidualTest {
    private static final int REAL = 768 * 128;        // the residual stream, B·T × C

    @Test
    void forwardAndAddMatchScalarExactly() {
        var rnd = new SplittableRandom(SEED);
        try (Arena arena = Arena.ofShared()) {
            for (int n : GeluTest.concat(lengths(), REAL, 3 * Elementwise.BLOCK + 5)) {
                MemorySegment a = random(arena, n, rnd, 1), b = random(arena, n, rnd, 1);
                MemorySegment out = floats(arena, n), ref = floats(arena, n);
                Residual.forward(out, a, b, n);
                Residual.forwardScalar(ref, a, b, 0, n);
                assertSame("forward n=" + n, out, ref, n);           // one float add per element
                MemorySegment acc = copy(arena, a), accRef = copy(arena, a);
                Residual.add(acc, b, n);
                Residual.addScalar(accRef, b, 0, n);
                assertSame("add n=" + n, acc, accRef, n);
                assertSame("add equals forward n=" + n, acc, out, n);
            }
        }
    }

    @Test
    void inPlaceAndAnyThreadCount() {
        var rnd = new SplittableRandom(SEED + 1);
        long n = 17L * Elementwise.BLOCK + 3;                // enough for two tasks of Elementwise.LIGHT_TASK
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = random(arena, n, rnd, 1), b = random(arena, n, rnd, 1), ref = floats(arena, n);
            Residual.forwardScalar(ref, a, b, 0, n);
            for (int threads : new int[] {1, 2, 3}) {
                MemorySegment x = copy(arena, a);
                withThreads(threads, () -> Residual.forward(x, x, b, n));      // out aliases a
                assertSame("threads " + threads, x, ref, n);
            }
        }
    }
}
