package leviathan.kernel;

import static leviathan.kernel.Simd.F;

import java.lang.foreign.MemorySegment;
import jdk.incubator.vector.FloatVector;

/**
 * The register-blocked micro-kernels of {@link MatmulBlocked}: one {@code MR × NR} tile of C
 * from a packed A panel ({@code ap[p·MR + r]}) and a packed B panel ({@code bp[p·NR + j]}):
 * <pre>
 *   acc[r][j] = Σ_p ap[p·MR + r] · bp[p·NR + j]      p in [0, kc), r < MR, j < NR = 2 vectors
 *   C[r][j]   = alpha·acc[r][j] + beta·C[r][j]       (by MatmulBlocked.mergeTile)
 * </pre>
 * Each step loads two B vectors and broadcasts MR values of A into 2·MR FMAs, so a tile holds
 * 2·MR accumulators, two B vectors and a broadcast. MR is chosen from the register budget of the
 * running ISA ({@link Simd#registers()}), not from the lane count: 12 where there are 32 vector
 * registers (AVX-512 at any width, AArch64: 27 live vectors) and 6 where there are 16 (AVX2 and
 * SSE: 15 live vectors); 12 rows with 16 registers would spill accumulators on every step. Both
 * keep the two FMA pipes busy through the FMA latency; on the AVX-512 test machine 12×2 and 6×2
 * ran the model shapes at the same speed, and 12 rows halve the masked copies that pack a
 * transposed A (dW = dYᵀ·X: 6 rows ran it 10% slower). Other tiles measured no faster (8×2, 4×3,
 * 6×3, 8×3, 4×4, 14×2). The tuner ({@code leviathan.backend.Tuning}) may pick the other MR of the
 * two where it times faster; the rows of a tile do not change any sum, so results are the same.
 *
 * <p>The accumulators go to the per-thread {@code tile} and mergeTile writes C: storing them into
 * C here made the method too big for C2 to inline every store, and each store left out boxed its
 * vector (an allocation per tile).
 */
final class MatmulKernel {
    private MatmulKernel() {}

    static final int L = F.length();
    /** The tile heights there are kernels for. */
    static final int MR_SMALL = 6, MR_LARGE = 12;
    /** Rows of a tile for this ISA's register budget: {@value #MR_LARGE} with 32 registers, {@value #MR_SMALL} with 16. */
    static final int MR = Simd.registers() >= 32 ? MR_LARGE : MR_SMALL;
    /** Columns of a tile: two vectors. */
    static final int NR = 2 * L;

