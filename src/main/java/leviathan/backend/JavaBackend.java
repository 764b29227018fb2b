package leviathan.backend;

import java.lang.foreign.MemorySegment;
import leviathan.kernel.Matmul;

/** The pure-Java GEMM (Vector API), always available. */
public final class JavaBackend implements Backend {
    @Override
    public String name() { return "java"; }

    @Override
    public String describe() { return "java (Vector API GEMM)"; }

    @Override
    public void sgemm(boolean transA, boolean transB, int M, int N, int K, float alpha,
                      MemorySegment a, int lda, MemorySegment b, int ldb, float beta, MemorySegment c, int ldc) {
        Matmul.gemm(transA, transB, M, N, K, alpha, a, 0, lda, b, 0, ldb, beta, c, 0, ldc);
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int M, int N, int K, float alpha,
                      MemorySegment a, long aOffset, int lda, MemorySegment b, long bOffset, int ldb,
                      float beta, MemorySegment c, long cOffset, int ldc) {
        Matmul.gemm(transA, transB, M, N, K, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
    }
}
