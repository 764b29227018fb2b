package leviathan.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Pure-Java GEMM, the fallback when no native backend is loaded:
 * {@code C = alpha·op(A)·op(B) + beta·C}, row-major, {@code op} = identity or transpose.
 */
public final class Matmul {
    private Matmul() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    /**
     * Checks that every matrix fits its segment and each leading dimension covers its row; called
     * at the API boundary (here and before each native GEMM downcall), not in loops.
     */
    public static void checkArgs(boolean transA, boolean transB, int M, int N, int K,
                          MemorySegment a, int lda, MemorySegment b, int ldb, MemorySegment c, int ldc) {
        checkArgs(transA, transB, M, N, K, a, 0, lda, b, 0, ldb, c, 0, ldc);
    }

    /** {@link #checkArgs(boolean, boolean, int, int, int, MemorySegment, int, MemorySegment, int, MemorySegment, int)} for matrices starting at float offsets. */
    public static void checkArgs(boolean transA, boolean transB, int M, int N, int K, MemorySegment a, long aOffset, int lda,
                                 MemorySegment b, long bOffset, int ldb, MemorySegment c, long cOffset, int ldc) {
        if (M < 0 || N < 0 || K < 0) throw new IllegalArgumentException("negative GEMM size " + M + "x" + N + "x" + K);
        int aRows = transA ? K : M, aCols = transA ? M : K;
        int bRows = transB ? N : K, bCols = transB ? K : N;
        need("A", a, aOffset, aRows, aCols, lda);
        need("B", b, bOffset, bRows, bCols, ldb);
        need("C", c, cOffset, M, N, ldc);
    }

    private static void need(String what, MemorySegment s, long offset, int rows, int cols, int ld) {
        if (offset < 0) throw new IllegalArgumentException(what + ": negative offset " + offset);
        if (rows == 0 || cols == 0) return;
        if (ld < cols) throw new IllegalArgumentException(what + ": leading dimension " + ld + " < columns " + cols);
        long needed = (offset + (long) (rows - 1) * ld + cols) * Float.BYTES;
        if (s.byteSize() < needed) {
            throw new IllegalArgumentException(what + ": " + rows + "x" + cols + " (ld " + ld + ")" + (offset == 0 ? "" : " at float " + offset)
                    + " needs " + needed + " bytes, segment has " + s.byteSize());
        }
    }

    /** The definition: a triple loop in double-free float arithmetic, one dot product per element. */
    public static void gemmScalar(boolean transA, boolean transB, int M, int N, int K, float alpha,
                                  MemorySegment a, int lda, MemorySegment b, int ldb,
                                  float beta, MemorySegment c, int ldc) {
        gemmScalar(transA, transB, M, N, K, alpha, a, 0, lda, b, 0, ldb, beta, c, 0, ldc);
    }

