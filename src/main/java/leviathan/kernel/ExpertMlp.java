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
 * (pass {@code backend::sgemm}), so this package needs no backend; they address each expert's rows
 * by offset, so a call makes no slices. Weights are per expert, in the
 * {@code [out, in]} layout: {@code fcW[e] (F, C)}, {@code fcB[e] (F)}, {@code projW[e] (C, F)},
 * {@code projB[e] (C)}.
 */
public final class ExpertMlp {
    private ExpertMlp() {}

    /**
     * {@code C = alpha·op(A)·op(B) + beta·C}, row-major, the matrices starting at float offsets of
     * their segments; the contract of {@code Backend.sgemm} with offsets.
     */
    @FunctionalInterface
    public interface Sgemm {
        void sgemm(boolean transA, boolean transB, int M, int N, int K, float alpha, MemorySegment a, long aOffset, int lda,
                   MemorySegment b, long bOffset, int ldb, float beta, MemorySegment c, long cOffset, int ldc);
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
            long x = (long) r0 * C, hf = (long) r0 * F;               // float offsets of the expert's rows
            gemm.sgemm(false, true, n, F, C, 1f, xe, x, C, fcW[e], 0, C, 0f, h, hf, F);
            Bias.forward(h, fcB[e], r0, r0 + n, F);
            Gelu.forward(a, h, hf, hf + (long) n * F);
            gemm.sgemm(false, true, n, C, F, 1f, a, hf, F, projW[e], 0, F, 0f, ye, x, C);
            Bias.forward(ye, projB[e], r0, r0 + n, C);
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
            long x = (long) r0 * C, hf = (long) r0 * F, hEnd = hf + (long) n * F;   // float offsets of the expert's rows
            gemm.sgemm(false, false, n, F, C, 1f, dye, x, C, projW[e], 0, F, 0f, da, hf, F);
            gemm.sgemm(true, false, C, F, n, 1f, dye, x, C, a, hf, F, 1f, dprojW[e], 0, F);
            Bias.backward(dprojB[e], dye, r0, r0 + n, C);
            Elementwise.zero(dh, hf, hEnd);                              // Gelu.backward adds into its output
            Gelu.backward(dh, h, da, hf, hEnd);
            gemm.sgemm(false, false, n, C, F, 1f, dh, hf, F, fcW[e], 0, C, 0f, dxe, x, C);
            gemm.sgemm(true, false, F, C, n, 1f, dh, hf, F, xe, x, C, 1f, dfcW[e], 0, C);
            Bias.backward(dfcB[e], dh, r0, r0 + n, F);
        }
    }
}
