package leviathan.kernel;

import static leviathan.testing.Segments.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.testing.Segments;
import org.junit.jupiter.api.Test;

class BiasTest {
    private static final int ROWS = 768;               // B·T at the default config

    private static int[] cols() { return GeluTest.concat(widths(), 384); }   // with 3C of the attention projection

    @Test
    void forwardMatchesScalarExactly() {
        var rnd = new SplittableRandom(SEED);
        try (Arena arena = Arena.ofShared()) {
            for (int cols : cols()) {
                for (int rows : new int[] {1, 5, ROWS}) {
                    long n = (long) rows * cols;
                    MemorySegment out = random(arena, n, rnd, 1), ref = copy(arena, out), bias = random(arena, cols, rnd, 1);
                    Bias.forward(out, bias, rows, cols);
                    Bias.forwardScalar(ref, bias, rows, cols);
                    assertSame("rows=" + rows + " cols=" + cols, out, ref, n);      // one float add per element
                }
            }
        }
    }

    @Test
    void backwardMatchesScalarExactly() {
        var rnd = new SplittableRandom(SEED + 1);
        try (Arena arena = Arena.ofShared()) {
            for (int cols : cols()) {
                for (int rows : new int[] {1, 5, ROWS}) {
                    MemorySegment dout = random(arena, (long) rows * cols, rnd, 1), db0 = random(arena, cols, rnd, 1);
                    MemorySegment ref = copy(arena, db0);
                    Bias.backwardScalar(ref, dout, rows, cols);
                    MemorySegment db = copy(arena, db0);
                    Bias.backward(db, dout, rows, cols);
                    // each column summed over the rows in row order, as the reference does
                    assertSame("rows=" + rows + " cols=" + cols, db, ref, cols);
                }
            }
        }
    }

    @Test
    void sameResultForAnyThreadCount() {
        var rnd = new SplittableRandom(SEED + 2);
        int rows = 4096, cols = 512;                        // enough rows and column blocks for several tasks
        long n = (long) rows * cols;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment dout = random(arena, n, rnd, 1), bias = random(arena, cols, rnd, 1);
            MemorySegment out0 = random(arena, n, rnd, 1), outRef = copy(arena, out0), dbRef = floats(arena, cols);
            Bias.forwardScalar(outRef, bias, rows, cols);
            Bias.backwardScalar(dbRef, dout, rows, cols);
            for (int threads : new int[] {1, 2, 3}) {
                MemorySegment out = copy(arena, out0), db = floats(arena, cols);
                withThreads(threads, () -> {
                    Bias.forward(out, bias, rows, cols);
                    Bias.backward(db, dout, rows, cols);
                });
                assertSame("forward, threads " + threads, out, outRef, n);
                assertSame("backward, threads " + threads, db, dbRef, cols);
            }
        }
    }
}
