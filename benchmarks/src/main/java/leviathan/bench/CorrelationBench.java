package leviathan.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import leviathan.backend.Backend;
import leviathan.backend.Backends;
import leviathan.kernel.Parallel;
import leviathan.nn.CorrelationAttention;
import leviathan.nn.CorrelationAttention.Impl;
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
import org.openjdk.jmh.infra.Blackhole;

/**
 * Multi-head correlation, forward and forward+backward, per implementation, at B·H = 48
 * (B = 12, H = 4: the char-Shakespeare batch and head count), T in {64, 256, 512}, D in {32, 64},
 * N in {1, 4, 8, D}, on 1 and 2 kernel threads. GFLOP/s counts 4·N·D flops per visible (i, j)
 * pair forward and twice that backward (the convention): {@link #flops}.
 *
 * <p>The full grid ({@link Fast}: direct and GEMM paths, 96 shapes × 2 benchmarks) takes about
 * half an hour with the defaults below. The scalar reference ({@link Ref}) is limited to T = 64,
 * one thread: at T = 512, N = D = 64 one forward+backward would take minutes. A subset, e.g.
 * <pre>
 *   flock /tmp/leviathan-bench.lock ./leviathan bench CorrelationBench -p T=64,256 -p D=32 -p N=1,4,D -wi 2 -i 3 -w 1 -r 1
 * </pre>
 * Results and the table built from them: benchmarks/results/correlation.md.
 *
 * <p>{@link #gemmRate} measures the selected backend's GEMM on 512³ (the "machine's GEMM rate"
 * the targets are relative to), and on the shape of one score block ({@code 32 × T·N × D}).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0"})
public class CorrelationBench {

    static final int B = 12, H = 4;

    /** Flops of one call: 4·N·D per visible (i, j) pair for the forward, 8·N·D more for the backward. */
    public static double flops(int T, int D, int N, boolean backward) {
        double pairs = (double) T * (T + 1) / 2 * B * H;
        return 4.0 * N * D * pairs * (backward ? 3 : 1);
    }

    /** Inputs, outputs and gradients of one shape, plus the operation under test. */
    public abstract static class Shape {
        Arena arena;
        Backend backend;
        CorrelationAttention op;
        MemorySegment qkv, lagBias, out, lse, dout, dqkv, dlagBias;
        int len, lagCount, C;

        void setUp(Impl impl, int T, int D, String lags, int threads) {
            int N = "D".equals(lags) ? D : Integer.parseInt(lags);
            this.len = T;
            this.lagCount = N;
            this.C = H * D;
            Parallel.setThreads(threads);
            arena = Arena.ofShared();
            backend = Backends.select(System.getProperty("leviathan.backend", "auto"), line -> { });
            op = new CorrelationAttention(backend, B, T, C, H, N, impl);
            var rng = new SplittableRandom(1337);
            qkv = random((long) B * T * 3 * C, rng);
            lagBias = random((long) H * N, rng);
            dout = random((long) B * T * C, rng);
            out = arena.allocate((long) B * T * C * Float.BYTES, 64);
            lse = arena.allocate((long) B * H * T * Float.BYTES, 64);
            dqkv = arena.allocate((long) B * T * 3 * C * Float.BYTES, 64);
            dlagBias = arena.allocate((long) H * N * Float.BYTES, 64);
            op.forward(out, lse, qkv, lagBias, B, T, 0);               // valid out/lse for backward-only runs
        }

        private MemorySegment random(long n, SplittableRandom rng) {
            MemorySegment s = arena.allocate(n * Float.BYTES, 64);
            for (long i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (rng.nextDouble() * 2 - 1));
            return s;
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            op.close();
            backend.close();
            arena.close();
        }

        void forward() { op.forward(out, lse, qkv, lagBias, B, len, 0); }

        void forwardBackward() {
            op.forward(out, lse, qkv, lagBias, B, len, 0);
            op.backward(dqkv, dlagBias, dout, out, lse, qkv, lagBias, B, len);
        }
    }

    /** The fast implementations over the full grid. */
    @State(Scope.Benchmark)
    public static class Fast extends Shape {
        @Param({"DIRECT", "GEMM"}) public String impl;
        @Param({"64", "256", "512"}) public int T;
        @Param({"32", "64"}) public int D;
        @Param({"1", "4", "8", "D"}) public String N;
        @Param({"1", "2"}) public int threads;

        @Setup(Level.Trial)
        public void setUp() { setUp(Impl.valueOf(impl), T, D, N, threads); }
    }

    /** The scalar reference, where it runs in reasonable time (one thread: it is not parallel). */
    @State(Scope.Benchmark)
    public static class Ref extends Shape {
        @Param({"64"}) public int T;
        @Param({"32", "64"}) public int D;
        @Param({"1", "4", "8", "D"}) public String N;

        @Setup(Level.Trial)
        public void setUp() { setUp(Impl.SCALAR, T, D, N, 1); }
    }

    @Benchmark
    public void forward(Fast s, Blackhole bh) {
        s.forward();
        bh.consume(s.out);
    }

    @Benchmark
    public void forwardBackward(Fast s, Blackhole bh) {
        s.forwardBackward();
        bh.consume(s.dqkv);
    }

    @Benchmark
    public void scalarForward(Ref s, Blackhole bh) {
        s.forward();
        bh.consume(s.out);
    }

    @Benchmark
    public void scalarForwardBackward(Ref s, Blackhole bh) {
        s.forwardBackward();
        bh.consume(s.dqkv);
    }

    /** The backend's GEMM: 512³, and one score block of the GEMM path (32 × T·N × D, T·N = 2048). */
    @State(Scope.Benchmark)
    public static class Gemm {
        @Param({"512x512x512", "32x2048x32", "32x32x2048"}) public String shape;
        @Param({"1", "2"}) public int threads;
        Arena arena;
        Backend backend;
        MemorySegment a, b, c;
        int M, N, K;

        @Setup(Level.Trial)
        public void setUp() {
            String[] p = shape.split("x");
            M = Integer.parseInt(p[0]);
            N = Integer.parseInt(p[1]);
            K = Integer.parseInt(p[2]);
            Parallel.setThreads(threads);
            arena = Arena.ofShared();
            backend = Backends.select(System.getProperty("leviathan.backend", "auto"), line -> { });
            a = arena.allocate((long) M * K * Float.BYTES, 64).fill((byte) 0x3c);
            b = arena.allocate((long) K * N * Float.BYTES, 64).fill((byte) 0x3c);
            c = arena.allocate((long) M * N * Float.BYTES, 64);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            backend.close();
            arena.close();
        }
    }

    @Benchmark
    public void gemmRate(Gemm g, Blackhole bh) {
        g.backend.sgemm(false, false, g.M, g.N, g.K, 1f, g.a, g.K, g.b, g.N, 0f, g.c, g.N);
        bh.consume(g.c);
    }
}
