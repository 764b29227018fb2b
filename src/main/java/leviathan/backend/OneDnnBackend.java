package leviathan.backend;

import java.lang.foreign.MemorySegment;
import java.lang.invoke.MethodHandle;
import java.util.Arrays;
import java.util.List;
import java.util.function.Consumer;
import leviathan.ffi.onednn.dnnl_h;
import leviathan.ffi.onednn.omp_h;
import leviathan.kernel.Matmul;
import leviathan.kernel.Parallel;

/**
 * GEMM through oneDNN's {@code dnnl_sgemm} (row-major, {@code 'N'}/{@code 'T'} flags, 64-bit
 * dimensions), called with the FFM API.
 *
 * <p>Threads. oneDNN runs on OpenMP threads of its own, separate from the engine's kernel threads
 * ({@link Parallel}). The two take turns: a GEMM is called from the thread that drives the step
 * while the kernel workers are parked, and between GEMMs the OpenMP threads sleep, because the
 * loader sets {@code OMP_WAIT_POLICY=passive} before libgomp starts (with libgomp's default
 * spin-wait, OpenMP threads spinning on a shared 2-vCPU machine made GEMMs up to 20x slower than
 * on one thread). The thread count follows the engine's ({@code --threads}, {@code -Dleviathan.threads})
 * and is chosen per call:
 * <ul>
 * <li>below {@link #PARALLEL_MFLOP_PROPERTY} MFLOP ({@code 2·M·N·K}) a GEMM runs on one thread:
 *     waking a sleeping thread costs tens of microseconds, more than such a GEMM takes;
 * <li>above it, each shape is timed on one thread and on {@link #threads()} during its first
 *     calls and then on one call in {@value #PROBE_PERIOD}, and runs on whichever is faster (all
 *     threads only when 10% faster). On a quiet machine that is all threads (about 2x on 2 cores);
 *     where other work holds a core, OpenMP's static split waits for the slowed thread and one
 *     thread wins. So no default is slower than one thread, whatever else runs on the machine;
 * <li>{@link #THREADS_PROPERTY} fixes the count instead (no timing, the same count every call).
 * </ul>
 * OpenMP keeps its count per calling thread, so it is set, when it changes, on the thread that
 * calls. A GEMM called from inside a {@link Parallel} body would add a team of OpenMP threads to
 * every kernel thread: callers keep GEMMs on the driving thread.
 *
 * <p>Precision. {@link #withPrecision} with {@link Precision#BF16} gives a backend whose GEMMs run
 * through oneDNN's matmul primitive with bf16 operands and float32 accumulation and output
 * ({@link OneDnnMatmul}; {@link #BF16_MODE_PROPERTY} picks how the operands become bf16), where
 * oneDNN dispatches to bf16 instructions (AVX512_BF16 or AMX); elsewhere it logs one line and
 * stays float32.
 */
public final class OneDnnBackend implements Backend {
    /** A fixed OpenMP thread count for GEMMs above the threshold; default: the engine's count, timed per shape against one thread. */
    public static final String THREADS_PROPERTY = "leviathan.onednn.threads";
    /** GEMMs of fewer MFLOP than this run on one thread (default {@value #DEFAULT_PARALLEL_MFLOP}). */
    public static final String PARALLEL_MFLOP_PROPERTY = "leviathan.onednn.parallelMflop";
    /** Measured crossover on a 2-vCPU VM with the passive policy (benchmarks/results/onednn.md). */
    public static final double DEFAULT_PARALLEL_MFLOP = 32;
    /** After its first calls, a shape runs the other thread count once every this many calls, to follow the machine's load. */
    static final int PROBE_PERIOD = 64;

    /** How bf16 operands are made: {@code convert} (default: the engine rounds them) or {@code fpmath} (oneDNN's bf16 fpmath mode on f32 data). */
    public static final String BF16_MODE_PROPERTY = "leviathan.onednn.bf16";

    /** GEMMs of fewer MFLOP than this stay float32 in a bf16 backend (default {@value #DEFAULT_BF16_MIN_MFLOP}): rounding copies and a primitive per shape cost more than small products gain. */
    public static final String BF16_MIN_MFLOP_PROPERTY = "leviathan.onednn.bf16MinMflop";
    /** Untuned guess: a per-head correlation product at the default config is about 1 MFLOP, a linear layer's 100 or more. */
    public static final double DEFAULT_BF16_MIN_MFLOP = 4;

    private static final byte NO_TRANS = 'N', TRANS = 'T';

    /** How to load and run oneDNN; {@link #fromSystem()} reads the properties and environment. */
    public record Options(String path, int threads, double parallelMflop) {
        public Options {
            if (threads < 0) throw new IllegalArgumentException(THREADS_PROPERTY + " must be >= 1, got " + threads);
            if (!(parallelMflop >= 0)) throw new IllegalArgumentException(PARALLEL_MFLOP_PROPERTY + " must be >= 0, got " + parallelMflop);
        }

