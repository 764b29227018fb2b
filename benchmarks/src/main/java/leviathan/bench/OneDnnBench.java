package leviathan.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.Linker;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import leviathan.backend.Backend;
import leviathan.backend.JavaBackend;
import leviathan.backend.OneDnnBackend;
import leviathan.ffi.onednn.dnnl_h;
import leviathan.ffi.onednn.omp_h;
import leviathan.kernel.Matmul;
import leviathan.kernel.Parallel;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;

/**
 * GEMM backends at the model's shapes: oneDNN ({@code dnnl_sgemm} through FFM) vs the Vector API
 * GEMM vs the scalar reference, on one and two threads. Shapes are the linear layers of the
 * char-Shakespeare config (C = 384, 4C = 1536, 3C = 1152, V = 65) over B·T = 4·256 = 1024 rows:
 * forward {@code out = in·Wᵀ} (NT), input gradient {@code din = dout·W} (NN), weight gradient
 * {@code dW = doutᵀ·in} (TN), plus 1024³. Results and commands: benchmarks/results/onednn.md.
 *
 * <p>{@code threads} sets the engine's thread count ({@link Parallel#setThreads}); oneDNN follows
 * it (with its default threshold: products under 32 MFLOP stay on one thread).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@State(Scope.Benchmark)
@Fork(value = 1, jvmArgsAppend = {"-Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0"})
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
public class OneDnnBench {

    /** {@code <tA><tB>:MxNxK} ({@link GemmShape}). */
    @Param({
        "NT:1024x1152x384", "NT:1024x384x384", "NT:1024x1536x384", "NT:1024x384x1536", "NT:1024x65x384",
        "NN:1024x384x1152", "NN:1024x384x384", "NN:1024x384x1536", "NN:1024x1536x384", "NN:1024x384x65",
        "TN:1152x384x1024", "TN:384x384x1024", "TN:1536x384x1024", "TN:384x1536x1024", "TN:65x384x1024",
        "NN:1024x1024x1024",
    })
    public String shape;

    /** {@code onednn-bf16}: the bf16-operand path ({@code -Dleviathan.precision=bf16}) with no size threshold. */
    @Param({"onednn", "onednn-bf16", "java", "scalar"})
    public String backend;

    @Param({"1", "2"})
    public int threads;

    private Arena arena;
    private Backend gemm;
    private boolean tA, tB;
    private int M, N, K, lda, ldb;
    private MemorySegment a, b, c;

    @Setup(Level.Trial)
    public void setup() throws Exception {
        GemmShape g = GemmShape.parse(shape);
        tA = g.tA();
        tB = g.tB();
        M = g.M();
        N = g.N();
        K = g.K();
        lda = g.lda();
        ldb = g.ldb();
        Parallel.setThreads(threads);
        arena = Arena.ofShared();
        a = random(arena, (long) M * K, 1);
        b = random(arena, (long) K * N, 2);
        c = random(arena, (long) M * N, 3);
        gemm = switch (backend) {
            case "onednn" -> OneDnnBackend.open();
            case "onednn-bf16" -> {                  // bf16 operands at every size; one line and fp32 where the CPU lacks bf16
                OneDnnBackend o = OneDnnBackend.open();
                yield o.withPrecision(leviathan.backend.Precision.BF16, 0, line -> System.out.println("\n# " + line));
            }
            case "java" -> new JavaBackend();
            case "scalar" -> new Backend() {
                @Override public String name() { return "scalar"; }
                @Override public void sgemm(boolean tA, boolean tB, int M, int N, int K, float alpha, MemorySegment a, int lda,
                                            MemorySegment b, int ldb, float beta, MemorySegment c, int ldc) {
                    Matmul.gemmScalar(tA, tB, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc);
                }
            };
            default -> throw new IllegalArgumentException(backend);
        };
        System.out.println("\n# " + gemm.describe() + (gemm instanceof OneDnnBackend o ? "; " + o.details() : ""));
        if (gemm instanceof OneDnnBackend o && o.precision() == leviathan.backend.Precision.BF16) {
            System.out.println("# bf16 kernel: " + o.bf16Implementation(tA, tB, M, N, K, 1f, lda, ldb, 1f, N));
        }
    }

    @TearDown(Level.Trial)
    public void tearDown() {
        gemm.close();
        arena.close();
    }

    /** One product as the training step calls it (beta = 1 accumulates, as the backward passes do). */
    @Benchmark
    public MemorySegment sgemm() {
        gemm.sgemm(tA, tB, M, N, K, 1f, a, lda, b, ldb, 1f, c, N);
        return c;
    }

    static MemorySegment random(Arena arena, long n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        MemorySegment s = arena.allocate(ValueLayout.JAVA_FLOAT, n);
        for (long i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (r.nextDouble() - 0.5) * 0.01f);
        return s;
    }

    /**
     * What one call costs besides the arithmetic: the bare downcall ({@code dnnl_version}), a
     * 1×1×1 and a 64×64×64 {@code dnnl_sgemm} called directly, through a critical downcall, and
     * through {@link OneDnnBackend} (shape checks and the per-thread OpenMP count included).
     */
    @BenchmarkMode(Mode.AverageTime)
    @OutputTimeUnit(TimeUnit.NANOSECONDS)
    @State(Scope.Benchmark)
    @Fork(value = 1, jvmArgsAppend = {"-Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0"})
    @Warmup(iterations = 3, time = 1)
    @Measurement(iterations = 5, time = 1)
    public static class Overhead {
        @Param({"1", "64"})
        public int n;

        private Arena arena;
        private OneDnnBackend onednn;
        private MemorySegment a, b, c;
        private MethodHandle critical;

        @Setup(Level.Trial)
        public void setup() throws Exception {
            Parallel.setThreads(1);
            onednn = OneDnnBackend.open();
            arena = Arena.ofShared();
            a = random(arena, (long) n * n, 1);
            b = random(arena, (long) n * n, 2);
            c = random(arena, (long) n * n, 3);
            critical = Linker.nativeLinker().downcallHandle(dnnl_h.dnnl_sgemm$address(), dnnl_h.dnnl_sgemm$descriptor(),
                    Linker.Option.critical(false));
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            arena.close();
        }

        /** OpenMP keeps its thread count per thread: the direct calls get one thread, as the backend's do at this size. */
        @State(Scope.Thread)
        public static class OneOmpThread {
            @Setup(Level.Iteration)
            public void setup() {
                omp_h.omp_set_num_threads(1);
            }
        }

        @Benchmark
        public MemorySegment versionDowncall() {
            return dnnl_h.dnnl_version();
        }

        @Benchmark
        public int sgemmDirect(OneOmpThread one) {
            return dnnl_h.dnnl_sgemm((byte) 'N', (byte) 'N', n, n, n, 1f, a, n, b, n, 0f, c, n);
        }

        @Benchmark
        public int sgemmCritical(OneOmpThread one) throws Throwable {
            return (int) critical.invokeExact((byte) 'N', (byte) 'N', (long) n, (long) n, (long) n, 1f, a, (long) n, b, (long) n, 0f, c, (long) n);
        }

        @Benchmark
        public MemorySegment sgemmBackend() {
            onednn.sgemm(false, false, n, n, n, 1f, a, n, b, n, 0f, c, n);
            return c;
        }
    }
}
