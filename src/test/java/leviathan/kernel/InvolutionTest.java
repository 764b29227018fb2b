package leviathan.kernel;

import static leviathan.testing.Close.assertClose;
import static leviathan.testing.Segments.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.testing.Segments;
import org.junit.jupiter.api.Test;

class InvolutionTest {

    /** (B, T, C, H, K): D off the lane count, K > T, K = 1, K = T, a longer sequence with D = 2·lanes + 1. */
    static int[][] shapes() {
        int L = Simd.lanes();
        return new int[][] {
            {2, 5, 3 * (L + 3), 3, 3},
            {2, 4, 14, 2, 9},
            {1, 6, 2 * L, 2, 1},
            {2, 7, 12, 2, 7},
            {3, 33, 2 * (2 * L + 1), 2, 16},
            {1, 1, 5, 1, 4},
            {2, 9, L - 1, 1, 4},
        };
    }

    @Test
    void vectorMatchesScalar() {
        var rnd = new SplittableRandom(SEED);
        try (Arena arena = Arena.ofShared()) {
            for (int[] s : shapes()) {
                int B = s[0], T = s[1], C = s[2], H = s[3], K = s[4];
                long nw = (long) B * T * H * K, nv = (long) B * T * C;
                String at = "B=" + B + " T=" + T + " C=" + C + " H=" + H + " K=" + K;
                MemorySegment w = random(arena, nw, rnd, 4), v = random(arena, nv, rnd, 1), dout = random(arena, nv, rnd, 1);
                MemorySegment p = floats(arena, nw), o = floats(arena, nv), pr = floats(arena, nw), or = floats(arena, nv);
                nan(p, nw); nan(o, nv); nan(pr, nw); nan(or, nv);                   // every entry must be written
                Involution.forward(o, p, w, v, B, T, C, H, K, 0);
                Involution.forwardScalar(or, pr, w, v, B, T, C, H, K, 0);
                assertClose("p " + at, p, pr, nw, 1e-7, 1e-5);                      // vector exp within ~1 ulp
                assertClose("o " + at, o, or, nv, 1e-6, 1e-5);                      // sums of K terms in another order
                MemorySegment inPlace = copy(arena, w);                             // p may alias w
                Involution.softmax(inPlace, inPlace, B, T, H, K, 0);
                assertEquals(-1L, inPlace.mismatch(p), "in-place softmax " + at);
                MemorySegment dw = random(arena, nw, rnd, 1), dv = random(arena, nv, rnd, 1);
                MemorySegment dwr = copy(arena, dw), dvr = copy(arena, dv);         // backward adds into them
                Involution.backward(dw, dv, dout, pr, v, B, T, C, H, K);
                Involution.backwardScalar(dwr, dvr, dout, pr, v, B, T, C, H, K);
                assertClose("dw " + at, dw, dwr, nw, 1e-6, 1e-5);
                assertClose("dv " + at, dv, dvr, nv, 1e-6, 1e-5);
            }
        }
    }

    static void nan(MemorySegment s, long n) {
        for (long i = 0; i < n; i++) s.setAtIndex(FL, i, Float.NaN);
    }

    @Test
    void windowSoftmaxSumsToOneAndLeavesNothingBeforeTheSequence() {
        var rnd = new SplittableRandom(SEED + 1);
        int B = 2, T = 6, H = 2, K = 4;
        try (Arena arena = Arena.ofShared()) {
            long nw = (long) B * T * H * K;
            MemorySegment w = random(arena, nw, rnd, 5), p = floats(arena, nw);
            for (boolean vector : new boolean[] {true, false}) {
                nan(p, nw);
                if (vector) Involution.softmax(p, w, B, T, H, K, 0); else Involution.softmaxScalar(p, w, B, T, H, K, 0);
                for (int r = 0; r < B * T; r++) {
                    int i = r % T;
                    for (int h = 0; h < H; h++) {
                        double sum = 0;
                        for (int k = 0; k < K; k++) {
                            float pk = p.getAtIndex(FL, ((long) r * H + h) * K + k);
                            if (k > i) assertEquals(0f, pk, "k=" + k + " reaches before position 0 at i=" + i);
                            sum += pk;
                        }
                        assertEquals(1.0, sum, 1e-6, "row " + r + " head " + h);
                    }
                }
            }
        }
    }

