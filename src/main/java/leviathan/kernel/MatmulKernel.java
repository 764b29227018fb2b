package leviathan.kernel;

import static leviathan.kernel.Simd.F;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;

/**
 * The register-blocked micro-kernels of {@link MatmulBlocked}: one {@code MR × NR} tile of C
 * ({@code MR = 6} rows, {@code NR = 2} vectors) from a packed A panel and a packed B panel.
 * <pre>
 *   acc[r][v] = Σ_p ap[p·MR + r] · bp[p·NR + v·L .. +L)       p in [0, kc)
 *   C[r][v]   = alpha·acc[r][v] + beta·C[r][v]                 (C not read when beta = 0)
 * </pre>
 * Twelve accumulators keep both FMA pipes busy through the FMA latency, and with the two B
 * vectors and one broadcast they fit the 16 vector registers of AVX2 (AVX-512 has 32). Wider
 * tiles (8×2, 8×3, 12×2, 14×2, 4×3) measured slower here: C2 spills or the extra broadcasts
 * cost more than they save. The accumulators go to the heap {@code tile}, and
 * {@link MatmulBlocked#mergeTile} writes them to C: writing C here, from twelve vectors, made
 * the method too big for C2 to inline every store, and each store it did not inline boxed a vector.
 */
final class MatmulKernel {
    private MatmulKernel() {}

    static final int L = F.length();
    static final int MR = 6;
    static final int NR = 2 * L;

    /** The full tile: 6 rows × 2 vectors. {@code ao}, {@code bo}: panel starts; {@code ci}: C index of the tile. */
    static void tile6x2(int kc, float[] ap, int ao, float[] bp, int bo, MemorySegment c, long ci, int ldc,
                        int rows, int cols, float alpha, float beta, float[] tile) {
        FloatVector c00 = FloatVector.zero(F), c01 = FloatVector.zero(F);
        FloatVector c10 = FloatVector.zero(F), c11 = FloatVector.zero(F);
        FloatVector c20 = FloatVector.zero(F), c21 = FloatVector.zero(F);
        FloatVector c30 = FloatVector.zero(F), c31 = FloatVector.zero(F);
        FloatVector c40 = FloatVector.zero(F), c41 = FloatVector.zero(F);
        FloatVector c50 = FloatVector.zero(F), c51 = FloatVector.zero(F);
        for (int p = 0; p < kc; p++, ao += MR, bo += NR) {
            FloatVector b0 = FloatVector.fromArray(F, bp, bo);
            FloatVector b1 = FloatVector.fromArray(F, bp, bo + L);
            FloatVector a = FloatVector.broadcast(F, ap[ao]);
            c00 = a.fma(b0, c00); c01 = a.fma(b1, c01);
            a = FloatVector.broadcast(F, ap[ao + 1]);
            c10 = a.fma(b0, c10); c11 = a.fma(b1, c11);
            a = FloatVector.broadcast(F, ap[ao + 2]);
            c20 = a.fma(b0, c20); c21 = a.fma(b1, c21);
            a = FloatVector.broadcast(F, ap[ao + 3]);
            c30 = a.fma(b0, c30); c31 = a.fma(b1, c31);
            a = FloatVector.broadcast(F, ap[ao + 4]);
            c40 = a.fma(b0, c40); c41 = a.fma(b1, c41);
            a = FloatVector.broadcast(F, ap[ao + 5]);
            c50 = a.fma(b0, c50); c51 = a.fma(b1, c51);
        }
        c00.intoArray(tile, 0);          c01.intoArray(tile, L);
        c10.intoArray(tile, NR);         c11.intoArray(tile, NR + L);
        c20.intoArray(tile, 2 * NR);     c21.intoArray(tile, 2 * NR + L);
        c30.intoArray(tile, 3 * NR);     c31.intoArray(tile, 3 * NR + L);
        c40.intoArray(tile, 4 * NR);     c41.intoArray(tile, 4 * NR + L);
        c50.intoArray(tile, 5 * NR);     c51.intoArray(tile, 5 * NR + L);
        MatmulBlocked.mergeTile(tile, c, ci, ldc, rows, cols, alpha, beta);
    }

    /**
     * The last column panel when it is at most one vector wide ({@code cols <= L}, N = 65 for
     * instance): half the work of {@link #tile6x2}, reading the first vector of each B row.
     */
    static void tile6x1(int kc, float[] ap, int ao, float[] bp, int bo, MemorySegment c, long ci, int ldc,
                        int rows, int cols, float alpha, float beta, float[] tile) {
        FloatVector c0 = FloatVector.zero(F), c1 = FloatVector.zero(F), c2 = FloatVector.zero(F);
        FloatVector c3 = FloatVector.zero(F), c4 = FloatVector.zero(F), c5 = FloatVector.zero(F);
        for (int p = 0; p < kc; p++, ao += MR, bo += NR) {
            FloatVector b = FloatVector.fromArray(F, bp, bo);
            c0 = FloatVector.broadcast(F, ap[ao]).fma(b, c0);
            c1 = FloatVector.broadcast(F, ap[ao + 1]).fma(b, c1);
            c2 = FloatVector.broadcast(F, ap[ao + 2]).fma(b, c2);
            c3 = FloatVector.broadcast(F, ap[ao + 3]).fma(b, c3);
            c4 = FloatVector.broadcast(F, ap[ao + 4]).fma(b, c4);
            c5 = FloatVector.broadcast(F, ap[ao + 5]).fma(b, c5);
        }
        c0.intoArray(tile, 0);
        c1.intoArray(tile, NR);
        c2.intoArray(tile, 2 * NR);
        c3.intoArray(tile, 3 * NR);
        c4.intoArray(tile, 4 * NR);
        c5.intoArray(tile, 5 * NR);
        MatmulBlocked.mergeTile(tile, c, ci, ldc, rows, cols, alpha, beta);
    }
}
