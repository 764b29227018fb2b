package leviathan.kernel;

import static leviathan.testing.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.Test;

class CorrelationFftTest {

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    static MemorySegment random(Arena a, long n, SplittableRandom r, double range) {
        MemorySegment s = a.allocate(n * Float.BYTES, 64);
        for (long i = 0; i < n; i++) s.setAtIndex(FL, i, (float) r.nextDouble(-range, range));
        return s;
    }

    static MemorySegment filled(Arena a, long n, float v) {
        MemorySegment s = a.allocate(n * Float.BYTES, 64);
        for (long i = 0; i < n; i++) s.setAtIndex(FL, i, v);
        return s;
    }

    private static int[] lengths() {
        int L = Simd.lanes();
        return new int[] {1, 2, 7, L - 1, L, L + 1, 33};
    }

    @Test
    void forwardAndBackwardMatchScalarReference() {
        SplittableRandom r = new SplittableRandom(1337);
        for (int D : new int[] {1, 2, 4, 8, 16, 32, 64}) {
            for (int N : new int[] {1, 3, D}) {
                if (N > D) continue;
                for (int T : lengths()) {
                    if (D == 64 && N == 64 && T > 17) continue;   // the scalar reference is slow there; T=17 covers blocks
                    check(r, 2, T, 2, D, N, true, 0);
                }
            }
        }
    }

    @Test
    void withoutBiasAndWithLargerScores() {
        SplittableRandom r = new SplittableRandom(11);
        check(r, 1, 20, 3, 16, 5, false, 0);
        check(r, 2, 9, 1, 8, 8, true, 0);
    }

    @Test
    void incrementalRowsLeaveEarlierRowsUntouched() {
        SplittableRandom r = new SplittableRandom(5);
        for (int t0 : new int[] {0, 1, 5, 18, 19}) check(r, 2, 19, 2, 16, 16, true, t0);
    }

    /**
     * FFT forward/backward vs Correlation.forwardScalar/backwardScalar on one random problem. Rows
     * below t0 must keep a sentinel. Backward is checked for every row when t0 = 0.
     */
    static void check(SplittableRandom r, int B, int T, int H, int D, int N, boolean withBias, int t0) {
        int C = H * D;
        String what = "B=" + B + " T=" + T + " H=" + H + " D=" + D + " N=" + N + " t0=" + t0;
        try (Arena a = Arena.ofShared()) {
            MemorySegment qkv = random(a, (long) B * T * 3 * C, r, 1.5);
            MemorySegment bias = withBias ? random(a, (long) H * N, r, 0.5) : null;
            MemorySegment outR = filled(a, (long) B * T * C, 7f), outF = filled(a, (long) B * T * C, 7f);
            MemorySegment lseR = filled(a, (long) B * H * T, 7f), lseF = filled(a, (long) B * H * T, 7f);
            Correlation.forwardScalar(outR, lseR, qkv, bias, B, T, C, H, N, t0);
            CorrelationFft.forward(outF, lseF, qkv, bias, B, T, C, H, N, t0);
            // float32 FFTs vs float32 direct sums: both round differently; outputs are averages of v (|v| <= 1.5)
            assertClose("out " + what, outF, outR, (long) B * T * C, 2e-5, 2e-4);
            assertClose("lse " + what, lseF, lseR, (long) B * H * T, 2e-5, 2e-5);
            if (t0 > 0) return;

            MemorySegment dout = random(a, (long) B * T * C, r, 1.0);
            MemorySegment dqkvR = random(a, (long) B * T * 3 * C, r, 0.1);
            MemorySegment dqkvF = a.allocate(dqkvR.byteSize(), 64).copyFrom(dqkvR);   // backward adds: same start
            MemorySegment dbR = withBias ? random(a, (long) H * N, r, 0.1) : null;
            MemorySegment dbF = withBias ? a.allocate(dbR.byteSize(), 64).copyFrom(dbR) : null;
            Correlation.backwardScalar(dqkvR, dbR, dout, outR, lseR, qkv, bias, B, T, C, H, N);
            CorrelationFft.backward(dqkvF, dbF, dout, outR, lseR, qkv, bias, B, T, C, H, N);
            // gradients sum up to T·N terms of size ~1: absolute slack grows with the row length
            assertClose("dqkv " + what, dqkvF, dqkvR, (long) B * T * 3 * C, 5e-5 * (1 + Math.sqrt(T)), 5e-4);
            if (withBias) assertClose("dlagBias " + what, dbF, dbR, (long) H * N, 1e-4 * (1 + T), 5e-4);
        }
    }

