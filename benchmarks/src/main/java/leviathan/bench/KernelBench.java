package leviathan.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import leviathan.kernel.Parallel;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
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
 * What the kernel benchmarks share: sizes from the char-Shakespeare config (B = 12, T = 64, so
 * B·T = 768 rows; C = 128, H = 4, V = 65), the kernel thread count as a parameter, and seeded
 * inputs in one shared arena. Each {@code *Bench} times a kernel's vector entry point (on
 * {@link #threads} kernel threads) beside its scalar reference ({@code *Scalar}, one thread
 * whatever the parameter). Vector API bounds checks are off, as in production runs.
 *
 * <pre>
 *   flock /tmp/leviathan-bench.lock ./leviathan bench 'leviathan.bench.(Gelu|LayerNorm|Softmax|CrossEntropy|AdamW|Encoder|Residual|Bias)Bench' -p threads=1 -wi 2 -i 5 -w 1 -r 1
 * </pre>
 * Results: benchmarks/results/kernels.md.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MICROSECONDS)
@Warmup(iterations = 3, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "-Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0"})
@State(Scope.Benchmark)
public abstract class KernelBench {
    static final int B = 12, T = 64, ROWS = B * T, C = 128, H = 4, V = 65;

    /** Kernel threads for the vector path. */
    @Param({"1", "2"})
    public int threads;

    private Arena arena;
    private int keepThreads;

    /** Allocates and fills this benchmark's inputs. */
    abstract void allocate(SplittableRandom rnd);

    @Setup
    public void setup() {
        keepThreads = Parallel.threads();
        Parallel.setThreads(threads);
        arena = Arena.ofShared();
        allocate(new SplittableRandom(1337));
    }

    @TearDown
    public void tearDown() {
        Parallel.setThreads(keepThreads);
        arena.close();
    }

    /** n floats uniform in {@code [-scale, scale)}, 64-byte aligned. */
    MemorySegment random(long n, SplittableRandom rnd, double scale) {
        MemorySegment s = arena.allocate(n * Float.BYTES, 64);
        for (long i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) (rnd.nextDouble(-1, 1) * scale));
        return s;
    }

    /** n zero floats. */
    MemorySegment zeros(long n) { return arena.allocate(n * Float.BYTES, 64); }

    /** n int32 token ids in {@code [0, V)}. */
    MemorySegment tokens(int n, int V, SplittableRandom rnd) {
        MemorySegment s = arena.allocate((long) n * Integer.BYTES, 64);
        for (int i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_INT, i, rnd.nextInt(V));
        return s;
    }
}