    /** 12 rows × 2 vectors: 24 accumulators, for the 32 vector registers of AVX-512. */
    static void tile12x2(int kc, float[] ap, int ao, float[] bp, int bo, MemorySegment c, long ci, int ldc,
                         int rows, int cols, float alpha, float beta, float[] tile) {
        FloatVector c0a = FloatVector.zero(F), c0b = FloatVector.zero(F);
        FloatVector c1a = FloatVector.zero(F), c1b = FloatVector.zero(F);
        FloatVector c2a = FloatVector.zero(F), c2b = FloatVector.zero(F);
        FloatVector c3a = FloatVector.zero(F), c3b = FloatVector.zero(F);
        FloatVector c4a = FloatVector.zero(F), c4b = FloatVector.zero(F);
        FloatVector c5a = FloatVector.zero(F), c5b = FloatVector.zero(F);
        FloatVector c6a = FloatVector.zero(F), c6b = FloatVector.zero(F);
        FloatVector c7a = FloatVector.zero(F), c7b = FloatVector.zero(F);
        FloatVector c8a = FloatVector.zero(F), c8b = FloatVector.zero(F);
        FloatVector c9a = FloatVector.zero(F), c9b = FloatVector.zero(F);
        FloatVector c10a = FloatVector.zero(F), c10b = FloatVector.zero(F);
        FloatVector c11a = FloatVector.zero(F), c11b = FloatVector.zero(F);
        for (int p = 0; p < kc; p++, ao += 12, bo += NR) {
            FloatVector b0 = FloatVector.fromArray(F, bp, bo), b1 = FloatVector.fromArray(F, bp, bo + L);
            FloatVector a0 = FloatVector.broadcast(F, ap[ao]);
            c0a = a0.fma(b0, c0a); c0b = a0.fma(b1, c0b);
            FloatVector a1 = FloatVector.broadcast(F, ap[ao + 1]);
            c1a = a1.fma(b0, c1a); c1b = a1.fma(b1, c1b);
            FloatVector a2 = FloatVector.broadcast(F, ap[ao + 2]);
            c2a = a2.fma(b0, c2a); c2b = a2.fma(b1, c2b);
            FloatVector a3 = FloatVector.broadcast(F, ap[ao + 3]);
            c3a = a3.fma(b0, c3a); c3b = a3.fma(b1, c3b);
            FloatVector a4 = FloatVector.broadcast(F, ap[ao + 4]);
            c4a = a4.fma(b0, c4a); c4b = a4.fma(b1, c4b);
            FloatVector a5 = FloatVector.broadcast(F, ap[ao + 5]);
            c5a = a5.fma(b0, c5a); c5b = a5.fma(b1, c5b);
            FloatVector a6 = FloatVector.broadcast(F, ap[ao + 6]);
            c6a = a6.fma(b0, c6a); c6b = a6.fma(b1, c6b);
            FloatVector a7 = FloatVector.broadcast(F, ap[ao + 7]);
            c7a = a7.fma(b0, c7a); c7b = a7.fma(b1, c7b);
            FloatVector a8 = FloatVector.broadcast(F, ap[ao + 8]);
            c8a = a8.fma(b0, c8a); c8b = a8.fma(b1, c8b);
            FloatVector a9 = FloatVector.broadcast(F, ap[ao + 9]);
            c9a = a9.fma(b0, c9a); c9b = a9.fma(b1, c9b);
            FloatVector a10 = FloatVector.broadcast(F, ap[ao + 10]);
            c10a = a10.fma(b0, c10a); c10b = a10.fma(b1, c10b);
            FloatVector a11 = FloatVector.broadcast(F, ap[ao + 11]);
            c11a = a11.fma(b0, c11a); c11b = a11.fma(b1, c11b);
        }
        c0a.intoArray(tile, 0); c0b.intoArray(tile, L);
        c1a.intoArray(tile, NR); c1b.intoArray(tile, NR + L);
        c2a.intoArray(tile, 2 * NR); c2b.intoArray(tile, 2 * NR + L);
        c3a.intoArray(tile, 3 * NR); c3b.intoArray(tile, 3 * NR + L);
        c4a.intoArray(tile, 4 * NR); c4b.intoArray(tile, 4 * NR + L);
        c5a.intoArray(tile, 5 * NR); c5b.intoArray(tile, 5 * NR + L);
        c6a.intoArray(tile, 6 * NR); c6b.intoArray(tile, 6 * NR + L);
        c7a.intoArray(tile, 7 * NR); c7b.intoArray(tile, 7 * NR + L);
        c8a.intoArray(tile, 8 * NR); c8b.intoArray(tile, 8 * NR + L);
        c9a.intoArray(tile, 9 * NR); c9b.intoArray(tile, 9 * NR + L);
        c10a.intoArray(tile, 10 * NR); c10b.intoArray(tile, 10 * NR + L);
        c11a.intoArray(tile, 11 * NR); c11b.intoArray(tile, 11 * NR + L);
        MatmulBlocked.mergeTile(tile, c, ci, ldc, rows, cols, alpha, beta);
    }

    /** 12 rows × 1 vector, for a last column panel at most one vector wide ({@code cols <= L}). */
    static void tile12x1(int kc, float[] ap, int ao, float[] bp, int bo, MemorySegment c, long ci, int ldc,
                         int rows, int cols, float alpha, float beta, float[] tile) {
        FloatVector c0 = FloatVector.zero(F), c1 = FloatVector.zero(F), c2 = FloatVector.zero(F), c3 = FloatVector.zero(F);
        FloatVector c4 = FloatVector.zero(F), c5 = FloatVector.zero(F), c6 = FloatVector.zero(F), c7 = FloatVector.zero(F);
        FloatVector c8 = FloatVector.zero(F), c9 = FloatVector.zero(F), c10 = FloatVector.zero(F), c11 = FloatVector.zero(F);
        for (int p = 0; p < kc; p++, ao += 12, bo += NR) {
            FloatVector b = FloatVector.fromArray(F, bp, bo);
            c0 = FloatVector.broadcast(F, ap[ao]).fma(b, c0);
            c1 = FloatVector.broadcast(F, ap[ao + 1]).fma(b, c1);
            c2 = FloatVector.broadcast(F, ap[ao + 2]).fma(b, c2);
            c3 = FloatVector.broadcast(F, ap[ao + 3]).fma(b, c3);
            c4 = FloatVector.broadcast(F, ap[ao + 4]).fma(b, c4);
            c5 = FloatVector.broadcast(F, ap[ao + 5]).fma(b, c5);
            c6 = FloatVector.broadcast(F, ap[ao + 6]).fma(b, c6);
            c7 = FloatVector.broadcast(F, ap[ao + 7]).fma(b, c7);
            c8 = FloatVector.broadcast(F, ap[ao + 8]).fma(b, c8);
            c9 = FloatVector.broadcast(F, ap[ao + 9]).fma(b, c9);
            c10 = FloatVector.broadcast(F, ap[ao + 10]).fma(b, c10);
            c11 = FloatVector.broadcast(F, ap[ao + 11]).fma(b, c11);
        }
        c0.intoArray(tile, 0);
        c1.intoArray(tile, NR);
        c2.intoArray(tile, 2 * NR);
        c3.intoArray(tile, 3 * NR);
        c4.intoArray(tile, 4 * NR);
        c5.intoArray(tile, 5 * NR);
        c6.intoArray(tile, 6 * NR);
        c7.intoArray(tile, 7 * NR);
        c8.intoArray(tile, 8 * NR);
        c9.intoArray(tile, 9 * NR);
        c10.intoArray(tile, 10 * NR);
        c11.intoArray(tile, 11 * NR);
        MatmulBlocked.mergeTile(tile, c, ci, ldc, rows, cols, alpha, beta);
    }

