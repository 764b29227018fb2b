package leviathan.kernel;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.MemorySegment;

/**
 * The experts of a mixture of experts over the gathered block of {@link Moe}: for each expert
 * {@code e} with rows {@code [offset[e], offset[e+1])} of {@code xe},
 * <pre>
 *   h_e  = xe_e·c_fc_e.weightᵀ + c_fc_e.bias          (rows_e, F)
 *   a_e  = gelu(h_e)                                   (rows_e, F)
 *   ye_e = a_e·c_proj_e.weightᵀ + c_proj_e.bias        (rows_e, C)
 * </pre>
 * one GEMM pair per expert, an expert with no rows skipped. The GEMMs go through an {@link Sgemm}
 * (pass {@code backend::sgemm}), so this package needs no backend. Weights are per expert, in the
 * {@code [out, in]} layout: {@code fcW[e] (F, C)}, {@code fcB[e] (F)}, {@code projW[e] (C, F)},
 * {@code projB[e] (C)}.
 */
public final class ExpertMlp {
    private ExpertMlp() {}

    /** {@code C = alpha·op(A)·op(B) + beta·C}, row-major; the contract of {@code Backend.sgemm}. */
    @FunctionalInterface
    public interface Sgemm {
        void sgemm(boolean transA, boolean transB, int M, int N, int K, float alpha,
                   MemorySegment a, int lda, MemorySegment b, int ldb, float beta, MemorySegment c, int ldc);
    }

    private static MemorySegment rows(MemorySegment s, long firstRow, long rowCount, int cols) {
        return s.asSlice(firstRow * cols * Float.BYTES, rowCount * cols * Float.BYTES);
    }

    /**
     * Forward of every expert: writes {@code ye (n·k, C)} and the saved activations
     * {@code h, a (n·k, F)}; {@code offset (E+1)} is {@link Moe#plan}'s.
     */
    public static void forward(Sgemm gemm, MemorySegment ye, MemorySegment h, MemorySegment a, MemorySegment xe,
                               MemorySegment offset, MemorySegment[] fcW, MemorySegment[] fcB,
                               MemorySegment[] projW, MemorySegment[] projB, int E, int C, int F) {
        for (int e = 0; e < E; e++) {
            int r0 = offset.getAtIndex(JAVA_INT, e);
            int n = offset.getAtIndex(JAVA_INT, e + 1) - r0;
            if (n == 0) continue;                                         // no token chose this expert
            MemorySegment x = rows(xe, r0, n, C), he = rows(h, r0, n, F), ae = rows(a, r0, n, F), y = rows(ye, r0, n, C);
            gemm.sgemm(false, true, n, F, C, 1f, x, C, fcW[e], C, 0f, he, F);
            Bias.forward(he, fcB[e], n, F);
            Gelu.forward(ae, he, (long) n * F);
            gemm.sgemm(false, true, n, C, F, 1f, ae, F, projW[e], F, 0f, y, C);
            Bias.forward(y, projB[e], n, C);
        }
    }

    /**
     * Backward of every expert, given {@code dye (n·k, C)}: overwrites {@code dxe (n·k, C)} (the
     * gathered input's gradient, for {@link Moe#gatherBackward}) and adds into the weight gradients.
     * Scratch {@code da, dh (n·k, F)}:
     * <pre>
     *   da_e = dye_e·c_proj_e.weight,  d c_proj_e.weight += dye_eᵀ·a_e,  d c_proj_e.bias += Σ_rows dye_e
     *   dh_e = gelu'(h_e)·da_e
     *   dxe_e = dh_e·c_fc_e.weight,    d c_fc_e.weight += dh_eᵀ·xe_e,    d c_fc_e.bias += Σ_rows dh_e
     * </pre>
     * Rows of an expert with no token are left as they are (there are none).
     */
    public static void backward(Sgemm gemm, MemorySegment dxe, MemorySegment[] dfcW, MemorySegment[] dfcB,
                                MemorySegment[] dprojW, MemorySegment[] dprojB, MemorySegment da, MemorySegment dh,
                                MemorySegment dye, MemorySegment xe, MemorySegment h, MemorySegment a,
                                MemorySegment offset, MemorySegment[] fcW, MemorySegment[] projW, int E, int C, int F) {
        for (int e = 0; e < E; e++) {
            int r0 = offset.getAtIndex(JAVA_INT, e);
            int n = offset.getAtIndex(JAVA_INT, e + 1) - r0;
            if (n == 0) continue;
            MemorySegment x = rows(xe, r0, n, C), he = rows(h, r0, n, F), ae = rows(a, r0, n, F);
            MemorySegment dy = rows(dye, r0, n, C), dae = rows(da, r0, n, F), dhe = rows(dh, r0, n, F), dx = rows(dxe, r0, n, C);
            gemm.sgemm(false, false, n, F, C, 1f, dy, C, projW[e], F, 0f, dae, F);
            gemm.sgemm(true, false, C, F, n, 1f, dy, C, ae, F, 1f, dprojW[e], F);
            Bias.backward(dprojB[e], dy, n, C);
            dhe.fill((byte) 0);                                           // Gelu.backward adds into its output
            Gelu.backward(dhe, he, dae, (long) n * F);
            gemm.sgemm(false, false, n, C, F, 1f, dhe, F, fcW[e], C, 0f, dx, C);
            gemm.sgemm(true, false, F, C, n, 1f, dhe, F, x, C, 1f, dfcW[e], C);
            Bias.backward(dfcB[e], dhe, n, F);
        }
    }
}
