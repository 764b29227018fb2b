package leviathan.kernel;

import static leviathan.testing.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import org.junit.jupiter.api.Test;

/**
 * The direct SIMD correlation kernel against the scalar reference, on the shapes where the
 * vector code has edges (lengths around the vector width, odd head widths, partial blocks,
 * {@code t0 > 0}), plus its building blocks (tiles, exp) and determinism. The operation-level
 * properties (N = 1 is attention, finite differences, large scores, causality, the three-way grid)
 * are in {@code leviathan.nn.CorrelationAttentionTest}.
 */
class CorrelationTest {

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;
    private static final int L = Simd.lanes();

    static MemorySegment random(Arena arena, long n, SplittableRandom rng, double scale) {
        MemorySegment s = arena.allocate(n * Float.BYTES, 64);
        for (long i = 0; i < n; i++) s.setAtIndex(FL, i, (float) ((rng.nextDouble() * 2 - 1) * scale));
        return s;
    }

    static MemorySegment zeros(Arena arena, long n) { return arena.allocate(n * Float.BYTES, 64); }


    /**
     * With the weights dropped (a mask keyed for one site, rows counted from a rank's first row),
     * the direct kernel drops the same weights as the scalar reference, forward and backward; a
     * mask at p = 0 is the undropped computation exactly. The gradients through the mask are
     * checked against finite differences at the model level (GptGradientTest).
     */
    @Test
    void directDropsTheSameWeightsAsTheScalarReference() {
        for (int[] shape : new int[][] {{2, 9, 2, 8, 3}, {1, 21, 3, 5, 5}, {2, 17, 2, 16, 1}}) {
            int B = shape[0], T = shape[1], H = shape[2], D = shape[3], N = shape[4], C = H * D;
            var rng = new SplittableRandom(31 + T);
            try (Arena arena = Arena.ofShared(); var ws = new CorrelationWorkspace(B, T, C, H, N)) {
                MemorySegment qkv = random(arena, (long) B * T * 3 * C, rng, 1.5), lagBias = random(arena, (long) H * N, rng, 0.5);
                MemorySegment dout = random(arena, (long) B * T * C, rng, 1.0);
                var scalar = new CorrelationDriver<>(Correlation.scalar(C, H, N), B, T, H, N);
                Dropout.Mask mask = new Dropout.Mask().set(Dropout.key(3, 1, 0, 7), 0.3f, 4);
                MemorySegment out0 = zeros(arena, (long) B * T * C), out1 = zeros(arena, (long) B * T * C), plain = zeros(arena, (long) B * T * C);
                MemorySegment lse0 = zeros(arena, (long) B * H * T), lse1 = zeros(arena, (long) B * H * T), lseP = zeros(arena, (long) B * H * T);
                scalar.forward(mask, out0, lse0, qkv, lagBias, B, T, 0);
                ws.driver().forward(mask, out1, lse1, qkv, lagBias, B, T, 0);
                String at = "B=" + B + " T=" + T + " H=" + H + " D=" + D + " N=" + N;
                assertClose("dropped out " + at, out1, out0, 1e-5, 1e-4);
                assertClose("lse " + at, lse1, lse0, 1e-5, 1e-5);
                ws.driver().forward(null, plain, lseP, qkv, lagBias, B, T, 0);
                boolean differs = false;
                for (long i = 0; i < (long) B * T * C; i++) differs |= plain.getAtIndex(FL, i) != out1.getAtIndex(FL, i);
                assertTrue(differs, "dropping changes the output " + at);
                MemorySegment dq0 = zeros(arena, (long) B * T * 3 * C), dq1 = zeros(arena, (long) B * T * 3 * C);
                MemorySegment db0 = zeros(arena, (long) H * N), db1 = zeros(arena, (long) H * N);
                scalar.backward(mask, dq0, db0, dout, out0, lse0, qkv, lagBias, B, T);
                ws.driver().backward(mask, dq1, db1, dout, out0, lse0, qkv, lagBias, B, T);
                assertClose("dropped dqkv " + at, dq1, dq0, 1e-4, 1e-3);
                assertClose("dropped dlagBias " + at, db1, db0, 1e-4, 1e-3);
                MemorySegment outZ = zeros(arena, (long) B * T * C), lseZ = zeros(arena, (long) B * H * T);
                ws.driver().forward(new Dropout.Mask().set(1, 0f, 0), outZ, lseZ, qkv, lagBias, B, T, 0);
                assertClose("p = 0 " + at, outZ, plain, 0, 0);
            }
        }
    }

