package leviathan.testing;

import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.stream.IntStream;
import leviathan.kernel.Parallel;
import leviathan.kernel.Simd;

/**
 * Test fixtures for kernels and layers: float segments, random fills, bitwise comparison, gradient checks. The
 * tolerant comparison is {@link leviathan.testing.Close}.
 */
public final class Segments {
    private Segments() {}

    public static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;
    public static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT;
    public static final long SEED = 1337;

    /** Lengths every vector-vs-scalar test covers: edges of the vector loop, then odd sizes. */
    public static int[] lengths() {
        int L = Simd.lanes();
        return IntStream.of(0, 1, 7, 31, 33, 65, 257, L - 1, L, L + 1, 3 * L + 5).distinct().toArray();
    }

    /** Row widths for row kernels: {@link #lengths()} without 0, plus the model's C, 4C and V. */
    public static int[] widths() {
        return IntStream.concat(IntStream.of(lengths()), IntStream.of(128, 512, 65)).filter(w -> w > 0).distinct().toArray();
    }

    public static MemorySegment floats(Arena arena, long n) {
        return arena.allocate(Math.max(1, n) * Float.BYTES, 64);
    }

    /** n floats, uniform in {@code [-scale, scale)}. */
    public static MemorySegment random(Arena arena, long n, SplittableRandom rnd, double scale) {
        MemorySegment s = floats(arena, n);
        for (long i = 0; i < n; i++) s.setAtIndex(FL, i, (float) (rnd.nextDouble(-1, 1) * scale));
        return s;
    }

    public static MemorySegment tokens(Arena arena, int n, int V, SplittableRandom rnd) {
        MemorySegment s = arena.allocate(Math.max(1, n) * (long) Integer.BYTES, 64);
        for (int i = 0; i < n; i++) s.setAtIndex(I32, i, rnd.nextInt(V));
        return s;
    }

    public static MemorySegment copy(Arena arena, MemorySegment s) {
        MemorySegment c = arena.allocate(s.byteSize(), 64);
        c.copyFrom(s);
        return c;
    }

    public static double[] toDoubles(MemorySegment s, long n) {
        double[] d = new double[(int) n];
        for (int i = 0; i < n; i++) d[i] = s.getAtIndex(FL, i);
        return d;
    }

    public static void fill(MemorySegment s, double[] values) {
        for (int i = 0; i < values.length; i++) s.setAtIndex(FL, i, (float) values[i]);
    }

    /** Asserts bit-identical floats (the same operations in the same order), naming the first difference. */
    public static void assertSame(String what, MemorySegment actual, MemorySegment expected, long n) {
        for (long i = 0; i < n; i++) {
            int a = Float.floatToRawIntBits(actual.getAtIndex(FL, i)), r = Float.floatToRawIntBits(expected.getAtIndex(FL, i));
            if (a != r) {
                fail(what + ": first difference at index " + i + ": got " + actual.getAtIndex(FL, i) + ", expected "
                        + expected.getAtIndex(FL, i) + " (n " + n + ")");
            }
        }
    }

    /**
     * Asserts an analytic gradient against a finite-difference one:
     * {@code |a - n| <= 1e-2·max(|a|, |n|) + floor}; a failure names the worst index.
     */
    public static void assertGradient(String what, double[] analytic, double[] numeric, double floor) {
        double worst = 0;
        int at = -1;
        for (int i = 0; i < analytic.length; i++) {
            double a = analytic[i], n = numeric[i];
            double excess = Math.abs(a - n) - 1e-2 * Math.max(Math.abs(a), Math.abs(n)) - floor;
            if (Double.isNaN(excess) || excess > worst) {
                worst = Double.isNaN(excess) ? Double.POSITIVE_INFINITY : excess;
                at = i;
            }
        }
        if (at >= 0) fail(what + ": worst at index " + at + ": analytic " + analytic[at] + ", finite difference " + numeric[at]);
    }

    /** A function of a double vector, for finite differences. */
    public interface Loss {
        double at(double[] x);
    }

    /** Central differences of {@code loss} at {@code x}, step h, one coordinate at a time. */
    public static double[] numericGradient(Loss loss, double[] x, double h) {
        double[] g = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            double keep = x[i];
            x[i] = keep + h;
            double up = loss.at(x);
            x[i] = keep - h;
            double down = loss.at(x);
            x[i] = keep;
            g[i] = (up - down) / (2 * h);
        }
        return g;
    }

    /** Runs {@code body} with the kernel thread count set to {@code threads}, then restores it. */
    public static void withThreads(int threads, Runnable body) {
        int keep = Parallel.threads();
        Parallel.setThreads(threads);
        try {
            body.run();
        } finally {
            Parallel.setThreads(keep);
        }
    }
}