    /** {@link #gemmScalar(boolean, boolean, int, int, int, float, MemorySegment, int, MemorySegment, int, float, MemorySegment, int)} on matrices starting at float offsets. */
    public static void gemmScalar(boolean transA, boolean transB, int M, int N, int K, float alpha,
                                  MemorySegment a, long aOffset, int lda, MemorySegment b, long bOffset, int ldb,
                                  float beta, MemorySegment c, long cOffset, int ldc) {
        checkArgs(transA, transB, M, N, K, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
        for (int i = 0; i < M; i++) {
            for (int j = 0; j < N; j++) {
                float sum = 0f;
                for (int p = 0; p < K; p++) {
                    float av = a.getAtIndex(FL, aOffset + (transA ? (long) p * lda + i : (long) i * lda + p));
                    float bv = b.getAtIndex(FL, bOffset + (transB ? (long) j * ldb + p : (long) p * ldb + j));
                    sum += av * bv;
                }
                long ci = cOffset + (long) i * ldc + j;
                float old = beta == 0f ? 0f : beta * c.getAtIndex(FL, ci);
                c.setAtIndex(FL, ci, alpha * sum + old);
            }
        }
    }

    /**
     * Vector API GEMM; same contract as {@link #gemmScalar}: packed panels, cache blocking and a
     * register-blocked micro-kernel ({@link MatmulBlocked}), parallel over {@link Parallel} threads
     * for products above about 10 Mflop. Sums are blocked FMA chains, so they differ from the
     * scalar definition by rounding only; the result does not depend on the thread count. As in
     * BLAS, {@code alpha = 0} or {@code K = 0} gives {@code beta·C} without reading A or B, and
     * {@code beta = 0} never reads C.
     */
    public static void gemm(boolean transA, boolean transB, int M, int N, int K, float alpha,
                            MemorySegment a, int lda, MemorySegment b, int ldb,
                            float beta, MemorySegment c, int ldc) {
        gemm(transA, transB, M, N, K, alpha, a, 0, lda, b, 0, ldb, beta, c, 0, ldc);
    }

    /**
     * {@link #gemm(boolean, boolean, int, int, int, float, MemorySegment, int, MemorySegment, int, float, MemorySegment, int)}
     * on matrices that start {@code aOffset}, {@code bOffset}, {@code cOffset} floats into their
     * segments: the same result as on slices from there, with no slice made.
     */
    public static void gemm(boolean transA, boolean transB, int M, int N, int K, float alpha,
                            MemorySegment a, long aOffset, int lda, MemorySegment b, long bOffset, int ldb,
                            float beta, MemorySegment c, long cOffset, int ldc) {
        gemm(0, transA, transB, M, N, K, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
    }

    /**
     * {@link #gemm(boolean, boolean, int, int, int, float, MemorySegment, long, int, MemorySegment, long, int, float, MemorySegment, long, int)}
     * on {@code threads} kernel threads (at most {@link Parallel#threads()} run at once; 0: the
     * default, one thread below about 32 MFLOP and all above). The result is bitwise the same for any count.
     */
    public static void gemm(int threads, boolean transA, boolean transB, int M, int N, int K, float alpha,
                            MemorySegment a, long aOffset, int lda, MemorySegment b, long bOffset, int ldb,
                            float beta, MemorySegment c, long cOffset, int ldc) {
        if (threads < 0) throw new IllegalArgumentException("GEMM threads must be >= 0, got " + threads);
        checkArgs(transA, transB, M, N, K, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
        if (!Simd.ENABLED) {
            gemmScalar(transA, transB, M, N, K, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
            return;
        }
        if (M == 0 || N == 0) return;
        if (K == 0 || alpha == 0f) {
            scale(M, N, beta, c, cOffset, ldc);
            return;
        }
        MatmulBlocked.gemm(threads, transA, transB, M, N, K, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
    }

    /** The micro-kernel tile heights there are (rows of C per tile): the candidates of {@link #setTileRows}. */
    public static final java.util.List<Integer> TILE_ROWS = java.util.List.of(MatmulKernel.MR_SMALL, MatmulKernel.MR_LARGE);

    /** The tile height in use: by default the one this ISA's register budget fits ({@link Simd#registers()}). */
    public static int tileRows() { return MatmulBlocked.tileRows; }

    /** The default of {@link #tileRows()} on this machine. */
    public static int defaultTileRows() { return MatmulKernel.MR; }

    /** Sets the tile height (one of {@link #TILE_ROWS}); results are the same for either, only speed differs. */
    public static void setTileRows(int rows) {
        if (!TILE_ROWS.contains(rows)) throw new IllegalArgumentException("GEMM tile rows must be one of " + TILE_ROWS + ", got " + rows);
        MatmulBlocked.tileRows = rows;
    }

    /** C = beta·C (C = 0 when beta = 0, whatever C held): the product term is zero. */
    private static void scale(int M, int N, float beta, MemorySegment c, long cOffset, int ldc) {
        for (int i = 0; i < M; i++) {
            long row = cOffset + (long) i * ldc;
            for (int j = 0; j < N; j++) {
                c.setAtIndex(FL, row + j, beta == 0f ? 0f : beta * c.getAtIndex(FL, row + j));
            }
        }
    }
}
