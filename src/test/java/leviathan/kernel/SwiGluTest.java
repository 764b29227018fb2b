package leviathan.kernel;

import static leviathan.testing.Close.assertClose;
import static leviathan.testing.Segments.*;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.testing.Segments;
import org.junit.jupiter.api.Test;

class SwiGluTest {
    private static final int REAL = 768 * 352;   // B·T × F at the default config, F = 8C/3 rounded up to 16

    private static double silu(double z) { return z / (1 + Math.exp(-z)); }

    @Test
    void forwardMatchesScalar() {
        var rnd = new SplittableRandom(SEED);
        try (Arena arena = Arena.ofShared()) {
            for (int n : GeluTest.concat(lengths(), REAL, 3 * Elementwise.BLOCK + 5)) {
                MemorySegment g = random(arena, n, rnd, 8), u = random(arena, n, rnd, 2), h = floats(arena, n), ref = floats(arena, n);
                SwiGlu.forward(h, g, u, 0, n);
                SwiGlu.forwardScalar(ref, g, u, 0, n);
                assertClose("swiglu n=" + n, h, ref, n, 1e-6, 1e-5);
            }
        }
    }

    @Test
    void forwardOfARowRangeLeavesTheOtherRows() {
        var rnd = new SplittableRandom(SEED + 5);
        try (Arena arena = Arena.ofShared()) {
            int n = 5 * Simd.lanes() + 3, from = Simd.lanes() + 1;
            MemorySegment g = random(arena, n, rnd, 4), u = random(arena, n, rnd, 2), h = random(arena, n, rnd, 1), ref = copy(arena, h);
            SwiGlu.forward(h, g, u, from, n);
            SwiGlu.forwardScalar(ref, g, u, from, n);
            assertSame("rows below from untouched", h, ref, from);
            assertClose("rows [from, n)", h, ref, n, 1e-6, 1e-5);
        }
    }

    @Test
    void backwardMatchesScalar() {
        var rnd = new SplittableRandom(SEED + 1);
        try (Arena arena = Arena.ofShared()) {
            for (int n : GeluTest.concat(lengths(), REAL)) {
                MemorySegment g = random(arena, n, rnd, 8), u = random(arena, n, rnd, 2), dh = random(arena, n, rnd, 1);
                MemorySegment dg = floats(arena, n), du = floats(arena, n), rg = floats(arena, n), ru = floats(arena, n);
                SwiGlu.backward(dg, du, dh, g, u, n);
                SwiGlu.backwardScalar(rg, ru, dh, g, u, 0, n);
                assertClose("dg n=" + n, dg, rg, n, 1e-6, 1e-5);
                assertClose("du n=" + n, du, ru, n, 1e-6, 1e-5);
            }
        }
    }

    @Test
    void sameResultForAnyThreadCount() {
        var rnd = new SplittableRandom(SEED + 3);
        try (Arena arena = Arena.ofShared()) {
            long n = 5L * Elementwise.BLOCK + 7;
            MemorySegment g = random(arena, n, rnd, 5), u = random(arena, n, rnd, 1), dh = random(arena, n, rnd, 1);
            MemorySegment h1 = floats(arena, n), dg1 = floats(arena, n), du1 = floats(arena, n);
            withThreads(1, () -> { SwiGlu.forward(h1, g, u, 0, n); SwiGlu.backward(dg1, du1, dh, g, u, n); });
            for (int t : new int[] {2, 3}) {
                MemorySegment h = floats(arena, n), dg = floats(arena, n), du = floats(arena, n);
                withThreads(t, () -> { SwiGlu.forward(h, g, u, 0, n); SwiGlu.backward(dg, du, dh, g, u, n); });
                assertSame("forward, threads " + t, h, h1, n);
                assertSame("dg, threads " + t, dg, dg1, n);
                assertSame("du, threads " + t, du, du1, n);
            }
        }
    }

    @Test
    void backwardAgreesWithFiniteDifferences() {
        var rnd = new SplittableRandom(SEED + 4);
        int n = 2 * Simd.lanes() + 3;                          // vector body and scalar tail
        try (Arena arena = Arena.ofShared()) {
            MemorySegment g = random(arena, n, rnd, 3), u = random(arena, n, rnd, 2), w = random(arena, n, rnd, 1);
            MemorySegment dg = floats(arena, n), du = floats(arena, n);
            double[] wd = toDoubles(w, n), gd = toDoubles(g, n), ud = toDoubles(u, n);
            SwiGlu.backward(dg, du, w, g, u, n);
            assertGradient("dL/dg", toDoubles(dg, n), numericGradient(x -> {
                double loss = 0;                                // L = Σ silu(g)·u·w
                for (int i = 0; i < n; i++) loss += silu(x[i]) * ud[i] * wd[i];
                return loss;
            }, gd, 1e-3), 1e-5);
            assertGradient("dL/du", toDoubles(du, n), numericGradient(x -> {
                double loss = 0;
                for (int i = 0; i < n; i++) loss += silu(gd[i]) * x[i] * wd[i];
                return loss;
            }, ud, 1e-3), 1e-5);
        }
    }
}
