package leviathan.kernel;

import static leviathan.testing.Close.assertClose;
import static leviathan.testing.Segments.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.testing.Segments;
import org.junit.jupiter.api.Test;

class GeluTest {
    private static final int REAL = 768 * 512;   // B·T × 4C at the default config

    private static double gelu(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    @Test
    void forwardMatchesScalar() {
        var rnd = new SplittableRandom(SEED);
        try (Arena arena = Arena.ofShared()) {
            for (int n : concat(lengths(), REAL, 3 * Elementwise.BLOCK + 5)) {
                MemorySegment in = random(arena, n, rnd, 6), out = floats(arena, n), ref = floats(arena, n);
                Gelu.forward(out, in, n);
                Gelu.forwardScalar(ref, in, 0, n);
                // vector tanh vs Math.tanh differ by ~3e-8 absolute, times |x|/2 <= 3
                assertClose("gelu n=" + n, out, ref, n, 1e-6, 1e-5);
            }
        }
    }

    @Test
    void backwardMatchesScalarAndAdds() {
        var rnd = new SplittableRandom(SEED + 1);
        try (Arena arena = Arena.ofShared()) {
            for (int n : concat(lengths(), REAL)) {
                MemorySegment in = random(arena, n, rnd, 6), dout = random(arena, n, rnd, 1);
                MemorySegment din = random(arena, n, rnd, 1), ref = copy(arena, din);
                Gelu.backward(din, in, dout, n);
                Gelu.backwardScalar(ref, in, dout, 0, n);
                // same formula; only tanh differs (~3e-8), scaled by terms of order 1
                assertClose("gelu' n=" + n, din, ref, n, 1e-6, 1e-5);
            }
        }
    }

    @Test
    void inPlaceForward() {
        var rnd = new SplittableRandom(SEED + 2);
        try (Arena arena = Arena.ofShared()) {
            int n = 3 * Simd.lanes() + 5;
            MemorySegment x = random(arena, n, rnd, 4), ref = floats(arena, n);
            Gelu.forwardScalar(ref, x, 0, n);
            Gelu.forward(x, x, n);
            assertClose("in place", x, ref, n, 1e-6, 1e-5);     // tanh differs by ~3e-8
        }
    }

    @Test
    void sameResultForAnyThreadCount() {
        var rnd = new SplittableRandom(SEED + 3);
        try (Arena arena = Arena.ofShared()) {
            long n = 5L * Elementwise.BLOCK + 7;                 // several tasks of Elementwise.EXP_TASK
            MemorySegment in = random(arena, n, rnd, 5), dout = random(arena, n, rnd, 1);
            MemorySegment one = floats(arena, n), dOne = floats(arena, n);
            withThreads(1, () -> { Gelu.forward(one, in, n); Gelu.backward(dOne, in, dout, n); });
            for (int t : new int[] {2, 3, 4}) {
                MemorySegment out = floats(arena, n), d = floats(arena, n);
                withThreads(t, () -> { Gelu.forward(out, in, n); Gelu.backward(d, in, dout, n); });
                assertSame("forward, threads " + t, out, one, n);
                assertSame("backward, threads " + t, d, dOne, n);
            }
        }
    }

    @Test
    void backwardAgreesWithFiniteDifferences() {
        var rnd = new SplittableRandom(SEED + 4);
        int n = 2 * Simd.lanes() + 3;                          // vector body and scalar tail
        try (Arena arena = Arena.ofShared()) {
            MemorySegment in = random(arena, n, rnd, 3), g = random(arena, n, rnd, 1), din = floats(arena, n);
            double[] gd = toDoubles(g, n);
            Gelu.backward(din, in, g, n);
            double[] numeric = numericGradient(x -> {
                double loss = 0;                                // L = Σ gelu(x)·g
                for (int i = 0; i < n; i++) loss += gelu(x[i]) * gd[i];
                return loss;
            }, toDoubles(in, n), 1e-3);
            assertGradient("dL/dx", toDoubles(din, n), numeric, 1e-5);
        }
    }

    static int[] concat(int[] a, int... b) {
        int[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
