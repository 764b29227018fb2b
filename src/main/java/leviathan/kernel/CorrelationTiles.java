package leviathan.kernel;

import static leviathan.kernel.Simd.F;

import jdk.incubator.vector.FloatVector;

/**
 * The register-tiled matrix product behind the direct correlation kernel: {@code C (=|+=) A·B}
 * on small per-thread float arrays that stay in L1/L2.
 * <pre>
 *   C[m][v·L + l] = Σ_k A(m, k) · B[k][v·L + l]      m in [0, M), v in [0, nv), k in [0, K)
 *   A(m, k) = a[aOff + m·ams + k·aks]                  (ams, aks) = (lda, 1) for A, (1, lda) for Aᵀ
 * </pre>
 * B and C are row-major with whole vectors per row ({@code nv·L} columns, padded by the caller),
 * and {@code M} is a multiple of 4 (callers pad the rows), so the tiles need no masks. A tile is
 * 4 rows × up to {@link #tileVectors} vectors V: 4·V accumulators, V loads and a broadcast live at
 * once, so V follows the register budget of the running ISA ({@link Simd#registers()}): 4 where
 * there are 32 registers (AVX-512, AArch64: 21 live vectors; measured ~150 GFLOP/s on one Zen 5
 * core with B in L1), 2 where there are 16 (AVX2, SSE: 11 live; 4 would spill). The tuner
 * ({@code leviathan.backend.Tuning}) may choose another V it times faster. Each output element is
 * one sequential sum over k, so results do not depend on the tiling.
 *
 * <p>The kernels store their accumulators themselves, with Vector API calls only: a helper that
 * took an accumulator as an argument stopped being inlined once a kernel grew past C2's node
 * budget, and each call then boxed its vector (an allocation per tile).
 */
final class CorrelationTiles {
    private CorrelationTiles() {}

    static final int L = F.length();

    /** The tile widths there are kernels for, in vectors. */
    static final int MIN_VECTORS = 1, MAX_VECTORS = 4;

    /** Vectors per tile for this ISA's register budget. */
    static final int DEFAULT_VECTORS = Simd.registers() >= 32 ? 4 : 2;

    /** Widest tile used, in vectors (1 to 4): read once per product. */
    static volatile int tileVectors = DEFAULT_VECTORS;

    /** Multiple of 4 at or above {@code m}: the row padding every A operand needs. */
    static int padRows(int m) { return (m + 3) & ~3; }

    /** Multiple of the vector length at or above {@code n}. */
    static int padLanes(int n) { return (n + L - 1) / L * L; }

    /** {@code C = A·B} ({@code accumulate} false) or {@code C += A·B}; see the class comment. */
    static void gemm(int M, int nv, int K, float[] a, int aOff, int ams, int aks,
                     float[] b, int bOff, int ldb, float[] c, int cOff, int ldc, boolean accumulate) {
        gemm(M, nv, K, a, aOff, ams, aks, b, bOff, ldb, c, cOff, ldc, accumulate, 0);
    }

    /**
     * As {@link #gemm(int, int, int, float[], int, int, int, float[], int, int, float[], int, int, boolean)},
     * also storing every C vector a second time {@code dup} columns to the right (when not 0):
     * with {@code dup = nv·L} each row of C comes out followed by a copy of itself, which is
     * the periodic extension the shifted sums read their windows from.
     */
    static void gemm(int M, int nv, int K, float[] a, int aOff, int ams, int aks,
                     float[] b, int bOff, int ldb, float[] c, int cOff, int ldc, boolean accumulate, int dup) {
        assert (M & 3) == 0 : "M must be padded to a multiple of 4, got " + M;
        int w = tileVectors;
        for (int m = 0; m < M; m += 4) {
            int am = aOff + m * ams, cm = cOff + m * ldc;
            int v = 0;
            if (w == 4) {
                for (; v + 4 <= nv; v += 4) k4x4(K, a, am, ams, aks, b, bOff + v * L, ldb, c, cm + v * L, ldc, accumulate, dup);
            } else if (w == 3) {
                for (; v + 3 <= nv; v += 3) k4x3(K, a, am, ams, aks, b, bOff + v * L, ldb, c, cm + v * L, ldc, accumulate, dup);
            } else if (w == 2) {
                for (; v + 2 <= nv; v += 2) k4x2(K, a, am, ams, aks, b, bOff + v * L, ldb, c, cm + v * L, ldc, accumulate, dup);
            } else {
                for (; v < nv; v++) k4x1(K, a, am, ams, aks, b, bOff + v * L, ldb, c, cm + v * L, ldc, accumulate, dup);
            }
            switch (nv - v) {                                  // fewer than w vectors left
                case 3 -> k4x3(K, a, am, ams, aks, b, bOff + v * L, ldb, c, cm + v * L, ldc, accumulate, dup);
                case 2 -> k4x2(K, a, am, ams, aks, b, bOff + v * L, ldb, c, cm + v * L, ldc, accumulate, dup);
                case 1 -> k4x1(K, a, am, ams, aks, b, bOff + v * L, ldb, c, cm + v * L, ldc, accumulate, dup);
                default -> { }
            }
        }
    }

