package leviathan.backend;

import java.lang.foreign.MemorySegment;
import leviathan.ffi.onednn.dnnl_h;
import leviathan.ffi.onednn.omp_h;
import leviathan.kernel.Matmul;
import leviathan.kernel.Parallel;

/**
 * GEMM through oneDNN's {@code dnnl_sgemm} (row-major, {@code 'N'}/{@code 'T'} flags, 64-bit
 * dimensions), called with the FFM API.
 *
 * <p>Threads. oneDNN runs on OpenMP threads of its own, separate from the engine's kernel threads
 * ({@link Parallel}). The two never run at once: a GEMM is called from the thread that drives the
 * step while the kernel workers are parked, and between GEMMs the OpenMP threads sleep, because
 * the loader sets {@code OMP_WAIT_POLICY=passive} before libgomp starts (with libgomp's default
 * spin-wait, an idle OpenMP thread spinning on a 2-vCPU machine made GEMMs 5-1000x slower than on
 * one thread). Waking a sleeping thread costs tens of microseconds, which is more than a small
 * GEMM takes, so a call below {@link #PARALLEL_MFLOP_PROPERTY} MFLOP ({@code 2·M·N·K}) runs on
 * one thread and a larger one on {@link #threads()}, which follows the engine's thread count
 * ({@code --threads}, {@code -Dleviathan.threads}) unless {@link #THREADS_PROPERTY} fixes it.
 * OpenMP keeps the count per calling thread, so it is set (only when it changes) on the thread
 * that makes the call. A GEMM called from inside a {@link Parallel} body would add a team of
 * OpenMP threads to every kernel thread: callers keep GEMMs on the driving thread.
 */
public final class OneDnnBackend implements Backend {
    /** OpenMP threads for large GEMMs; default: the engine's thread count ({@link Parallel#threads()}). */
    public static final String THREADS_PROPERTY = "leviathan.onednn.threads";
    /** GEMMs of fewer MFLOP than this run on one thread (default {@value #DEFAULT_PARALLEL_MFLOP}). */
    public static final String PARALLEL_MFLOP_PROPERTY = "leviathan.onednn.parallelMflop";
    /** Measured crossover on a 2-vCPU VM with the passive policy (benchmarks/results/onednn.md). */
    public static final double DEFAULT_PARALLEL_MFLOP = 32;

    private static final byte NO_TRANS = 'N', TRANS = 'T';

    /** How to load and run oneDNN; {@link #fromSystem()} reads the properties and environment. */
    public record Options(String path, int threads, double parallelMflop) {
        public Options {
            if (threads < 0) throw new IllegalArgumentException(THREADS_PROPERTY + " must be >= 1, got " + threads);
            if (!(parallelMflop >= 0)) throw new IllegalArgumentException(PARALLEL_MFLOP_PROPERTY + " must be >= 0, got " + parallelMflop);
        }

        /** {@code threads = 0} follows the engine's thread count; {@code path = null} is the bundled copy. */
        public static Options fromSystem() {
            return new Options(OneDnnLoader.configuredPath(), intProperty(THREADS_PROPERTY, 0),
                    doubleProperty(PARALLEL_MFLOP_PROPERTY, DEFAULT_PARALLEL_MFLOP));
        }

        public Options withPath(String p) { return new Options(p, threads, parallelMflop); }
    }

    private final OneDnnLoader.Library library;
    private final int fixedThreads;
    private final double parallelFlops;
    /** Per calling thread: the OpenMP thread count last set on it (OpenMP keeps it per thread). */
    private static final ThreadLocal<int[]> OMP_THREADS = ThreadLocal.withInitial(() -> new int[] {-1});

    private OneDnnBackend(OneDnnLoader.Library library, Options options) {
        this.library = library;
        this.fixedThreads = options.threads();
        this.parallelFlops = options.parallelMflop() * 1e6;
    }

    /** Loads oneDNN (once per JVM) as {@code options} say. */
    public static OneDnnBackend open(Options options) throws OneDnnLoader.UnavailableException {
        return new OneDnnBackend(OneDnnLoader.load(options.path()), options);
    }

    /** {@link #open(Options)} with the properties and environment. */
    public static OneDnnBackend open() throws OneDnnLoader.UnavailableException {
        return open(Options.fromSystem());
    }

    public OneDnnLoader.Library library() { return library; }

    /** OpenMP threads used by a large GEMM. */
    public int threads() { return fixedThreads > 0 ? fixedThreads : Parallel.threads(); }

