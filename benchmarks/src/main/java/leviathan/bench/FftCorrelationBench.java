package leviathan.bench;

import java.lang.foreign.MemorySegment;
import java.util.concurrent.TimeUnit;
import leviathan.kernel.Correlation;
import leviathan.kernel.CorrelationFft;
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
 * Multi-head correlation forward+backward through FFTs ({@link CorrelationFft}) against the scalar
 * reference ({@link Correlation#forwardScalar}/{@link Correlation#backwardScalar}), at the issue's
 * grid: B·H in {48, 256} (H = 4, B = 12 or 64), T in {64, 512}, D = 64, N in {8, 64}. The scalar
 * reference runs only at T = 64 ({@link Ref}): at T = 512, N = 64 one call takes minutes.
 * <pre>
 *   flock /tmp/leviathan-bench.lock ./leviathan bench FftCorrelationBench -wi 2 -i 3 -w 1s -r 1s
 * </pre>
 * Results: benchmarks/results/fft.md.
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 2, time = 1)
@Measurement(iterations = 3, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0"})
public class FftCorrelationBench {

    static final int H = 4, D = 64, C = H * D;

    /** Inputs and outputs of one shape ({@link CorrelationInputs}). */
    public abstract static class Shape {
        CorrelationInputs io;
        MemorySegment qkv, lagBias, out, lse, dout, dqkv, dlagBias;
        int B, T, N;

        void allocate(int heads, int len, int lags) {
            B = heads / H;
            T = len;
            N = lags;
            io = new CorrelationInputs(B, T, C, H, N);
            qkv = io.qkv;
            lagBias = io.lagBias;
            dout = io.dout;
            out = io.out;
            lse = io.lse;
            dqkv = io.dqkv;
            dlagBias = io.dlagBias;
        }

        @TearDown(Level.Trial)
        public void free() { io.close(); }
    }

    /** Shapes for the FFT path: the full grid. */
    @State(Scope.Benchmark)
    public static class Fast extends Shape {
        @Param({"48", "256"}) int heads;
        @Param({"64", "512"}) int len;
        @Param({"8", "64"}) int lags;

        @Setup(Level.Trial)
        public void setUp() { allocate(heads, len, lags); }
    }

    /** Shapes for the scalar reference: T = 64 only. */
    @State(Scope.Benchmark)
    public static class Ref extends Shape {
        @Param({"48", "256"}) int heads;
        @Param({"64"}) int len;
        @Param({"8", "64"}) int lags;

        @Setup(Level.Trial)
        public void setUp() { allocate(heads, len, lags); }
    }

    @Benchmark
    public MemorySegment fftForwardBackward(Fast s) {
        CorrelationFft.forward(s.out, s.lse, s.qkv, s.lagBias, s.B, s.T, C, H, s.N, 0);
        CorrelationFft.backward(s.dqkv, s.dlagBias, s.dout, s.out, s.lse, s.qkv, s.lagBias, s.B, s.T, C, H, s.N);
        return s.dqkv;
    }

    @Benchmark
    public MemorySegment fftForward(Fast s) {
        CorrelationFft.forward(s.out, s.lse, s.qkv, s.lagBias, s.B, s.T, C, H, s.N, 0);
        return s.out;
    }

    @Benchmark
    public MemorySegment scalarForwardBackward(Ref s) {
        Correlation.forwardScalar(s.out, s.lse, s.qkv, s.lagBias, s.B, s.T, C, H, s.N, 0);
        Correlation.backwardScalar(s.dqkv, s.dlagBias, s.dout, s.out, s.lse, s.qkv, s.lagBias, s.B, s.T, C, H, s.N);
        return s.dqkv;
    }
}
