package leviathan.backend;

import java.util.HashMap;
import java.util.Map;

/**
 * One thread's {@link OneDnnBackend.Timing} per GEMM shape. Lookups reuse one mutable key, so a
 * call allocates nothing once its shape has been seen.
 */
final class ShapeTimings {
    /** A GEMM shape (transposes, sizes, thread count) as a map key. */
    private static final class Shape {
        boolean transA, transB;
        int M, N, K, threads;

        Shape set(boolean transA, boolean transB, int M, int N, int K, int threads) {
            this.transA = transA; this.transB = transB; this.M = M; this.N = N; this.K = K; this.threads = threads;
            return this;
        }

        @Override
        public boolean equals(Object o) {
            return o instanceof Shape s && s.transA == transA && s.transB == transB && s.M == M && s.N == N && s.K == K && s.threads == threads;
        }

        @Override
        public int hashCode() { return ((((M * 31 + N) * 31 + K) * 31 + threads) * 4 + (transA ? 2 : 0)) + (transB ? 1 : 0); }
    }

    private final Map<Shape, OneDnnBackend.Timing> byShape = new HashMap<>();
    private final Shape probe = new Shape();

    /** The timing of a shape, made on first use when {@code create}, else null when there is none. */
    OneDnnBackend.Timing of(boolean transA, boolean transB, int M, int N, int K, int threads, boolean create) {
        OneDnnBackend.Timing t = byShape.get(probe.set(transA, transB, M, N, K, threads));
        if (t == null && create) byShape.put(new Shape().set(transA, transB, M, N, K, threads), t = new OneDnnBackend.Timing());
        return t;
    }
}
