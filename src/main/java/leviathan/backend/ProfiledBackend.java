package leviathan.backend;

import java.lang.foreign.MemorySegment;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.function.Consumer;
import leviathan.profile.Profiler;

/**
 * A backend that times every GEMM of the one it wraps, one {@link Profiler} section per shape
 * ({@code gemm NT 512x384x128}) with its FLOPs, so the profile shows time and GFLOP/s per shape.
 * {@link Backends#select} wraps the chosen backend in one when {@code -Dleviathan.profile=true}.
 */
public final class ProfiledBackend implements Backend {
    private final Backend delegate;
    private final Map<Long, Profiler.Section> sections = new ConcurrentHashMap<>();

    public ProfiledBackend(Backend delegate) { this.delegate = delegate; }

    /** The backend doing the work. */
    public Backend delegate() { return delegate; }

    /** {@code b} without a profiling wrapper. */
    public static Backend unwrap(Backend b) {
        if (b instanceof ProfiledBackend p) b = p.delegate;
        return b instanceof TunedBackend t ? t.inner() : b;
    }

    @Override public String name() { return delegate.name(); }

    @Override public String describe() { return delegate.describe() + " [profiled]"; }

    @Override public Precision precision() { return delegate.precision(); }

    @Override
    public Backend withPrecision(Precision p, Consumer<String> log) {
        Backend d = delegate.withPrecision(p, log);
        return d == delegate ? this : new ProfiledBackend(d);
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int M, int N, int K, float alpha,
                      MemorySegment a, int lda, MemorySegment b, int ldb, float beta, MemorySegment c, int ldc) {
        Profiler.Section s = section(transA, transB, M, N, K);
        Profiler.begin(s);
        delegate.sgemm(transA, transB, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
        Profiler.end(s, 2L * M * N * K);
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int M, int N, int K, float alpha,
                      MemorySegment a, long aOffset, int lda, MemorySegment b, long bOffset, int ldb,
                      float beta, MemorySegment c, long cOffset, int ldc) {
        Profiler.Section s = section(transA, transB, M, N, K);
        Profiler.begin(s);
        delegate.sgemm(transA, transB, M, N, K, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
        Profiler.end(s, 2L * M * N * K);
    }

    private Profiler.Section section(boolean transA, boolean transB, int M, int N, int K) {
        // 21 bits per dimension cover every shape the model makes (up to 2M rows)
        long key = ((long) M << 42) ^ ((long) N << 21) ^ K ^ (transA ? 1L << 63 : 0) ^ (transB ? 1L << 62 : 0);
        return sections.computeIfAbsent(key, k -> Profiler.section(String.format(Locale.ROOT, "gemm %c%c %dx%dx%d",
                transA ? 'T' : 'N', transB ? 'T' : 'N', M, N, K)));
    }

    @Override
    public void close() { delegate.close(); }
}