        /** {@code threads = 0} follows the engine's thread count, timed per shape; {@code path = null} is the bundled copy. */
        public static Options fromSystem() {
            return new Options(OneDnnLoader.configuredPath(), intProperty(THREADS_PROPERTY, 0),
                    doubleProperty(PARALLEL_MFLOP_PROPERTY, DEFAULT_PARALLEL_MFLOP));
        }

        public Options withPath(String p) { return new Options(p, threads, parallelMflop); }
    }

    private final OneDnnLoader.Library library;
    private final int fixedThreads;
    private final double parallelFlops;
    private final Options options;
    /** Non-null when GEMM operands are bf16. */
    private final OneDnnMatmul bf16;
    /** FLOPs from which a bf16 backend rounds the operands. */
    private final double bf16MinFlops;
    /** Per calling thread: the OpenMP thread count last set on it (OpenMP keeps it per thread). */
    private static final ThreadLocal<int[]> OMP_THREADS = ThreadLocal.withInitial(() -> new int[] {-1});
    /** Per calling thread: timings of each GEMM shape above the threshold, on one thread and on several. */
    private final ThreadLocal<ShapeTimings<Timing>> timings = ThreadLocal.withInitial(ShapeTimings::new);

    /**
     * Which thread count one shape runs on. Calls 1 and 2 warm up (kernel generation) on all
     * threads and on one; calls 3 to 12 alternate and time both; after that the faster one runs
     * and the other is timed once every {@link #PROBE_PERIOD} calls. Each count keeps its last
     * {@value #KEPT} times and is judged by their median, so one disturbed call does not flip the
     * choice, and all threads are used only when clearly (10%) faster than one.
     */
    static final class Timing {
        static final int KEPT = 5;
        private long calls;
        private final long[] one = new long[KEPT], many = new long[KEPT];
        private int oneCount, manyCount;

        /** True if this call should use all threads. */
        boolean nextIsMany() {
            long c = ++calls;
            if (c <= 12) return c % 2 == 1;                 // 1: all (warm-up), 2: one (warm-up), then alternate
            boolean m = prefersMany();
            return c % PROBE_PERIOD == 0 ? !m : m;
        }

        /** Records the time of the call just made (the two warm-up calls are not counted). */
        void record(boolean onMany, long ns) {
            if (calls <= 2) return;
            if (onMany) many[manyCount++ % KEPT] = ns;
            else one[oneCount++ % KEPT] = ns;
        }

        /** All threads only when their median time is at least 10% below one thread's. */
        boolean prefersMany() {
            return manyCount > 0 && oneCount > 0 && median(many, manyCount) < 0.9 * median(one, oneCount);
        }

        private final long[] sorted = new long[KEPT];          // median's scratch: a call allocates nothing

        private long median(long[] ring, int count) {
            int n = Math.min(count, KEPT);
            System.arraycopy(ring, 0, sorted, 0, n);
            Arrays.sort(sorted, 0, n);
            return sorted[n / 2];
        }
    }

    private OneDnnBackend(OneDnnLoader.Library library, Options options, OneDnnMatmul bf16, double bf16MinMflop) {
        this.bf16MinFlops = bf16MinMflop * 1e6;
        this.library = library;
        this.options = options;
        this.fixedThreads = options.threads();
        this.parallelFlops = options.parallelMflop() * 1e6;
        this.bf16 = bf16;
    }

    /** Loads oneDNN (once per JVM) as {@code options} say. */
    public static OneDnnBackend open(Options options) throws OneDnnLoader.UnavailableException {
        return new OneDnnBackend(OneDnnLoader.load(options.path()), options, null, 0);
    }

    /** {@link #open(Options)} with the properties and environment. */
    public static OneDnnBackend open() throws OneDnnLoader.UnavailableException {
        return open(Options.fromSystem());
    }

    public OneDnnLoader.Library library() { return library; }

    @Override
    public Precision precision() { return bf16 == null ? Precision.FP32 : Precision.BF16; }

    /**
     * This backend at {@code p}: BF16 needs oneDNN to dispatch to bf16 instructions (its effective
     * ISA includes AVX512_BF16); where it does not, {@code log} gets one line and this float32
     * backend is returned. The result shares the library; close it on its own.
     */
    @Override
    public Backend withPrecision(Precision p, Consumer<String> log) {
        return withPrecision(p, doubleProperty(BF16_MIN_MFLOP_PROPERTY, DEFAULT_BF16_MIN_MFLOP), log);
    }

