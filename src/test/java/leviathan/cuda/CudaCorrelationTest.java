package leviathan.cuda;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import leviathan.backend.cuda.Cuda;
import leviathan.backend.cuda.CudaCorrelation;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

/**
 * The GPU correlation against the definition in double precision (ReferenceDouble): forward
 * (out, lse) and every gradient (q, k, v, lag bias), relative error max|gpu - ref| / max|ref|
 * under 1e-4. Skipped, with the reason, where there is no GPU or no CUDA library.
 */
class CudaCorrelationTest {

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;
    private static CudaCorrelation op;

    @BeforeAll
    static void open() {
        if (Cuda.available()) op = new CudaCorrelation(Cuda.get());
    }

    /** Every test starts here: skips with the one-line reason when there is no GPU path. */
    private static void requireGpu() { assumeTrue(op != null, Cuda.status()); }

    @AfterAll
    static void close() {
        if (op != null) op.close();
    }

    static MemorySegment random(Arena a, long n, SplittableRandom r, double range) {
        MemorySegment s = a.allocate(n * 4, 64);
        for (long i = 0; i < n; i++) s.setAtIndex(FL, i, (float) r.nextDouble(-range, range));
        return s;
    }

    @Test
    void forwardAndGradientsMatchDoublePrecision() {
        requireGpu();
        SplittableRandom r = new SplittableRandom(1337);
        for (int D : new int[] {4, 16, 64}) {
            for (int N : new int[] {1, 3, D}) {
                for (int T : new int[] {1, 7, 33}) check(r, 2, T, 2, D, N, true);
            }
        }
        check(r, 3, 64, 4, 64, 64, true);
        check(r, 1, 20, 3, 8, 5, false);
    }

    static void check(SplittableRandom r, int B, int T, int H, int D, int N, boolean withBias) {
        int C = H * D;
        String what = "B=" + B + " T=" + T + " H=" + H + " D=" + D + " N=" + N + (withBias ? "" : " no bias");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment qkv = random(a, (long) B * T * 3 * C, r, 1.5), dout = random(a, (long) B * T * C, r, 1.0);
            MemorySegment bias = withBias ? random(a, (long) H * N, r, 0.5) : null;
            MemorySegment out = a.allocate((long) B * T * C * 4), lse = a.allocate((long) B * H * T * 4);
            MemorySegment dqkv = a.allocate((long) B * T * 3 * C * 4), db = a.allocate((long) H * N * 4);   // zeroed
            op.forward(out, lse, qkv, bias, B, T, C, H, N, 0);
            double[] q = ReferenceDouble.read(qkv, (long) B * T * 3 * C), g = ReferenceDouble.read(dout, (long) B * T * C);
            double[] bd = withBias ? ReferenceDouble.read(bias, (long) H * N) : null;
            double[][] ref = ReferenceDouble.forward(q, bd, B, T, C, H, N);
            assertBelow(ReferenceDouble.relativeError(ref[0], out), "out " + what);
            assertBelow(ReferenceDouble.relativeError(ref[1], lse), "lse " + what);
            op.backward(dqkv, withBias ? db : null, dout, out, lse, qkv, bias, B, T, C, H, N);
            double[][] grad = ReferenceDouble.backward(g, q, bd, B, T, C, H, N);
            assertBelow(ReferenceDouble.relativeError(grad[0], dqkv), "dqkv " + what);
            if (withBias) assertBelow(ReferenceDouble.relativeError(grad[1], db), "dlagBias " + what);
        }
    }

    private static void assertBelow(double rel, String what) {
        // float32 FFTs and sums of up to T·N terms against double: 1e-4 of the largest value
        assertTrue(rel < 1e-4, what + ": relative error " + rel);
    }

    @Test
    void incrementalRowsKeepEarlierRows() {
        requireGpu();
        int B = 2, T = 19, H = 2, D = 16, N = 16, C = H * D, t0 = 11;
        SplittableRandom r = new SplittableRandom(5);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment qkv = random(a, (long) B * T * 3 * C, r, 1.5), bias = random(a, (long) H * N, r, 0.5);
            MemorySegment out = a.allocate((long) B * T * C * 4), lse = a.allocate((long) B * H * T * 4);
            out.fill((byte) 0x40);                                   // 3.0039 in every float
            lse.fill((byte) 0x40);
            op.forward(out, lse, qkv, bias, B, T, C, H, N, t0);
            double[][] ref = ReferenceDouble.forward(ReferenceDouble.read(qkv, (long) B * T * 3 * C),
                    ReferenceDouble.read(bias, (long) H * N), B, T, C, H, N);
            float sentinel = out.getAtIndex(FL, 0);
            for (int b = 0; b < B; b++) for (int i = 0; i < T; i++) for (int c = 0; c < C; c++) {
                long at = ((long) b * T + i) * C + c;
                double want = i < t0 ? 3.00390625 : ref[0][(int) at];
                assertTrue(Math.abs(out.getAtIndex(FL, at) - want) < 1e-4 * (1 + Math.abs(want)),
                        "out at b=" + b + " i=" + i + " c=" + c + ": " + out.getAtIndex(FL, at) + " vs " + want + " (sentinel " + sentinel + ")");
            }
        }
    }
}
