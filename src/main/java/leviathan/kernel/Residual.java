package leviathan.kernel;

import static leviathan.kernel.Simd.F;
import static leviathan.kernel.Simd.NATIVE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;

/** Elementwise sums for residual streams: {@code out = a + b} and {@code acc += x}. */
public final class Residual {
    private Residual() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    /** {@code out[i] = a[i] + b[i]}, i in [0, n); out may alias a or b. */
    public static void forward(MemorySegment out, MemorySegment a, MemorySegment b, long n) {
        forward(out, a, b, 0, n);
    }

    /** {@code out[i] = a[i] + b[i]}, i in {@code [from, to)}; out may alias a or b. */
    public static void forward(MemorySegment out, MemorySegment a, MemorySegment b, long from, long to) {
        Sum k = SUM.get();
        k.out = out;
        k.a = a;
        k.b = b;
        Elementwise.forBlocks(from, to, Elementwise.LIGHT_TASK, k);
    }

    private static final class Sum extends Elementwise.Blocks {
        MemorySegment out, a, b;

        @Override
        void range(long from, long to) { forwardRange(out, a, b, from, to); }
    }

    private static final Parallel.Tasks<Sum> SUM = new Parallel.Tasks<>(Sum::new);

    static void forwardRange(MemorySegment out, MemorySegment a, MemorySegment b, long from, long to) {
        long i = from;
        if (Simd.ENABLED) {
            for (long bound = from + F.loopBound(to - from); i < bound; i += F.length()) {
                long off = i * Float.BYTES;
                FloatVector.fromMemorySegment(F, a, off, NATIVE).add(FloatVector.fromMemorySegment(F, b, off, NATIVE))
                        .intoMemorySegment(out, off, NATIVE);
            }
        }
        forwardScalar(out, a, b, i, to);
    }

    /** Elements {@code [from, n)}. */
    public static void forwardScalar(MemorySegment out, MemorySegment a, MemorySegment b, long from, long n) {
        for (long i = from; i < n; i++) out.setAtIndex(FL, i, a.getAtIndex(FL, i) + b.getAtIndex(FL, i));
    }

    /** {@code acc += x}: how gradients of a residual branch join the stream. */
    public static void add(MemorySegment acc, MemorySegment x, long n) {
        forward(acc, acc, x, 0, n);
    }

    /** {@code acc[i] += x[i]}, i in {@code [from, to)}. */
    public static void add(MemorySegment acc, MemorySegment x, long from, long to) {
        forward(acc, acc, x, from, to);
    }

    /** Elements {@code [from, n)}. */
    public static void addScalar(MemorySegment acc, MemorySegment x, long from, long n) {
        for (long i = from; i < n; i++) acc.setAtIndex(FL, i, acc.getAtIndex(FL, i) + x.getAtIndex(FL, i));
    }
}
