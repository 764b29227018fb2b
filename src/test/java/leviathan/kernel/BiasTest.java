package leviathan.kernel;

import static leviathan.kernel.Segments.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
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
    void backwardMatchesScalarExactlyForAnyThreadCount() {
        var rnd = new SplittableRandom(SEED + 1);
        try (Arena arena = Arena.ofShared()) {
            for (int cols : cols()) {
                for (int rows : new int[] {1, 5, ROWS}) {
                    MemorySegment dout = random(arena, (long) rows * cols, rnd, 1), db0 = random(arena, cols, rnd, 1);
                    MemorySegment ref = copy(arena, db0);
                    Bias.backwardScalar(ref, dout, rows, cols);
                    for (int threads : new int[] {1, 2, 3}) {
                        MemorySegment db = copy(arena, db0);
                        final int r = rows, c = cols;
                        withThreads(threads, () -> Bias.backward(db, dout, r, c));
                        // each column summed over the rows in row order, as the reference does
                        assertSame("rows=" + rows + " cols=" + cols + " threads " + threads, db, ref, cols);
                    }
                }
            }
        }
    }
}