    /** {@link #withPrecision(Precision, Consumer)} with products below {@code bf16MinMflop} MFLOP kept float32. */
    public Backend withPrecision(Precision p, double bf16MinMflop, Consumer<String> log) {
        if (!(bf16MinMflop >= 0)) throw new IllegalArgumentException(BF16_MIN_MFLOP_PROPERTY + " must be >= 0, got " + bf16MinMflop);
        if (p == Precision.FP32) return precision() == p ? this : new OneDnnBackend(library, options, null, 0);
        int isa = CpuFeatures.onednnIsa();
        if (!CpuFeatures.isaHasBf16(isa)) {
            List<String> flags = CpuFeatures.bf16Flags();
            log.accept("precision: bf16 requested, but this CPU has no bf16 instructions (oneDNN ISA " + CpuFeatures.isaName(isa)
                    + ", cpu flags: " + (flags.isEmpty() ? "no avx512_bf16/amx_bf16" : String.join(", ", flags)) + "); running fp32");
            return this;
        }
        return new OneDnnBackend(library, options, new OneDnnMatmul(bf16Mode()), bf16MinMflop);
    }

    /** {@link #BF16_MODE_PROPERTY} as a mode. */
    static OneDnnMatmul.Mode bf16Mode() {
        String m = System.getProperty(BF16_MODE_PROPERTY, "convert").trim().toLowerCase(java.util.Locale.ROOT);
        return switch (m) {
            case "convert" -> OneDnnMatmul.Mode.CONVERT;
            case "fpmath" -> OneDnnMatmul.Mode.FPMATH;
            default -> throw new IllegalArgumentException(BF16_MODE_PROPERTY + " must be convert or fpmath, got '" + m + "'");
        };
    }

    /** The oneDNN kernel a bf16 product of this shape runs on (for tests and the profile); null for a float32 backend. */
    public String bf16Implementation(boolean transA, boolean transB, int M, int N, int K, float alpha, int lda, int ldb, float beta, int ldc) {
        if (bf16 == null) return null;
        int t = library.openMp() ? OMP_THREADS.get()[0] : 0;
        return bf16.implementation(transA, transB, M, N, K, alpha, lda, ldb, beta, ldc, t);
    }

    /** OpenMP threads used by a large GEMM. */
    public int threads() { return fixedThreads > 0 ? fixedThreads : Parallel.threads(); }

    /** True if an {@code M×N×K} product may use more than one thread (above the threshold, several threads configured). */
    boolean mayUseThreads(int M, int N, int K) {
        return library.openMp() && threads() > 1 && 2.0 * M * N * K >= parallelFlops;
    }

    @Override
    public String name() { return "onednn"; }

    @Override
    public String describe() {
        int t = library.openMp() ? threads() : 0;
        return "onednn (oneDNN " + library.version() + ", "
                + (t == 0 ? "threads managed by its runtime" : t + (t == 1 ? " thread" : " threads"))
                + (bf16 == null ? "" : ", bf16 operands via the matmul primitive (" + bf16.mode().name().toLowerCase(java.util.Locale.ROOT)
                        + ") for GEMMs >= " + fmt(bf16MinFlops / 1e6) + " MFLOP") + ")";
    }

    /** A second line for {@code info}: build, thread policy, wait policy and where the library came from. */
    public String details() {
        String threads = !library.openMp() ? "runtime " + library.cpuRuntime() + " (not OpenMP: thread count not managed)"
                : "OpenMP, " + threads() + (fixedThreads > 0 ? " threads (fixed)" : " threads where timed faster than 1")
                  + " for GEMMs >= " + fmt(parallelFlops / 1e6) + " MFLOP, 1 below"
                  + ", OMP_WAIT_POLICY=" + (library.waitPolicy() == null ? "libgomp default" : library.waitPolicy());
        return "oneDNN " + library.version() + (library.hash().isEmpty() || library.hash().equals("N/A") ? "" : " (" + library.hash() + ")") + "; " + threads
                + "; " + library.source();
    }

    /**
     * One line on oneDNN for {@code info}: {@link #details()} when {@code active} is this backend,
     * else why it is not loaded.
     */
    public static String status(Backend active) {
        if (ProfiledBackend.unwrap(active) instanceof OneDnnBackend o) return o.details();
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
        sgemm(transA, transB, M, N, K, alpha, a, 0, lda, b, 0, ldb, beta, c, 0, ldc);
    }

