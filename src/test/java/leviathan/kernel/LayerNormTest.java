package leviathan.kernel;

import static leviathan.testing.Close.assertClose;
import static leviathan.testing.Segments.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.testing.Segments;
import org.junit.jupiter.api.Test;

class LayerNormTest {
    /** Inputs, weights and outputs of one LayerNorm call. */
    private record Case(int rows, int C, MemorySegment in, MemorySegment weight, MemorySegment bias,
                        MemorySegment out, MemorySegment mean, MemorySegment rstd) {
        static Case random(Arena arena, int rows, int C, SplittableRandom rnd) {
            MemorySegment in = Segments.random(arena, (long) rows * C, rnd, 2);
            for (long i = 0; i < (long) rows * C; i++) in.setAtIndex(FL, i, in.getAtIndex(FL, i) + 3f); // offset mean: two-pass variance matters
            return new Case(rows, C, in, Segments.random(arena, C, rnd, 1.5), Segments.random(arena, C, rnd, 0.5),
                    floats(arena, (long) rows * C), floats(arena, rows), floats(arena, rows));
        }

        void forward() { LayerNorm.forward(out, mean, rstd, in, weight, bias, rows, C); }
    }

    @Test
    void forwardMatchesScalar() {
        var rnd = new SplittableRandom(SEED);
        try (Arena arena = Arena.ofShared()) {
            for (int C : widths()) {
                for (int rows : new int[] {1, 5, C == 128 ? 768 : 3}) {
                    Case k = Case.random(arena, rows, C, rnd);
                    MemorySegment out = floats(arena, (long) rows * C), mean = floats(arena, rows), rstd = floats(arena, rows);
                    k.forward();
                    LayerNorm.forwardScalar(out, mean, rstd, k.in, k.weight, k.bias, rows, C);
                    String at = " rows=" + rows + " C=" + C;
                    // sums in another order: a few ulps of the mean and variance, normalised values up to ~3
                    assertClose("mean" + at, k.mean, mean, rows, 1e-5, 1e-5);
                    assertClose("rstd" + at, k.rstd, rstd, rows, 1e-6, 1e-4);
                    assertClose("out" + at, k.out, out, (long) rows * C, 1e-5, 1e-4);
                }
            }
        }
    }

    @Test
    void backwardMatchesScalar() {
        var rnd = new SplittableRandom(SEED + 1);
        try (Arena arena = Arena.ofShared()) {
            for (int C : widths()) {
                for (int rows : new int[] {1, 5, C == 128 ? 768 : 3}) {
                    Case k = Case.random(arena, rows, C, rnd);
                    LayerNorm.forwardScalar(k.out, k.mean, k.rstd, k.in, k.weight, k.bias, rows, C);
                    long n = (long) rows * C;
                    MemorySegment dout = random(arena, n, rnd, 1);
                    MemorySegment din = random(arena, n, rnd, 1), dw = random(arena, C, rnd, 1), db = random(arena, C, rnd, 1);
                    MemorySegment din0 = copy(arena, din), dw0 = copy(arena, dw), db0 = copy(arena, db);
                    LayerNorm.backward(din, dw, db, dout, k.in, k.weight, k.mean, k.rstd, rows, C);
                    LayerNorm.backwardScalar(din0, dw0, db0, dout, k.in, k.weight, k.mean, k.rstd, rows, C);
                    String at = " rows=" + rows + " C=" + C;
                    // din: the two row means are summed in another order (a few ulps), times rstd ~ 1
                    assertClose("din" + at, din, din0, n, 1e-5, 1e-4);
                    // dweight/dbias: same operations in the same (row) order as the reference
                    assertSame("dweight" + at, dw, dw0, C);
                    assertSame("dbias" + at, db, db0, C);
                }
            }
        }
    }

    @Test
    void sameResultForAnyThreadCount() {
        var rnd = new SplittableRandom(SEED + 2);
        int rows = 4101, C = 128;                           // enough rows and channel blocks for two tasks each
        try (Arena arena = Arena.ofShared()) {
            Case k = Case.random(arena, rows, C, rnd);
            MemorySegment dout = random(arena, (long) rows * C, rnd, 1);
            MemorySegment[] first = null;
            for (int t : new int[] {1, 2, 3, 5}) {
                MemorySegment din = floats(arena, (long) rows * C), dw = floats(arena, C), db = floats(arena, C);
                withThreads(t, () -> {
                    k.forward();
                    LayerNorm.backward(din, dw, db, dout, k.in, k.weight, k.mean, k.rstd, rows, C);
                });
                MemorySegment[] now = {copy(arena, k.out), copy(arena, k.mean), copy(arena, k.rstd), din, dw, db};
                if (first == null) {
                    first = now;
                    continue;
                }
                String[] names = {"out", "mean", "rstd", "din", "dweight", "dbias"};
                long[] sizes = {(long) rows * C, rows, rows, (long) rows * C, C, C};
                for (int i = 0; i < now.length; i++) assertSame(names[i] + ", threads " + t, now[i], first[i], sizes[i]);
            }
        }
    }

    /** LayerNorm of one row in double: the definition the finite differences differentiate. */
    private static double loss(double[] in, double[] w, double[] b, double[] g, int rows, int C) {
        double loss = 0;
        for (int r = 0; r < rows; r++) {
            double m = 0, v = 0;
            for (int c = 0; c < C; c++) m += in[r * C + c];
            m /= C;
            for (int c = 0; c < C; c++) v += (in[r * C + c] - m) * (in[r * C + c] - m);
            double s = 1 / Math.sqrt(v / C + LayerNorm.EPS);
            for (int c = 0; c < C; c++) loss += ((in[r * C + c] - m) * s * w[c] + b[c]) * g[r * C + c];   // L = Σ out·g
        }
        return loss;
    }

    @Test
    void backwardAgreesWithFiniteDifferences() {
        var rnd = new SplittableRandom(SEED + 3);
        for (int C : new int[] {8, 2 * Simd.lanes() + 3}) {      // tiny, and one with vector body and tail
            int rows = 6;                                        // B=2, T=3
            try (Arena arena = Arena.ofShared()) {
                Case k = Case.random(arena, rows, C, rnd);
                k.forward();
                MemorySegment g = random(arena, (long) rows * C, rnd, 1);
                MemorySegment din = floats(arena, (long) rows * C), dw = floats(arena, C), db = floats(arena, C);
                LayerNorm.backward(din, dw, db, g, k.in, k.weight, k.mean, k.rstd, rows, C);

                double[] in = toDoubles(k.in, (long) rows * C), w = toDoubles(k.weight, C), b = toDoubles(k.bias, C);
                double[] gd = toDoubles(g, (long) rows * C);
                double h = 1e-3;
                assertGradient("din C=" + C, toDoubles(din, (long) rows * C),
                        numericGradient(x -> loss(x, w, b, gd, rows, C), in, h), 1e-4);
                assertGradient("dweight C=" + C, toDoubles(dw, C), numericGradient(x -> loss(in, x, b, gd, rows, C), w, h), 1e-4);
                assertGradient("dbias C=" + C, toDoubles(db, C), numericGradient(x -> loss(in, w, x, gd, rows, C), b, h), 1e-4);
            }
        }
    }
}