    /** 6 rows × 2 vectors: 12 accumulators, which with the B vectors and a broadcast fit AVX2's 16 registers. */
    static void tile6x2(int kc, float[] ap, int ao, float[] bp, int bo, MemorySegment c, long ci, int ldc,
                        int rows, int cols, float alpha, float beta, float[] tile) {
        FloatVector c0a = FloatVector.zero(F), c0b = FloatVector.zero(F);
        FloatVector c1a = FloatVector.zero(F), c1b = FloatVector.zero(F);
        FloatVector c2a = FloatVector.zero(F), c2b = FloatVector.zero(F);
        FloatVector c3a = FloatVector.zero(F), c3b = FloatVector.zero(F);
        FloatVector c4a = FloatVector.zero(F), c4b = FloatVector.zero(F);
        FloatVector c5a = FloatVector.zero(F), c5b = FloatVector.zero(F);
        for (int p = 0; p < kc; p++, ao += 6, bo += NR) {
            FloatVector b0 = FloatVector.fromArray(F, bp, bo), b1 = FloatVector.fromArray(F, bp, bo + L);
            FloatVector a0 = FloatVector.broadcast(F, ap[ao]);
            c0a = a0.fma(b0, c0a); c0b = a0.fma(b1, c0b);
            FloatVector a1 = FloatVector.broadcast(F, ap[ao + 1]);
            c1a = a1.fma(b0, c1a); c1b = a1.fma(b1, c1b);
            FloatVector a2 = FloatVector.broadcast(F, ap[ao + 2]);
            c2a = a2.fma(b0, c2a); c2b = a2.fma(b1, c2b);
            FloatVector a3 = FloatVector.broadcast(F, ap[ao + 3]);
            c3a = a3.fma(b0, c3a); c3b = a3.fma(b1, c3b);
            FloatVector a4 = FloatVector.broadcast(F, ap[ao + 4]);
            c4a = a4.fma(b0, c4a); c4b = a4.fma(b1, c4b);
            FloatVector a5 = FloatVector.broadcast(F, ap[ao + 5]);
            c5a = a5.fma(b0, c5a); c5b = a5.fma(b1, c5b);
        }
        c0a.intoArray(tile, 0); c0b.intoArray(tile, L);
        c1a.intoArray(tile, NR); c1b.intoArray(tile, NR + L);
        c2a.intoArray(tile, 2 * NR); c2b.intoArray(tile, 2 * NR + L);
        c3a.intoArray(tile, 3 * NR); c3b.intoArray(tile, 3 * NR + L);
        c4a.intoArray(tile, 4 * NR); c4b.intoArray(tile, 4 * NR + L);
        c5a.intoArray(tile, 5 * NR); c5b.intoArray(tile, 5 * NR + L);
        MatmulBlocked.mergeTile(tile, c, ci, ldc, rows, cols, alpha, beta);
    }

    /** 6 rows × 1 vector, for a last column panel at most one vector wide ({@code cols <= L}). */
    static void tile6x1(int kc, float[] ap, int ao, float[] bp, int bo, MemorySegment c, long ci, int ldc,
                        int rows, int cols, float alpha, float beta, float[] tile) {
        FloatVector c0 = FloatVector.zero(F), c1 = FloatVector.zero(F), c2 = FloatVector.zero(F), c3 = FloatVector.zero(F);
        FloatVector c4 = FloatVector.zero(F), c5 = FloatVector.zero(F);
        for (int p = 0; p < kc; p++, ao += 6, bo += NR) {
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
