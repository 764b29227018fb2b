package leviathan.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;
import leviathan.kernel.Matmul;
import leviathan.kernel.Parallel;
import org.openjdk.jmh.annotations.AuxCounters;
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
 * The pure-Java GEMM ({@link Matmul#gemm}) in GFLOP/s, against the machine's single-core fp32
 * FMA peak ({@link #fmaPeak}) and the scalar definition. Shapes are the char-Shakespeare model's
 * linear layers (B·T = 12·64 = 768 rows; c_attn 128→384, c_fc 128→512, mlp c_proj 512→128,
 * lm_head 128→65) in the three orientations a training step runs, plus 1024³:
 * <pre>
 *   NT  forward          Y  = X·Wᵀ       M = rows, N = out, K = in
 *   NN  input gradient   dX = dY·W       M = rows, N = in,  K = out
 *   TN  weight gradient  dW += dYᵀ·X     M = out,  N = in,  K = rows   (beta = 1)
 * </pre>
 * The score to read is the {@code gflops} line (a counter of 2·M·N·K/1e9 per call, divided by
 * time); the primary ops/s line is calls per second. Run:
 * {@code ./leviathan bench GemmBench -f 1 -wi 4 -i 9 -w 500ms -r 500ms}.
 *
 * <p>Measured (medians of 9 iterations, GFLOP/s, 1 thread / 2 threads) on 2 vCPUs of an AMD EPYC
 * (Zen 5, AVX-512, 16 lanes), Temurin 25, shared with other jobs, so 2-thread numbers swing:
 * fmaPeak 268; NT 768x384x128 214/311, 768x512x128 216/330, 768x128x512 197/261, 768x65x128
 * 133/134 (serial: under 32 Mflop); NN 768x128x384 210/311, 768x128x512 209/324, 768x512x128
 * 216/297, 768x128x65 172/178; TN 384x128x768 208/294, 512x128x768 194/305, 128x512x768
 * 205/275, 65x128x768 167/169; 1024³ 207/386; scalar 1.8-5.7.
 */
@BenchmarkMode(Mode.Throughput)
@OutputTimeUnit(TimeUnit.SECONDS)
@Fork(value = 1, jvmArgsAppend = {"-Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0"})
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
public class GemmBench {

    /** GFLOP done, as an operations counter: JMH divides it by time, giving GFLOP/s. */
    @State(Scope.Thread)
    @AuxCounters(AuxCounters.Type.OPERATIONS)
    public static class Flops {
        public double gflops;

        @Setup(Level.Iteration)
        public void clear() { gflops = 0; }
    }

    /** One product: {@code <tA><tB>:MxNxK}, as in {@code C = op(A)·op(B)}. */
    public static class Product {
        boolean tA, tB;
        int M, N, K, lda, ldb;
        double gflop;
        Arena arena;
        MemorySegment a, b, c;

        void open(String shape) {
            GemmShape g = GemmShape.parse(shape);
            tA = g.tA();
            tB = g.tB();
            M = g.M();
            N = g.N();
            K = g.K();
            lda = g.lda();
            ldb = g.ldb();
            gflop = g.gflop();
            arena = Arena.ofShared();
            var rnd = new SplittableRandom(1337);
            a = random(arena, (long) M * K, rnd);
            b = random(arena, (long) K * N, rnd);
            c = random(arena, (long) M * N, rnd);
        }

        /** beta = 1 for the weight gradient (it accumulates), 0 otherwise, as the model calls them. */
        float beta() { return tA ? 1f : 0f; }
    }

    @State(Scope.Benchmark)
    public static class Vector extends Product {
        @Param({
            "NT:768x384x128", "NT:768x512x128", "NT:768x128x512", "NT:768x65x128",
            "NN:768x128x384", "NN:768x128x512", "NN:768x512x128", "NN:768x128x65",
            "TN:384x128x768", "TN:512x128x768", "TN:128x512x768", "TN:65x128x768",
            "NN:1024x1024x1024",
        })
        public String shape;

        @Param({"1", "2"})
        public int threads;

        @Setup(Level.Trial)
        public void setup() {
            Parallel.setThreads(threads);
            open(shape);
        }

        @TearDown(Level.Trial)
        public void tearDown() { arena.close(); }
    }

    /** The scalar definition, at the small model shapes only (it runs at about 1 GFLOP/s). */
    @State(Scope.Benchmark)
    public static class Scalar extends Product {
        @Param({"NT:768x384x128", "NN:768x128x384", "TN:384x128x768", "NT:768x65x128"})
        public String shape;

        @Setup(Level.Trial)
        public void setup() { open(shape); }

        @TearDown(Level.Trial)
        public void tearDown() { arena.close(); }
    }

    @Benchmark
    public MemorySegment gemm(Vector p, Flops f) {
        Matmul.gemm(p.tA, p.tB, p.M, p.N, p.K, 1f, p.a, p.lda, p.b, p.ldb, p.beta(), p.c, p.N);
        f.gflops += p.gflop;
        return p.c;
    }

    @Benchmark
    public MemorySegment scalar(Scalar p, Flops f) {
        Matmul.gemmScalar(p.tA, p.tB, p.M, p.N, p.K, 1f, p.a, p.lda, p.b, p.ldb, p.beta(), p.c, p.N);
        f.gflops += p.gflop;
        return p.c;
    }

    private static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    private static final int PEAK_STEPS = 1 << 16;

    /** Inputs of {@link #fmaPeak}, from a field so the JIT cannot fold the chains. */
    @State(Scope.Thread)
    public static class PeakInput {
        public float x = 0.9999f, y = 1e-4f;
    }

    /**
     * The single-core fp32 FMA peak: 12 independent chains {@code c = c·x + y} on vector registers
     * (more chains than FMA latency × FMA pipes), {@code 2·lanes·12·PEAK_STEPS} flops per call.
     */
    @Benchmark
    public float fmaPeak(PeakInput in, Flops f) {
        FloatVector x = FloatVector.broadcast(F, in.x), y = FloatVector.broadcast(F, in.y);
        FloatVector c0 = FloatVector.zero(F), c1 = c0, c2 = c0, c3 = c0, c4 = c0, c5 = c0;
        FloatVector c6 = c0, c7 = c0, c8 = c0, c9 = c0, c10 = c0, c11 = c0;
        for (int i = 0; i < PEAK_STEPS; i++) {
            c0 = c0.fma(x, y); c1 = c1.fma(x, y); c2 = c2.fma(x, y); c3 = c3.fma(x, y);
            c4 = c4.fma(x, y); c5 = c5.fma(x, y); c6 = c6.fma(x, y); c7 = c7.fma(x, y);
            c8 = c8.fma(x, y); c9 = c9.fma(x, y); c10 = c10.fma(x, y); c11 = c11.fma(x, y);
        }
        f.gflops += 2.0 * F.length() * 12 * PEAK_STEPS / 1e9;
        return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11)
                .reduceLanes(VectorOperators.ADD);
    }

    static MemorySegment random(Arena arena, long n, SplittableRandom rnd) {
        MemorySegment s = arena.allocate(n * Float.BYTES, 64);
        for (long i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rnd.nextDouble(-1, 1));
        return s;
    }
}
