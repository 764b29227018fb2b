package leviathan.backend;

import java.lang.foreign.MemorySegment;

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

    @Override
    default void close() {}
}