    @Test
    void finiteDifferencesOfQKVAndLagBias() {
        // L = Σ out·g; central differences in float (the kernel is float32), h = 5e-3.
        int B = 2, T = 5, H = 2, D = 8, N = 3, C = H * D;
        SplittableRandom r = new SplittableRandom(42);
        try (Arena a = Arena.ofShared()) {
            MemorySegment qkv = random(a, (long) B * T * 3 * C, r, 1.0);
            MemorySegment bias = random(a, (long) H * N, r, 0.5);
            MemorySegment g = random(a, (long) B * T * C, r, 1.0);
            MemorySegment out = a.allocate((long) B * T * C * 4, 64), lse = a.allocate((long) B * H * T * 4, 64);
            CorrelationFft.forward(out, lse, qkv, bias, B, T, C, H, N, 0);
            MemorySegment dqkv = filled(a, (long) B * T * 3 * C, 0f), db = filled(a, (long) H * N, 0f);
            CorrelationFft.backward(dqkv, db, g, out, lse, qkv, bias, B, T, C, H, N);
            checkFd(a, qkv, dqkv, (long) B * T * 3 * C, qkv, bias, g, B, T, C, H, N, "qkv");
            checkFd(a, bias, db, (long) H * N, qkv, bias, g, B, T, C, H, N, "lagBias");
        }
    }

    private static void checkFd(Arena a, MemorySegment param, MemorySegment grad, long n, MemorySegment qkv, MemorySegment bias,
                                MemorySegment g, int B, int T, int C, int H, int N, String what) {
        float h = 5e-3f;
        double num = 0, den = 0;
        for (long i = 0; i < n; i++) {
            float x = param.getAtIndex(FL, i);
            param.setAtIndex(FL, i, x + h);
            double lp = loss(a, qkv, bias, g, B, T, C, H, N);
            param.setAtIndex(FL, i, x - h);
            double lm = loss(a, qkv, bias, g, B, T, C, H, N);
            param.setAtIndex(FL, i, x);
            double fd = (lp - lm) / (2.0 * h), an = grad.getAtIndex(FL, i);
            num += (fd - an) * (fd - an);
            den += an * an;
        }
        double rel = Math.sqrt(num / Math.max(den, 1e-30));
        assertTrue(rel < 1e-2, what + ": relative error of the gradient " + rel);
    }

    private static double loss(Arena a, MemorySegment qkv, MemorySegment bias, MemorySegment g, int B, int T, int C, int H, int N) {
        MemorySegment out = a.allocate((long) B * T * C * 4, 64), lse = a.allocate((long) B * H * T * 4, 64);
        CorrelationFft.forward(out, lse, qkv, bias, B, T, C, H, N, 0);
        double l = 0;
        for (long i = 0; i < (long) B * T * C; i++) l += (double) out.getAtIndex(FL, i) * g.getAtIndex(FL, i);
        return l;
    }

    @Test
    void refusesNonPowerOfTwoHeadsAndBadLags() {
        try (Arena a = Arena.ofShared()) {
            MemorySegment s = a.allocate(4096);
            var e = assertThrows(IllegalArgumentException.class,
                    () -> CorrelationFft.forward(s, s, s, null, 1, 2, 12, 2, 1, 0));   // D = 6
            assertTrue(e.getMessage().contains("power-of-two") && e.getMessage().contains("got 6"), e.getMessage());
            assertThrows(IllegalArgumentException.class,
                    () -> CorrelationFft.backward(s, null, s, s, s, s, null, 1, 2, 12, 2, 1));
            var lags = assertThrows(IllegalArgumentException.class,
                    () -> CorrelationFft.forward(s, s, s, null, 1, 2, 16, 2, 9, 0));   // N > D = 8
            assertTrue(lags.getMessage().contains("lags"), lags.getMessage());
        }
        assertEquals(true, CorrelationFft.supports(64));
    }
}
