package leviathan.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

class MatmulTest {
    private static final long SEED = 1337;
    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;
    private static final double EPS = Math.ulp(1f) / 2;   // float unit roundoff, 2^-24
    private static final int LANES = Simd.lanes();
    private static final int DEFAULT_THREADS = Parallel.threads();

    /** (alpha, beta) pairs: overwrite, accumulate (dW += ...), and general scaling. */
    private static final float[][] SCALES = {{1f, 0f}, {1f, 1f}, {-0.75f, 0.5f}};

    @AfterEach
    void restore() {
        Parallel.setThreads(DEFAULT_THREADS);
        MatmulBlocked.serialFlops = MatmulBlocked.SERIAL_FLOPS;
    }

    @Test
    void squareSizesAllTransposes() {
        var rnd = new SplittableRandom(SEED);
        for (int n : new int[] {0, 1, 7, 31, 33, 65, 257}) {
            for (int t = 0; t < 4; t++) check(rnd, (t & 1) != 0, (t & 2) != 0, n, n, n, 0);
        }
    }

    @Test
    void oddAndNonSquareSizesAllTransposes() {
        var rnd = new SplittableRandom(SEED + 1);
        int[][] shapes = {
            {65, 33, 257}, {257, 65, 33}, {33, 257, 65}, {1, 257, 65}, {257, 1, 65}, {65, 257, 1},
            {LANES - 1, LANES, LANES + 1}, {3 * LANES + 5, 2 * LANES + 1, 3 * LANES + 5},
            {5, 2 * LANES - 1, 1100}, {13, 97, 513},          // K over one K-block (512)
            {2, 3, 4}, {4, 1000, 3}, {1000, 4, 3},
        };
        for (int[] s : shapes) {
            for (int t = 0; t < 4; t++) check(rnd, (t & 1) != 0, (t & 2) != 0, s[0], s[1], s[2], 0);
        }
    }

    @Test
    void leadingDimensionsWiderThanRows() {
        var rnd = new SplittableRandom(SEED + 2);
        int[][] shapes = {{7, 31, 33}, {65, 33, 257}, {33, 65, 7}, {1, 40, 9}};
        for (int[] s : shapes) {
            for (int t = 0; t < 4; t++) check(rnd, (t & 1) != 0, (t & 2) != 0, s[0], s[1], s[2], 1 + t);
        }
        check(rnd, false, true, 96, 384, 128, 384 - 128);     // X·Wᵀ on a column slice of a wider activation
    }

    /** The model's layers at B·T = 768 rows, in the orientations training uses. */
    @Tag("slow")                                          // scalar references at model sizes: native width only
    @Test
    void modelShapes() {
        var rnd = new SplittableRandom(SEED + 3);
        int rows = 768;
        int[][] layers = {{128, 384}, {128, 512}, {512, 128}, {128, 65}, {128, 128}};   // {in, out}
        for (int[] layer : layers) {
            int in = layer[0], out = layer[1];
            check(rnd, false, true, rows, out, in, 0);         // forward   Y  = X·Wᵀ
            check(rnd, false, false, rows, in, out, 0);        // backward dX  = dY·W
            check(rnd, true, false, out, in, rows, 0);         // backward dW += dYᵀ·X
        }
        check(rnd, true, true, 128, 384, 768, 0);              // the fourth combination at a model size
    }

    /** Both tile heights (6 rows for 16 vector registers, 12 for 32) match the definition, and each other bit for bit. */
    @Test
    void everyTileHeightMatchesTheScalarDefinition() {
        int saved = Matmul.tileRows();
        try (Arena arena = Arena.ofShared()) {
            var rnd = new SplittableRandom(SEED + 5);
            int[][] shapes = {{13, 2 * LANES + 3, 29}, {25, 3 * LANES - 1, 70}, {150, LANES + 1, 9}};
            for (int[] s : shapes) {
                for (int t = 0; t < 4; t++) {
                    boolean transA = (t & 1) != 0, transB = (t & 2) != 0;
                    int M = s[0], N = s[1], K = s[2];
                    MemorySegment a = random(arena, (long) M * K, rnd), b = random(arena, (long) K * N, rnd);
                    MemorySegment first = null;
                    for (int rows : Matmul.TILE_ROWS) {
                        Matmul.setTileRows(rows);
                        check(rnd, transA, transB, M, N, K, 0);
                        MemorySegment c = arena.allocate((long) M * N * Float.BYTES);
                        Matmul.gemm(transA, transB, M, N, K, 1f, a, transA ? M : K, b, transB ? K : N, 0f, c, N);
                        if (first == null) first = c;
                        assertEquals(-1, c.mismatch(first), M + "x" + N + "x" + K + " t=" + t + ": tile of " + rows + " rows differs");
                    }
                }
            }
        } finally {
            Matmul.setTileRows(saved);
        }
    }