    /** {@code Σ_d x[xo + d]·y[yo + d]}, d < n (whole vectors read: both arrays padded). */
    static float dot(float[] x, int xo, float[] y, int yo, int n) {
        var acc = FloatVector.zero(F);
        for (int d = 0; d < n; d += L) {
            var p = FloatVector.fromArray(F, x, xo + d).mul(FloatVector.fromArray(F, y, yo + d));
            if (d + L > n) p = p.blend(0f, F.indexInRange(d, n).not());
            acc = acc.add(p);
        }
        return VectorMath.sum(acc);
    }

    private static void k4x4(int K, float[] a, int am, int ams, int aks, float[] b, int bo, int ldb,
                             float[] c, int co, int ldc, boolean accumulate, int dup) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c02 = c00, c03 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00, c13 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00, c23 = c00;
        FloatVector c30 = c00, c31 = c00, c32 = c00, c33 = c00;
        int a0 = am, a1 = am + ams, a2 = am + 2 * ams, a3 = am + 3 * ams;
        for (int k = 0; k < K; k++, bo += ldb) {
            int ak = k * aks;
            var b0 = FloatVector.fromArray(F, b, bo);
            var b1 = FloatVector.fromArray(F, b, bo + L);
            var b2 = FloatVector.fromArray(F, b, bo + 2 * L);
            var b3 = FloatVector.fromArray(F, b, bo + 3 * L);
            var x = FloatVector.broadcast(F, a[a0 + ak]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01); c02 = x.fma(b2, c02); c03 = x.fma(b3, c03);
            x = FloatVector.broadcast(F, a[a1 + ak]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11); c12 = x.fma(b2, c12); c13 = x.fma(b3, c13);
            x = FloatVector.broadcast(F, a[a2 + ak]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21); c22 = x.fma(b2, c22); c23 = x.fma(b3, c23);
            x = FloatVector.broadcast(F, a[a3 + ak]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31); c32 = x.fma(b2, c32); c33 = x.fma(b3, c33);
        }
        int r0 = co, r1 = co + ldc, r2 = co + 2 * ldc, r3 = co + 3 * ldc;
        if (accumulate) {
            c00 = c00.add(FloatVector.fromArray(F, c, r0)); c01 = c01.add(FloatVector.fromArray(F, c, r0 + L));
            c02 = c02.add(FloatVector.fromArray(F, c, r0 + 2 * L)); c03 = c03.add(FloatVector.fromArray(F, c, r0 + 3 * L));
            c10 = c10.add(FloatVector.fromArray(F, c, r1)); c11 = c11.add(FloatVector.fromArray(F, c, r1 + L));
            c12 = c12.add(FloatVector.fromArray(F, c, r1 + 2 * L)); c13 = c13.add(FloatVector.fromArray(F, c, r1 + 3 * L));
            c20 = c20.add(FloatVector.fromArray(F, c, r2)); c21 = c21.add(FloatVector.fromArray(F, c, r2 + L));
            c22 = c22.add(FloatVector.fromArray(F, c, r2 + 2 * L)); c23 = c23.add(FloatVector.fromArray(F, c, r2 + 3 * L));
            c30 = c30.add(FloatVector.fromArray(F, c, r3)); c31 = c31.add(FloatVector.fromArray(F, c, r3 + L));
            c32 = c32.add(FloatVector.fromArray(F, c, r3 + 2 * L)); c33 = c33.add(FloatVector.fromArray(F, c, r3 + 3 * L));
        }
        c00.intoArray(c, r0); c01.intoArray(c, r0 + L); c02.intoArray(c, r0 + 2 * L); c03.intoArray(c, r0 + 3 * L);
        c10.intoArray(c, r1); c11.intoArray(c, r1 + L); c12.intoArray(c, r1 + 2 * L); c13.intoArray(c, r1 + 3 * L);
        c20.intoArray(c, r2); c21.intoArray(c, r2 + L); c22.intoArray(c, r2 + 2 * L); c23.intoArray(c, r2 + 3 * L);
        c30.intoArray(c, r3); c31.intoArray(c, r3 + L); c32.intoArray(c, r3 + 2 * L); c33.intoArray(c, r3 + 3 * L);
        if (dup != 0) {
            c00.intoArray(c, r0 + dup); c01.intoArray(c, r0 + L + dup); c02.intoArray(c, r0 + 2 * L + dup); c03.intoArray(c, r0 + 3 * L + dup);
            c10.intoArray(c, r1 + dup); c11.intoArray(c, r1 + L + dup); c12.intoArray(c, r1 + 2 * L + dup); c13.intoArray(c, r1 + 3 * L + dup);
            c20.intoArray(c, r2 + dup); c21.intoArray(c, r2 + L + dup); c22.intoArray(c, r2 + 2 * L + dup); c23.intoArray(c, r2 + 3 * L + dup);
            c30.intoArray(c, r3 + dup); c31.intoArray(c, r3 + L + dup); c32.intoArray(c, r3 + 2 * L + dup); c33.intoArray(c, r3 + 3 * L + dup);
        }
    }

    private static void k4x3(int K, float[] a, int am, int ams, int aks, float[] b, int bo, int ldb,
                             float[] c, int co, int ldc, boolean accumulate, int dup) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00, c02 = c00;
        FloatVector c10 = c00, c11 = c00, c12 = c00;
        FloatVector c20 = c00, c21 = c00, c22 = c00;
        FloatVector c30 = c00, c31 = c00, c32 = c00;
        int a0 = am, a1 = am + ams, a2 = am + 2 * ams, a3 = am + 3 * ams;
        for (int k = 0; k < K; k++, bo += ldb) {
            int ak = k * aks;
            var b0 = FloatVector.fromArray(F, b, bo);
            var b1 = FloatVector.fromArray(F, b, bo + L);
            var b2 = FloatVector.fromArray(F, b, bo + 2 * L);
            var x = FloatVector.broadcast(F, a[a0 + ak]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01); c02 = x.fma(b2, c02);
            x = FloatVector.broadcast(F, a[a1 + ak]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11); c12 = x.fma(b2, c12);
            x = FloatVector.broadcast(F, a[a2 + ak]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21); c22 = x.fma(b2, c22);
            x = FloatVector.broadcast(F, a[a3 + ak]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31); c32 = x.fma(b2, c32);
        }
        int r0 = co, r1 = co + ldc, r2 = co + 2 * ldc, r3 = co + 3 * ldc;
        if (accumulate) {
            c00 = c00.add(FloatVector.fromArray(F, c, r0)); c01 = c01.add(FloatVector.fromArray(F, c, r0 + L));
            c02 = c02.add(FloatVector.fromArray(F, c, r0 + 2 * L));
            c10 = c10.add(FloatVector.fromArray(F, c, r1)); c11 = c11.add(FloatVector.fromArray(F, c, r1 + L));
            c12 = c12.add(FloatVector.fromArray(F, c, r1 + 2 * L));
            c20 = c20.add(FloatVector.fromArray(F, c, r2)); c21 = c21.add(FloatVector.fromArray(F, c, r2 + L));
            c22 = c22.add(FloatVector.fromArray(F, c, r2 + 2 * L));
            c30 = c30.add(FloatVector.fromArray(F, c, r3)); c31 = c31.add(FloatVector.fromArray(F, c, r3 + L));
            c32 = c32.add(FloatVector.fromArray(F, c, r3 + 2 * L));
        }
        c00.intoArray(c, r0); c01.intoArray(c, r0 + L); c02.intoArray(c, r0 + 2 * L);
        c10.intoArray(c, r1); c11.intoArray(c, r1 + L); c12.intoArray(c, r1 + 2 * L);
        c20.intoArray(c, r2); c21.intoArray(c, r2 + L); c22.intoArray(c, r2 + 2 * L);
        c30.intoArray(c, r3); c31.intoArray(c, r3 + L); c32.intoArray(c, r3 + 2 * L);
        if (dup != 0) {
            c00.intoArray(c, r0 + dup); c01.intoArray(c, r0 + L + dup); c02.intoArray(c, r0 + 2 * L + dup);
            c10.intoArray(c, r1 + dup); c11.intoArray(c, r1 + L + dup); c12.intoArray(c, r1 + 2 * L + dup);
            c20.intoArray(c, r2 + dup); c21.intoArray(c, r2 + L + dup); c22.intoArray(c, r2 + 2 * L + dup);
            c30.intoArray(c, r3 + dup); c31.intoArray(c, r3 + L + dup); c32.intoArray(c, r3 + 2 * L + dup);
        }
    }

    private static void k4x2(int K, float[] a, int am, int ams, int aks, float[] b, int bo, int ldb,
                             float[] c, int co, int ldc, boolean accumulate, int dup) {
        FloatVector c00 = FloatVector.zero(F), c01 = c00;
        FloatVector c10 = c00, c11 = c00;
        FloatVector c20 = c00, c21 = c00;
        FloatVector c30 = c00, c31 = c00;
        int a0 = am, a1 = am + ams, a2 = am + 2 * ams, a3 = am + 3 * ams;
        for (int k = 0; k < K; k++, bo += ldb) {
            int ak = k * aks;
            var b0 = FloatVector.fromArray(F, b, bo);
            var b1 = FloatVector.fromArray(F, b, bo + L);
            var x = FloatVector.broadcast(F, a[a0 + ak]);
            c00 = x.fma(b0, c00); c01 = x.fma(b1, c01);
            x = FloatVector.broadcast(F, a[a1 + ak]);
            c10 = x.fma(b0, c10); c11 = x.fma(b1, c11);
            x = FloatVector.broadcast(F, a[a2 + ak]);
            c20 = x.fma(b0, c20); c21 = x.fma(b1, c21);
            x = FloatVector.broadcast(F, a[a3 + ak]);
            c30 = x.fma(b0, c30); c31 = x.fma(b1, c31);
        }
        int r0 = co, r1 = co + ldc, r2 = co + 2 * ldc, r3 = co + 3 * ldc;
        if (accumulate) {
            c00 = c00.add(FloatVector.fromArray(F, c, r0)); c01 = c01.add(FloatVector.fromArray(F, c, r0 + L));
            c10 = c10.add(FloatVector.fromArray(F, c, r1)); c11 = c11.add(FloatVector.fromArray(F, c, r1 + L));
            c20 = c20.add(FloatVector.fromArray(F, c, r2)); c21 = c21.add(FloatVector.fromArray(F, c, r2 + L));
            c30 = c30.add(FloatVector.fromArray(F, c, r3)); c31 = c31.add(FloatVector.fromArray(F, c, r3 + L));
        }
        c00.intoArray(c, r0); c01.intoArray(c, r0 + L);
        c10.intoArray(c, r1); c11.intoArray(c, r1 + L);
        c20.intoArray(c, r2); c21.intoArray(c, r2 + L);
        c30.intoArray(c, r3); c31.intoArray(c, r3 + L);
        if (dup != 0) {
            c00.intoArray(c, r0 + dup); c01.intoArray(c, r0 + L + dup);
            c10.intoArray(c, r1 + dup); c11.intoArray(c, r1 + L + dup);
            c20.intoArray(c, r2 + dup); c21.intoArray(c, r2 + L + dup);
            c30.intoArray(c, r3 + dup); c31.intoArray(c, r3 + L + dup);
        }
    }

    private static void k4x1(int K, float[] a, int am, int ams, int aks, float[] b, int bo, int ldb,
                             float[] c, int co, int ldc, boolean accumulate, int dup) {
        FloatVector c00 = FloatVector.zero(F), c10 = c00, c20 = c00, c30 = c00;
        int a0 = am, a1 = am + ams, a2 = am + 2 * ams, a3 = am + 3 * ams;
        for (int k = 0; k < K; k++, bo += ldb) {
            int ak = k * aks;
            var b0 = FloatVector.fromArray(F, b, bo);
            c00 = FloatVector.broadcast(F, a[a0 + ak]).fma(b0, c00);
            c10 = FloatVector.broadcast(F, a[a1 + ak]).fma(b0, c10);
            c20 = FloatVector.broadcast(F, a[a2 + ak]).fma(b0, c20);
            c30 = FloatVector.broadcast(F, a[a3 + ak]).fma(b0, c30);
        }
        int r0 = co, r1 = co + ldc, r2 = co + 2 * ldc, r3 = co + 3 * ldc;
        if (accumulate) {
            c00 = c00.add(FloatVector.fromArray(F, c, r0));
            c10 = c10.add(FloatVector.fromArray(F, c, r1));
            c20 = c20.add(FloatVector.fromArray(F, c, r2));
            c30 = c30.add(FloatVector.fromArray(F, c, r3));
        }
        c00.intoArray(c, r0);
        c10.intoArray(c, r1);
        c20.intoArray(c, r2);
        c30.intoArray(c, r3);
        if (dup != 0) {
            c00.intoArray(c, r0 + dup);
            c10.intoArray(c, r1 + dup);
            c20.intoArray(c, r2 + dup);
            c30.intoArray(c, r3 + dup);
        }
    }
}
