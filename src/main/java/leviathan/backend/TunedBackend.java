package leviathan.backend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.LinkedHashMap;
import java.util.SequencedMap;
import leviathan.kernel.Matmul;
import leviathan.kernel.Parallel;

/**
 * A float32 backend that runs each GEMM shape where {@link Tuning} timed it fastest on this
 * machine: the Java GEMM or oneDNN's, on one thread or on all the kernel threads. Products below
 * {@value #MIN_MFLOP} MFLOP are not worth a choice and run as the wrapped backend runs them.
 *
 * <p>A shape's choice is made at its {@link Tuning#WARM_CALLS}th call on a calling thread (the
 * calls before it run as the wrapped backend runs them, and warm up the JIT) and then kept in a
 * {@link ShapeTimings} map, so a call allocates nothing once its shape has been seen. Without oneDNN the candidates
 * are the Java GEMM's thread counts.
 */
final class TunedBackend implements Backend {
    /** Products smaller than this many MFLOP ({@code 2·M·N·K}) are not tuned. */
    static final double MIN_MFLOP = 1;

    /** Where one shape runs. */
    record Choice(boolean onednn, int threads) {
        static Choice parse(String s) {
            int slash = s.indexOf('/');
            return new Choice(s.startsWith("onednn"), Integer.parseInt(s.substring(slash + 1)));
        }
    }

    private final Backend inner;
    private final OneDnnBackend onednn;
    private final Tuning tuning;
    private final ThreadLocal<ShapeTimings<Shape>> choices = ThreadLocal.withInitial(ShapeTimings::new);

    /** One calling thread's state of a shape: its uses so far, and its choice once made (at use {@link Tuning#WARM_CALLS}). */
    static final class Shape {
        int calls;
        Choice choice;
    }

    /** Tunes the products of {@code inner} (a float32 Java or oneDNN backend). */
    TunedBackend(Backend inner, Tuning tuning) {
        this.inner = inner;
        this.onednn = inner instanceof OneDnnBackend o ? o : null;
        this.tuning = tuning;
        tuning.tuneGemmTile(false);                            // the cached tile height, if any: timed with the first shape
    }

    @Override
    public String name() { return inner.name(); }

    @Override
    public String describe() { return inner.describe() + ", GEMM engine and threads tuned per shape (" + Tuning.PROPERTY + ")"; }

    /** The backend this one chooses around. */
    Backend inner() { return inner; }

    @Override
    public void sgemm(boolean transA, boolean transB, int M, int N, int K, float alpha,
                      MemorySegment a, int lda, MemorySegment b, int ldb, float beta, MemorySegment c, int ldc) {
        sgemm(transA, transB, M, N, K, alpha, a, 0, lda, b, 0, ldb, beta, c, 0, ldc);
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int M, int N, int K, float alpha,
                      MemorySegment a, long aOffset, int lda, MemorySegment b, long bOffset, int ldb,
                      float beta, MemorySegment c, long cOffset, int ldc) {
        if (2.0 * M * N * K < MIN_MFLOP * 1e6) {
            inner.sgemm(transA, transB, M, N, K, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
            return;
        }
        Shape shape = choices.get().of(transA, transB, M, N, K, 0, Shape::new);
        Choice ch = shape.choice;
        if (ch == null) {
            if (++shape.calls < Tuning.WARM_CALLS) {
                inner.sgemm(transA, transB, M, N, K, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
                return;
            }
            ch = shape.choice = choose(transA, transB, M, N, K);
        }
        run(ch, transA, transB, M, N, K, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
    }

    private void run(Choice ch, boolean transA, boolean transB, int M, int N, int K, float alpha,
                     MemorySegment a, long aOffset, int lda, MemorySegment b, long bOffset, int ldb,
                     float beta, MemorySegment c, long cOffset, int ldc) {
        if (ch.onednn()) onednn.sgemmOn(ch.threads(), transA, transB, M, N, K, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
        else Matmul.gemm(ch.threads(), transA, transB, M, N, K, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
    }

    /** The name a shape's choice is cached under: the shape, the thread count and the oneDNN version it was timed with. */
    String entryName(boolean transA, boolean transB, int M, int N, int K) {
        return "gemm " + (transA ? 'T' : 'N') + (transB ? 'T' : 'N') + " " + M + "x" + N + "x" + K + " threads " + Tuning.threads()
                + (onednn == null ? " java" : " onednn " + onednn.library().version());
    }

    /** Times the candidates of one shape on scratch operands (or reads the cache) and returns the winner. */
    private Choice choose(boolean transA, boolean transB, int M, int N, int K) {
        int t = Parallel.threads();
        double flops = 2.0 * M * N * K;
        // the default first: what the wrapped backend runs on its own (oneDNN's thread count is its own per-shape timing;
        // here the count its threshold gives)
        String dflt = onednn != null ? "onednn/" + (onednn.mayUseThreads(M, N, K) ? onednn.threads() : 1)
                : "java/" + (flops < 32e6 || t == 1 ? 1 : t);
        SequencedMap<String, Choice> names = new LinkedHashMap<>();
        names.put(dflt, Choice.parse(dflt));
        if (onednn != null) {
            names.putIfAbsent("onednn/1", new Choice(true, 1));
            if (onednn.threads() > 1) names.putIfAbsent("onednn/" + onednn.threads(), new Choice(true, onednn.threads()));
        }
        names.putIfAbsent("java/1", new Choice(false, 1));
        if (t > 1) names.putIfAbsent("java/" + t, new Choice(false, t));
        if (!tuning.enabled()) return names.get(dflt);
        tuning.tuneGemmTile(true);
        int aRows = transA ? K : M, aCols = transA ? M : K, bRows = transB ? N : K, bCols = transB ? K : N;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = arena.allocate((long) aRows * aCols * Float.BYTES, 64);
            MemorySegment b = arena.allocate((long) bRows * bCols * Float.BYTES, 64);
            MemorySegment c = arena.allocate((long) M * N * Float.BYTES, 64);
            Tuning.fill(a);
            Tuning.fill(b);
            SequencedMap<String, Runnable> candidates = new LinkedHashMap<>();
            for (var e : names.entrySet()) {
                Choice ch = e.getValue();
                candidates.put(e.getKey(), () -> run(ch, transA, transB, M, N, K, 1f, a, 0, aCols, b, 0, bCols, 0f, c, 0, N));
            }
            return names.get(tuning.choose(entryName(transA, transB, M, N, K), candidates));
        }
    }

    @Override
    public void close() { inner.close(); }
}
