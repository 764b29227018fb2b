package leviathan.backend;

import java.lang.foreign.MemorySegment;
import java.util.function.Consumer;

/**
 * Where the engine's matrix products run. Everything is row-major float32 in native order;
 * {@code a}, {@code b} and {@code c} are segments starting at the first element of each matrix.
 */
public interface Backend extends AutoCloseable {

    /** Short name shown in logs and {@code info}: {@code java}, {@code onednn}, ... */
    String name();

    /** One line on what was loaded (library version, threads); defaults to the name. */
    default String describe() { return name(); }

    /**
     * {@code C = alpha·op(A)·op(B) + beta·C} with {@code op(X) = X} or {@code Xᵀ}; {@code C} is
     * {@code M×N}, {@code op(A)} is {@code M×K}, {@code op(B)} is {@code K×N}. Leading dimensions
     * are the row strides of the matrices as stored (in elements). {@code beta = 1} accumulates.
     */
    void sgemm(boolean transA, boolean transB, int M, int N, int K, float alpha,
               MemorySegment a, int lda, MemorySegment b, int ldb, float beta, MemorySegment c, int ldc);

    /**
     * {@link #sgemm(boolean, boolean, int, int, int, float, MemorySegment, int, MemorySegment, int, float, MemorySegment, int)}
     * on matrices that start {@code aOffset}, {@code bOffset} and {@code cOffset} floats into
     * {@code a}, {@code b} and {@code c}: the same product as on slices from those offsets, without
     * making the slices (a GEMM on rows of an activation, e.g. the new rows of incremental decoding
     * or one expert's rows, then allocates nothing). The default slices and calls the plain form;
     * the engine's backends override it.
     */
    default void sgemm(boolean transA, boolean transB, int M, int N, int K, float alpha,
                       MemorySegment a, long aOffset, int lda, MemorySegment b, long bOffset, int ldb,
                       float beta, MemorySegment c, long cOffset, int ldc) {
        sgemm(transA, transB, M, N, K, alpha, a.asSlice(aOffset * Float.BYTES), lda, b.asSlice(bOffset * Float.BYTES), ldb,
                beta, c.asSlice(cOffset * Float.BYTES), ldc);
    }

    /** The number format of GEMM operands (outputs and accumulation are always float32). */
    default Precision precision() { return Precision.FP32; }

    /**
     * A backend whose GEMMs take operands at precision {@code p}, where this backend and the CPU
     * can; otherwise {@code log} gets one line saying so and float32 runs (this backend is
     * returned). A new backend is closed on its own; this one stays usable.
     */
    default Backend withPrecision(Precision p, Consumer<String> log) {
        if (p != precision()) {
            log.accept("precision: " + p.label() + " requested, but the " + name() + " backend has no " + p.label()
                    + " GEMM (use the onednn backend on a CPU with bf16 instructions); running " + precision().label());
        }
        return this;
    }

    @Override
    default void close() {}
}