    @Test
    void sameBitsForAnyThreadCount() {
        var rnd = new SplittableRandom(SEED + 4);
        try (Arena arena = Arena.ofShared()) {
            for (int[] s : new int[][] {{768, 384, 128}, {65, 512, 300}, {37, 1000, 50}}) {
                int M = s[0], N = s[1], K = s[2];
                MemorySegment a = random(arena, (long) M * K, rnd), b = random(arena, (long) K * N, rnd);
                MemorySegment c0 = random(arena, (long) M * N, rnd);
                MemorySegment one = copy(arena, c0), two = copy(arena, c0);
                Parallel.setThreads(1);
                Matmul.gemm(false, true, M, N, K, 0.5f, a, K, b, K, 1f, one, N);
                Parallel.setThreads(2);
                MatmulBlocked.serialFlops = 0;
                Matmul.gemm(false, true, M, N, K, 0.5f, a, K, b, K, 1f, two, N);
                long differ = one.mismatch(two);
                assertEquals(-1, differ, M + "x" + N + "x" + K + ": 1 and 2 threads differ at byte " + differ);
            }
        }
    }

    @Test
    void zeroSizesAndEmptyProduct() {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment c = arena.allocate(6 * Float.BYTES), none = arena.allocate(0);
            for (int i = 0; i < 6; i++) c.setAtIndex(FL, i, i + 1);
            Matmul.gemm(false, false, 0, 3, 4, 1f, none, 4, arena.allocate(48), 3, 0f, none, 3);
            Matmul.gemm(true, true, 2, 0, 4, 1f, arena.allocate(32), 2, none, 4, 0f, c, 3);
            for (int i = 0; i < 6; i++) assertEquals(i + 1, c.getAtIndex(FL, i), "N = 0 leaves C alone");
            Matmul.gemm(false, false, 2, 3, 0, 1f, none, 1, none, 3, 0.5f, c, 3);
            for (int i = 0; i < 6; i++) assertEquals(0.5f * (i + 1), c.getAtIndex(FL, i), "K = 0 gives beta·C");
            c.setAtIndex(FL, 0, Float.NaN);
            Matmul.gemm(false, false, 2, 3, 0, 1f, none, 1, none, 3, 0f, c, 3);
            for (int i = 0; i < 6; i++) assertEquals(0f, c.getAtIndex(FL, i), "beta = 0 ignores what C held");
        }
    }

    @Test
    void rejectsSegmentsTooSmall() {
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = arena.allocate(4L * 5 * Float.BYTES), b = arena.allocate(5L * 3 * Float.BYTES);
            MemorySegment c = arena.allocate(4L * 3 * Float.BYTES);
            assertThrows(IllegalArgumentException.class,
                    () -> Matmul.gemm(false, false, 4, 3, 6, 1f, a, 6, b, 3, 0f, c, 3));
            assertThrows(IllegalArgumentException.class,
                    () -> Matmul.gemm(false, false, 4, 3, 5, 1f, a, 4, b, 3, 0f, c, 3));   // lda < K
        }
    }

    /**
     * Runs gemm on random inputs, with 1 and 2 threads and every (alpha, beta) of {@link #SCALES},
     * against {@code alpha·P + beta·C0} where {@code P} is gemmScalar's product. {@code pad} is
     * added to every leading dimension.
     */
    private static void check(SplittableRandom rnd, boolean transA, boolean transB, int M, int N, int K, int pad) {
        int aRows = transA ? K : M, aCols = transA ? M : K, bRows = transB ? N : K, bCols = transB ? K : N;
        int lda = aCols + pad, ldb = bCols + pad, ldc = N + pad;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = random(arena, extent(aRows, aCols, lda), rnd);
            MemorySegment b = random(arena, extent(bRows, bCols, ldb), rnd);
            MemorySegment c0 = random(arena, extent(M, N, ldc), rnd);
            MemorySegment p = floats(arena, extent(M, N, ldc)), bound = floats(arena, extent(M, N, ldc));
            Matmul.gemmScalar(transA, transB, M, N, K, 1f, a, lda, b, ldb, 0f, p, ldc);
            Matmul.gemmScalar(transA, transB, M, N, K, 1f, abs(arena, a), lda, abs(arena, b), ldb, 0f, bound, ldc);
            for (float[] scale : SCALES) {
                float alpha = scale[0], beta = scale[1];
                for (int threads : new int[] {1, 2}) {
                    Parallel.setThreads(threads);
                    MatmulBlocked.serialFlops = threads == 1 ? MatmulBlocked.SERIAL_FLOPS : 0;   // small shapes too
                    MemorySegment c = copy(arena, c0);
                    if (beta == 0f) fillRows(c, M, N, ldc, Float.NaN);   // beta = 0 must not read C
                    Matmul.gemm(transA, transB, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
                    String what = String.format("%s%s M=%d N=%d K=%d pad=%d alpha=%s beta=%s threads=%d",
                            transA ? "Aᵀ" : "A", transB ? "·Bᵀ" : "·B", M, N, K, pad, alpha, beta, threads);
                    compare(what, c, c0, p, bound, M, N, K, ldc, alpha, beta, pad);
                }
            }
        }
    }

    /**
     * Both sums are float dot products in different orders (blocked FMA vs sequential), so each
     * is within (K+2)·eps·(|alpha|·Σ|a||b| + |beta·c|) of the exact value: the tolerance is twice that.
     * Padding between rows must come back untouched.
     */
    private static void compare(String what, MemorySegment c, MemorySegment c0, MemorySegment p, MemorySegment bound,
                                int M, int N, int K, int ldc, float alpha, float beta, int pad) {
        double worst = 0;
        long worstAt = -1;
        double worstGot = 0, worstWant = 0, worstTol = 0;
        for (int i = 0; i < M; i++) {
            for (int j = 0; j < N; j++) {
                long at = (long) i * ldc + j;
                float old = c0.getAtIndex(FL, at);
                float want = alpha * p.getAtIndex(FL, at) + (beta == 0f ? 0f : beta * old);
                double tol = 2 * (K + 2) * EPS * (Math.abs(alpha) * bound.getAtIndex(FL, at) + Math.abs(beta * old)) + 1e-30;
                float got = c.getAtIndex(FL, at);
                double ratio = Math.abs(got - want) / tol;
                if (!(ratio <= worst)) {                       // NaN counts as the worst
                    worst = Double.isNaN(ratio) ? Double.POSITIVE_INFINITY : ratio;
                    worstAt = at; worstGot = got; worstWant = want; worstTol = tol;
                }
            }
            for (int j = N; j < N + pad && i < M - 1; j++) {
                long at = (long) i * ldc + j;
                if (Float.floatToRawIntBits(c.getAtIndex(FL, at)) != Float.floatToRawIntBits(c0.getAtIndex(FL, at))) {
                    fail(what + ": wrote padding at row " + i + " column " + j);
                }
            }
        }
        if (worst > 1) {
            fail(String.format("%s: worst at row %d col %d: got %s, want %s, tolerance %.3g",
                    what, worstAt / ldc, worstAt % ldc, worstGot, worstWant, worstTol));
        }
    }

    private static long extent(int rows, int cols, int ld) {
        return rows == 0 || cols == 0 ? 0 : (long) (rows - 1) * ld + cols;
    }

    private static MemorySegment floats(Arena arena, long n) {
        return arena.allocate(Math.max(1, n) * Float.BYTES, 64);
    }

    private static MemorySegment random(Arena arena, long n, SplittableRandom rnd) {
        MemorySegment s = floats(arena, n);
        for (long i = 0; i < n; i++) s.setAtIndex(FL, i, (float) rnd.nextDouble(-1, 1));
        return s;
    }

    private static MemorySegment copy(Arena arena, MemorySegment s) {
        MemorySegment d = arena.allocate(s.byteSize(), 64);
        d.copyFrom(s);
        return d;
    }

    private static MemorySegment abs(Arena arena, MemorySegment s) {
        MemorySegment d = copy(arena, s);
        for (long i = 0; i < d.byteSize() / Float.BYTES; i++) d.setAtIndex(FL, i, Math.abs(d.getAtIndex(FL, i)));
        return d;
    }

    private static void fillRows(MemorySegment c, int M, int N, int ldc, float v) {
        for (int i = 0; i < M; i++) {
            for (int j = 0; j < N; j++) c.setAtIndex(FL, (long) i * ldc + j, v);
        }
    }
}
