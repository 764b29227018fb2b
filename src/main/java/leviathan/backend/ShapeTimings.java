package leviathan.backend;

import java.util.HashMap;
import java.util.Map;
import java.util.function.Supplier;

/**
 * One thread's record per GEMM shape: the oneDNN backend's {@link OneDnnBackend.Timing} of one
 * thread against several, the tuned backend's {@link TunedBackend.Choice}. Lookups reuse one
 * mutable key, so a call allocates nothing once its shape has been seen.
 *
 * @param <V> what is kept per shape
 */
final class ShapeTimings<V> {
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

    private final Map<Shape, V> byShape = new HashMap<>();
    private final Shape probe = new Shape();

    /** The record of a shape, made by {@code create} on first use (when not null), else null when there is none. */
    V of(boolean transA, boolean transB, int M, int N, int K, int threads, Supplier<V> create) {
        V t = byShape.get(probe.set(transA, transB, M, N, K, threads));
        if (t == null && create != null) byShape.put(new Shape().set(transA, transB, M, N, K, threads), t = create.get());
        return t;
    }
}