    @Test
    void rowsFromT0MatchTheFullForwardAndLeaveEarlierRows() {
        var rnd = new SplittableRandom(SEED + 2);
        int L = Simd.lanes();
        for (int[] s : new int[][] {{2, 9, 2 * (L + 1), 2, 4}, {1, 5, 6, 3, 8}}) {
            int B = s[0], T = s[1], C = s[2], H = s[3], K = s[4];
            try (Arena arena = Arena.ofShared()) {
                long nw = (long) B * T * H * K, nv = (long) B * T * C;
                MemorySegment w = random(arena, nw, rnd, 3), v = random(arena, nv, rnd, 1);
                MemorySegment p = floats(arena, nw), o = floats(arena, nv);
                Involution.forward(o, p, w, v, B, T, C, H, K, 0);
                for (int t0 : new int[] {T - 1, T / 2}) {
                    for (boolean vector : new boolean[] {true, false}) {
                        MemorySegment pi = floats(arena, nw), oi = floats(arena, nv);
                        nan(pi, nw); nan(oi, nv);
                        if (vector) Involution.forward(oi, pi, w, v, B, T, C, H, K, t0);
                        else Involution.forwardScalar(oi, pi, w, v, B, T, C, H, K, t0);
                        for (int b = 0; b < B; b++) {
                            for (int i = 0; i < T; i++) {
                                for (int c = 0; c < C; c++) {
                                    long at = ((long) b * T + i) * C + c;
                                    float got = oi.getAtIndex(FL, at);
                                    if (i < t0) assertTrue(Float.isNaN(got), "row " + i + " < t0 was written");
                                    else assertEquals(o.getAtIndex(FL, at), got, vector ? 0f : 1e-5f, "o at " + at);   // vector: same bits
                                }
                                for (int k = 0; k < H * K; k++) {
                                    long at = ((long) b * T + i) * H * K + k;
                                    if (i >= t0) assertEquals(p.getAtIndex(FL, at), pi.getAtIndex(FL, at), vector ? 0f : 1e-6f, "p at " + at);
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    @Test
    void noOutputDependsOnAFutureToken() {
        var rnd = new SplittableRandom(SEED + 3);
        int B = 2, T = 7, C = 10, H = 2, K = 3;
        try (Arena arena = Arena.ofShared()) {
            long nw = (long) B * T * H * K, nv = (long) B * T * C;
            MemorySegment w = random(arena, nw, rnd, 3), v = random(arena, nv, rnd, 1);
            MemorySegment p0 = floats(arena, nw), o0 = floats(arena, nv);
            Involution.forward(o0, p0, w, v, B, T, C, H, K, 0);
            for (int j = 0; j < T; j++) {
                MemorySegment w2 = copy(arena, w), v2 = copy(arena, v);
                for (int b = 0; b < B; b++) {                      // change everything of token j
                    for (int c = 0; c < H * K; c++) w2.setAtIndex(FL, ((long) b * T + j) * H * K + c, 9f);
                    for (int c = 0; c < C; c++) v2.setAtIndex(FL, ((long) b * T + j) * C + c, -7f);
                }
                MemorySegment p = floats(arena, nw), o = floats(arena, nv);
                Involution.forward(o, p, w2, v2, B, T, C, H, K, 0);
                boolean changedLater = false;
                for (int b = 0; b < B; b++) {
                    for (int i = 0; i < T; i++) {
                        for (int c = 0; c < C; c++) {
                            long at = ((long) b * T + i) * C + c;
                            if (i < j) assertEquals(o0.getAtIndex(FL, at), o.getAtIndex(FL, at), 0f, "o[" + i + "] saw token " + j);
                            else if (o0.getAtIndex(FL, at) != o.getAtIndex(FL, at)) changedLater = true;
                        }
                    }
                }
                assertTrue(changedLater, "changing token " + j + " changed nothing at or after it");
            }
        }
    }

    @Test
    void sameBitsWithOneOrTwoThreads() {
        var rnd = new SplittableRandom(SEED + 4);
        int B = 4, T = 64, C = 40, H = 4, K = 16;
        int keep = Parallel.threads();
        try (Arena arena = Arena.ofShared()) {
            long nw = (long) B * T * H * K, nv = (long) B * T * C;
            MemorySegment w = random(arena, nw, rnd, 3), v = random(arena, nv, rnd, 1), dout = random(arena, nv, rnd, 1);
            MemorySegment[][] out = new MemorySegment[2][];
            for (int t = 1; t <= 2; t++) {
                Parallel.setThreads(t);
                MemorySegment p = floats(arena, nw), o = floats(arena, nv), dw = floats(arena, nw), dv = floats(arena, nv);
                Involution.forward(o, p, w, v, B, T, C, H, K, 0);
                Involution.backward(dw, dv, dout, p, v, B, T, C, H, K);
                out[t - 1] = new MemorySegment[] {p, o, dw, dv};
            }
            for (int k = 0; k < 4; k++) assertEquals(-1L, out[0][k].mismatch(out[1][k]), "output " + k + " differs");
        } finally {
            Parallel.setThreads(keep);
        }
    }

    /** L = Σ o·g in double, from the inputs as doubles. */
    static double lossDouble(double[] w, double[] v, double[] g, int B, int T, int C, int H, int K) {
        int D = C / H;
        double L = 0;
        for (int b = 0; b < B; b++) {
            for (int i = 0; i < T; i++) {
                int n = Math.min(K, i + 1);
                for (int h = 0; h < H; h++) {
                    int base = ((b * T + i) * H + h) * K;
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int k = 0; k < n; k++) max = Math.max(max, w[base + k]);
                    for (int k = 0; k < n; k++) sum += Math.exp(w[base + k] - max);
                    for (int k = 0; k < n; k++) {
                        double pk = Math.exp(w[base + k] - max) / sum;
                        for (int d = 0; d < D; d++) L += pk * v[(b * T + i - k) * C + h * D + d] * g[(b * T + i) * C + h * D + d];
                    }
                }
            }
        }
        return L;
    }

    @Test
    void gradientsMatchFiniteDifferences() {
        var rnd = new SplittableRandom(SEED + 5);
        int lanes = Simd.lanes();
        // tiny heads (the scalar tails), K > T, K = 1, and heads wider than a vector (the vector loops)
        for (int[] s : new int[][] {{2, 3, 8, 2, 2}, {2, 4, 6, 2, 6}, {1, 5, 6, 3, 1}, {2, 4, 9, 3, 4}, {2, 4, 2 * (lanes + 1), 2, 3}}) {
            int B = s[0], T = s[1], C = s[2], H = s[3], K = s[4];
            try (Arena arena = Arena.ofShared()) {
                long nw = (long) B * T * H * K, nv = (long) B * T * C;
                MemorySegment w = random(arena, nw, rnd, 2), v = random(arena, nv, rnd, 1), g = random(arena, nv, rnd, 1);
                for (boolean vector : new boolean[] {true, false}) {
                    MemorySegment p = floats(arena, nw), o = floats(arena, nv), dw = floats(arena, nw), dv = floats(arena, nv);
                    if (vector) {
                        Involution.forward(o, p, w, v, B, T, C, H, K, 0);
                        Involution.backward(dw, dv, g, p, v, B, T, C, H, K);
                    } else {
                        Involution.forwardScalar(o, p, w, v, B, T, C, H, K, 0);
                        Involution.backwardScalar(dw, dv, g, p, v, B, T, C, H, K);
                    }
                    double[] wd = toDoubles(w, nw), vd = toDoubles(v, nv), gd = toDoubles(g, nv);
                    String at = (vector ? "vector" : "scalar") + " B=" + B + " T=" + T + " C=" + C + " H=" + H + " K=" + K;
                    checkGradient("dw " + at, dw, wd, () -> lossDouble(wd, vd, gd, B, T, C, H, K));
                    checkGradient("dv " + at, dv, vd, () -> lossDouble(wd, vd, gd, B, T, C, H, K));
                }
            }
        }
    }

    /** Central differences (h = 1e-4, in double) of {@code loss} over every entry of {@code x} against {@code grad}. */
    static void checkGradient(String what, MemorySegment grad, double[] x, java.util.function.DoubleSupplier loss) {
        double h = 1e-4, scale = 0;
        double[] num = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double keep = x[i];
            x[i] = keep + h;
            double up = loss.getAsDouble();
            x[i] = keep - h;
            double down = loss.getAsDouble();
            x[i] = keep;
            num[i] = (up - down) / (2 * h);
            scale = Math.max(scale, Math.abs(num[i]));
        }
        for (int i = 0; i < x.length; i++) {
            double a = grad.getAtIndex(FL, i), err = Math.abs(a - num[i]);
            // float32 kernel against a double reference: relative to the tensor's largest gradient
            assertTrue(err <= 1e-4 * scale + 1e-6, what + "[" + i + "]: analytic " + a + ", numeric " + num[i]);
        }
    }
}