    /** Threads for one {@code M×N×K} product: one below the parallel threshold, else {@link #threads()}. */
    int threadsFor(int M, int N, int K) {
        return 2.0 * M * N * K < parallelFlops ? 1 : threads();
    }

    @Override
    public String name() { return "onednn"; }

    @Override
    public String describe() {
        int t = library.openMp() ? threads() : 0;
        return "onednn (oneDNN " + library.version() + ", "
                + (t == 0 ? "threads managed by its runtime" : t + (t == 1 ? " thread" : " threads")) + ")";
    }

    /** A second line for {@code info}: build, thread policy, wait policy and where the library came from. */
    public String details() {
        String threads = !library.openMp() ? "runtime " + library.cpuRuntime() + " (not OpenMP: thread count not managed)"
                : "OpenMP, " + threads() + " threads for GEMMs >= " + fmt(parallelFlops / 1e6) + " MFLOP, 1 below"
                  + ", OMP_WAIT_POLICY=" + (library.waitPolicy() == null ? "libgomp default" : library.waitPolicy());
        return "oneDNN " + library.version() + (library.hash().isEmpty() || library.hash().equals("N/A") ? "" : " (" + library.hash() + ")") + "; " + threads
                + "; " + library.source();
    }

    /**
     * One line on oneDNN for {@code info}: {@link #details()} when {@code active} is this backend,
     * else why it is not loaded.
     */
    public static String status(Backend active) {
        if (active instanceof OneDnnBackend o) return o.details();
        OneDnnLoader.Library lib = OneDnnLoader.loaded();
        if (lib != null) return "oneDNN " + lib.version() + " loaded but not selected (" + Backends.PROPERTY + ")";
        if ("java".equalsIgnoreCase(System.getProperty(Backends.PROPERTY, "").trim())) return "not loaded (java backend requested)";
        try {
            return "oneDNN " + open().library().version() + " loadable but not selected";
        } catch (OneDnnLoader.UnavailableException e) {
            return "not loaded: " + e.getMessage() + "; " + OneDnnLoader.HINT;
        }
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int M, int N, int K, float alpha,
                      MemorySegment a, int lda, MemorySegment b, int ldb, float beta, MemorySegment c, int ldc) {
        Matmul.checkArgs(transA, transB, M, N, K, a, lda, b, ldb, c, ldc);
        if (M == 0 || N == 0) return;
        if (K == 0) {      // C = beta·C; oneDNN rejects the zero leading dimensions an empty A or B may have
            Matmul.gemmScalar(transA, transB, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
            return;
        }
        requireNative("A", a);
        requireNative("B", b);
        requireNative("C", c);
        if (library.openMp()) {
            int t = threadsFor(M, N, K);
            int[] current = OMP_THREADS.get();
            if (current[0] != t) {
                omp_h.omp_set_num_threads(t);
                current[0] = t;
            }
        }
        int status = dnnl_h.dnnl_sgemm(transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, M, N, K,
                alpha, a, lda, b, ldb, beta, c, ldc);
        if (status != dnnl_h.dnnl_success()) {
            throw new IllegalStateException("dnnl_sgemm(" + (transA ? 'T' : 'N') + ", " + (transB ? 'T' : 'N') + ", M=" + M + ", N=" + N
                    + ", K=" + K + ", lda=" + lda + ", ldb=" + ldb + ", ldc=" + ldc + ") failed: " + statusName(status));
        }
    }

    private static void requireNative(String what, MemorySegment s) {
        if (!s.isNative()) throw new IllegalArgumentException(what + ": oneDNN needs an off-heap segment, got a heap segment");
    }

    static String statusName(int status) {
        return switch (status) {
            case 1 -> "out of memory";
            case 2 -> "invalid arguments";
            case 3 -> "unimplemented";
            case 5 -> "runtime error";
            default -> "status " + status;
        };
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }

    private static int intProperty(String name, int dflt) {
        String p = System.getProperty(name);
        if (p == null || p.isBlank()) return dflt;
        try {
            int v = Integer.parseInt(p.trim());
            if (v < 1) throw new NumberFormatException();
            return v;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + " must be a positive integer, got '" + p + "'");
        }
    }

    private static double doubleProperty(String name, double dflt) {
        String p = System.getProperty(name);
        if (p == null || p.isBlank()) return dflt;
        try {
            double v = Double.parseDouble(p.trim());
            if (!(v >= 0) || Double.isInfinite(v)) throw new NumberFormatException();
            return v;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(name + " must be a number of MFLOP >= 0, got '" + p + "'");
        }
    }
}