    /** Runs scalar and direct forward + backward on one shape and compares every output. */
    private static void directMatchesScalar(int B, int T, int H, int D, int N, int t0, boolean bias, long seed) {
        int C = H * D;
        var rng = new SplittableRandom(seed);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment qkv = random(arena, (long) B * T * 3 * C, rng, 1.5);
            MemorySegment lagBias = bias ? random(arena, (long) H * N, rng, 0.5) : null;
            MemorySegment dout = random(arena, (long) B * T * C, rng, 1.0);
            MemorySegment out0 = zeros(arena, (long) B * T * C), out1 = zeros(arena, (long) B * T * C);
            MemorySegment lse0 = zeros(arena, (long) B * H * T), lse1 = zeros(arena, (long) B * H * T);
            Correlation.forwardScalar(out0, lse0, qkv, lagBias, B, T, C, H, N, t0);
            var ws = new CorrelationWorkspace(B, T + 3, C, H, N);     // bigger than needed: strides differ from T
            Correlation.forward(ws, out1, lse1, qkv, lagBias, B, T, t0);
            String shape = "B=" + B + " T=" + T + " H=" + H + " D=" + D + " N=" + N + " t0=" + t0;
            assertClose("out " + shape, out1, out0, 1e-5, 1e-4);
            assertClose("lse " + shape, lse1, lse0, 1e-5, 1e-5);
            if (t0 > 0) return;
            MemorySegment dqkv0 = random(arena, (long) B * T * 3 * C, new SplittableRandom(7), 1.0);
            MemorySegment dqkv1 = zeros(arena, dqkv0.byteSize() / Float.BYTES);
            dqkv1.copyFrom(dqkv0);                                      // backward adds: start from the same values
            MemorySegment db0 = bias ? zeros(arena, (long) H * N) : null, db1 = bias ? zeros(arena, (long) H * N) : null;
            Correlation.backwardScalar(dqkv0, db0, dout, out0, lse0, qkv, lagBias, B, T, C, H, N);
            Correlation.backward(ws, dqkv1, db1, dout, out0, lse0, qkv, lagBias, B, T);
            assertClose("dqkv " + shape, dqkv1, dqkv0, 1e-4, 1e-3);
            if (bias) assertClose("dlagBias " + shape, db1, db0, 1e-4, 1e-3);
        }
    }

    @Test
    void directMatchesScalarAroundTheVectorWidth() {
        long seed = 1337;
        for (int T : new int[] {1, 2, L - 1, L, L + 1, 3 * L + 5}) {
            for (int D : new int[] {1, 3, 4, L - 1, L + 1, 2 * L}) {
                for (int N : new int[] {1, 2, D}) {
                    if (N > D) continue;
                    directMatchesScalar(2, T, 2, D, N, 0, true, seed++);
                }
            }
        }
    }

    @Test
    void directMatchesScalarWithoutBiasAndFromT0() {
        directMatchesScalar(2, 37, 3, 8, 3, 0, false, 1);
        for (int t0 : new int[] {1, 16, 36, 37}) directMatchesScalar(2, 37, 3, 8, 3, t0, true, 2 + t0);
        directMatchesScalar(1, 64, 4, 32, 4, 63, true, 99);           // sampling: newest row only
    }

    @Test
    void forwardFromT0LeavesEarlierRowsAndMatchesTheFullForward() {
        int B = 2, T = 40, H = 2, D = 8, N = 3, C = H * D, t0 = 21;
        var rng = new SplittableRandom(5);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment qkv = random(arena, (long) B * T * 3 * C, rng, 1);
            MemorySegment bias = random(arena, (long) H * N, rng, 1);
            var ws = new CorrelationWorkspace(B, T, C, H, N);
            MemorySegment full = zeros(arena, (long) B * T * C), fullLse = zeros(arena, (long) B * H * T);
            Correlation.forward(ws, full, fullLse, qkv, bias, B, T, 0);
            MemorySegment part = zeros(arena, (long) B * T * C), partLse = zeros(arena, (long) B * H * T);
            part.fill((byte) 0x7f);
            Correlation.forward(ws, part, partLse, qkv, bias, B, T, t0);
            for (int b = 0; b < B; b++) {
                for (int i = 0; i < T; i++) {
                    for (int c = 0; c < C; c++) {
                        long k = ((long) b * T + i) * C + c;
                        float p = part.getAtIndex(FL, k);
                        if (i < t0) assertEquals(Float.intBitsToFloat(0x7f7f7f7f), p, "row " + i + " was written");
                        else assertEquals(full.getAtIndex(FL, k), p, "row " + i);
                    }
                }
            }
        }
    }

    @Test
    void resultsDoNotDependOnTheThreadCount() {
        int B = 3, T = 50, H = 2, D = 16, N = 5, C = H * D;
        var rng = new SplittableRandom(11);
        int saved = Parallel.threads();
        try (Arena arena = Arena.ofShared()) {
            MemorySegment qkv = random(arena, (long) B * T * 3 * C, rng, 1);
            MemorySegment bias = random(arena, (long) H * N, rng, 1);
            MemorySegment dout = random(arena, (long) B * T * C, rng, 1);
            float[][] results = new float[3][];
            for (int threads = 1; threads <= 3; threads++) {
                Parallel.setThreads(threads);
                var ws = new CorrelationWorkspace(B, T, C, H, N);
                MemorySegment out = zeros(arena, (long) B * T * C), lse = zeros(arena, (long) B * H * T);
                MemorySegment dqkv = zeros(arena, (long) B * T * 3 * C), db = zeros(arena, (long) H * N);
                Correlation.forward(ws, out, lse, qkv, bias, B, T, 0);
                Correlation.backward(ws, dqkv, db, dout, out, lse, qkv, bias, B, T);
                float[] all = new float[(int) ((out.byteSize() + dqkv.byteSize() + db.byteSize()) / Float.BYTES)];
                int k = 0;
                for (MemorySegment s : new MemorySegment[] {out, dqkv, db}) {
                    float[] a = s.toArray(FL);
                    System.arraycopy(a, 0, all, k, a.length);
                    k += a.length;
                }
                results[threads - 1] = all;
            }
            assertArrayEquals(results[0], results[1], "1 vs 2 threads");
            assertArrayEquals(results[0], results[2], "1 vs 3 threads");
        } finally {
            Parallel.setThreads(saved);
        }
    }

    @Test
    void tilesMatchATripleLoop() {
        int saved = Correlation.tileVectors();
        try {
            for (int w : Correlation.TILE_VECTORS) {
                Correlation.setTileVectors(w);
                tilesMatchATripleLoop(w);
            }
        } finally {
            Correlation.setTileVectors(saved);
        }
    }

    /** Every tile width gives the same bits on a head shape with a vector tail (D = 3L + 5). */
    @Test
    void resultsDoNotDependOnTheTileWidth() {
        int saved = Correlation.tileVectors();
        int B = 2, T = 3 * L + 7, H = 2, D = 3 * L + 5, N = 3, C = H * D;
        var rng = new SplittableRandom(11);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment qkv = arena.allocate((long) B * T * 3 * C * Float.BYTES), bias = arena.allocate((long) H * N * Float.BYTES);
            MemorySegment dout = arena.allocate((long) B * T * C * Float.BYTES);
            for (long i = 0; i < qkv.byteSize() / 4; i++) qkv.setAtIndex(FL, i, (float) rng.nextGaussian());
            for (long i = 0; i < bias.byteSize() / 4; i++) bias.setAtIndex(FL, i, (float) rng.nextGaussian());
            for (long i = 0; i < dout.byteSize() / 4; i++) dout.setAtIndex(FL, i, (float) rng.nextGaussian());
            MemorySegment[] first = null;
            for (int w : Correlation.TILE_VECTORS) {
                Correlation.setTileVectors(w);
                MemorySegment out = arena.allocate((long) B * T * C * Float.BYTES), lse = arena.allocate((long) B * H * T * Float.BYTES);
                MemorySegment dqkv = arena.allocate(qkv.byteSize()), db = arena.allocate(bias.byteSize());
                try (CorrelationWorkspace ws = new CorrelationWorkspace(B, T, C, H, N)) {
                    ws.driver().forward(out, lse, qkv, bias, B, T, 0);
                    ws.driver().backward(dqkv, db, dout, out, lse, qkv, bias, B, T);
                }
                MemorySegment[] now = {out, lse, dqkv, db};
                if (first == null) first = now;
                for (int i = 0; i < now.length; i++) {
                    assertEquals(-1, now[i].mismatch(first[i]), "tile of " + w + " vectors, output " + i + " differs from 1 vector");
                }
            }
        } finally {
            Correlation.setTileVectors(saved);
        }
    }

    private static void tilesMatchATripleLoop(int w) {
        var rng = new SplittableRandom(3);
        for (int nv = 1; nv <= 6; nv++) {
            for (boolean transposedA : new boolean[] {false, true}) {
                for (boolean accumulate : new boolean[] {false, true}) {
                    int M = 12, K = 7, cols = nv * L, lda = transposedA ? M + 3 : K + 2;
                    float[] a = new float[(transposedA ? K : M) * lda + 5];
                    float[] b = new float[K * (cols + L)];
                    float[] c = new float[M * (cols + L)];
                    for (int i = 0; i < a.length; i++) a[i] = (float) rng.nextGaussian();
                    for (int i = 0; i < b.length; i++) b[i] = (float) rng.nextGaussian();
                    for (int i = 0; i < c.length; i++) c[i] = (float) rng.nextGaussian();
                    float[] expected = c.clone();
                    int ams = transposedA ? 1 : lda, aks = transposedA ? lda : 1, ldb = cols + L, ldc = cols + L;
                    for (int m = 0; m < M; m++) {
                        for (int j = 0; j < cols; j++) {
                            float sum = 0f;
                            for (int k = 0; k < K; k++) sum = Math.fma(a[2 + m * ams + k * aks], b[k * ldb + j], sum);
                            expected[m * ldc + j] = accumulate ? expected[m * ldc + j] + sum : sum;
                        }
                    }
                    CorrelationTiles.gemm(M, nv, K, a, 2, ams, aks, b, 0, ldb, c, 0, ldc, accumulate);
                    assertArrayEquals(expected, c, 1e-5f, "tile " + w + " nv=" + nv + " transposedA=" + transposedA + " accumulate=" + accumulate);
                }
            }
        }
    }
}