    @Override
    public void sgemm(boolean transA, boolean transB, int M, int N, int K, float alpha,
                      MemorySegment a, long aOffset, int lda, MemorySegment b, long bOffset, int ldb,
                      float beta, MemorySegment c, long cOffset, int ldc) {
        Matmul.checkArgs(transA, transB, M, N, K, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
        if (M == 0 || N == 0) return;
        if (K == 0) {      // C = beta·C; oneDNN rejects the zero leading dimensions an empty A or B may have
            Matmul.gemmScalar(transA, transB, M, N, K, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
            return;
        }
        requireNative("A", a);
        requireNative("B", b);
        requireNative("C", c);
        int status;
        if (!mayUseThreads(M, N, K)) {
            if (library.openMp()) useThreads(1);
            status = call(transA, transB, M, N, K, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
        } else if (fixedThreads > 0) {
            useThreads(fixedThreads);
            status = call(transA, transB, M, N, K, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
        } else {
            int t = threads();
            Timing timing = timings.get().of(transA, transB, M, N, K, t, Timing::new);
            boolean many = timing.nextIsMany();
            useThreads(many ? t : 1);
            long t0 = System.nanoTime();
            status = call(transA, transB, M, N, K, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
            timing.record(many, System.nanoTime() - t0);
        }
        if (status != dnnl_h.dnnl_success()) {
            throw new IllegalStateException("dnnl_sgemm(" + (transA ? 'T' : 'N') + ", " + (transB ? 'T' : 'N') + ", M=" + M + ", N=" + N
                    + ", K=" + K + ", lda=" + lda + ", ldb=" + ldb + ", ldc=" + ldc + ") failed: " + statusName(status));
        }
    }

    /**
     * The product on exactly {@code threads} OpenMP threads (where the runtime is OpenMP), with no
     * timing of its own: the tuned backend's way to run the thread count it chose for a shape.
     */
    void sgemmOn(int threads, boolean transA, boolean transB, int M, int N, int K, float alpha,
                 MemorySegment a, long aOffset, int lda, MemorySegment b, long bOffset, int ldb,
                 float beta, MemorySegment c, long cOffset, int ldc) {
        Matmul.checkArgs(transA, transB, M, N, K, a, aOffset, lda, b, bOffset, ldb, c, cOffset, ldc);
        if (M == 0 || N == 0 || K == 0) {
            sgemm(transA, transB, M, N, K, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
            return;
        }
        requireNative("A", a);
        requireNative("B", b);
        requireNative("C", c);
        if (library.openMp()) useThreads(threads);
        int status = call(transA, transB, M, N, K, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc);
        if (status != dnnl_h.dnnl_success()) {
            throw new IllegalStateException("dnnl_sgemm(M=" + M + ", N=" + N + ", K=" + K + ") failed: " + statusName(status));
        }
    }

    private int call(boolean transA, boolean transB, int M, int N, int K, float alpha, MemorySegment a, long aOffset, int lda,
                     MemorySegment b, long bOffset, int ldb, float beta, MemorySegment c, long cOffset, int ldc) {
        if (bf16 != null && 2.0 * M * N * K >= bf16MinFlops) {
            bf16.run(transA, transB, M, N, K, alpha, a, aOffset, lda, b, bOffset, ldb, beta, c, cOffset, ldc,
                    library.openMp() ? OMP_THREADS.get()[0] : 0);
            return dnnl_h.dnnl_success();
        }
        try {
            return (int) SgemmAt.HANDLE.invokeExact(transA ? TRANS : NO_TRANS, transB ? TRANS : NO_TRANS, (long) M, (long) N, (long) K, alpha,
                    a.address() + aOffset * Float.BYTES, (long) lda, b.address() + bOffset * Float.BYTES, (long) ldb,
                    beta, c.address() + cOffset * Float.BYTES, (long) ldc);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new AssertionError("dnnl_sgemm", e);
        }
    }

    /** {@code dnnl_sgemm} with A, B and C passed as addresses ({@link Downcalls}); linked on first use, once oneDNN is loaded. */
    private static final class SgemmAt {
        static final MethodHandle HANDLE = Downcalls.withAddresses(dnnl_h.dnnl_sgemm$address(), dnnl_h.dnnl_sgemm$descriptor(), 6, 8, 11);
    }

    /** Sets the calling thread's OpenMP thread count, when it differs from the last one set there. */
    private static void useThreads(int t) {
        int[] current = OMP_THREADS.get();
        if (current[0] != t) {
            omp_h.omp_set_num_threads(t);
            current[0] = t;
        }
    }

    /** The thread count the calling thread has settled on for a shape (1 until timed faster); for tests. */
    int settledThreads(boolean transA, boolean transB, int M, int N, int K) {
        if (!mayUseThreads(M, N, K)) return 1;
        if (fixedThreads > 0) return fixedThreads;
        Timing t = timings.get().of(transA, transB, M, N, K, threads(), null);
        return t != null && t.prefersMany() ? threads() : 1;
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

    /** Frees the bf16 primitives, if any; the library stays loaded. */
    @Override
    public void close() {
        if (bf16 != null) bf16.close();
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
