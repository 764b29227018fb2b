package leviathan.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Elementwise sums for residual streams: {@code out = a + b} and {@code acc += x}. */
public final class Residual {
    private Residual() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    public static void forward(MemorySegment out, MemorySegment a, MemorySegment b, long n) {
        forwardScalar(out, a, b, 0, n);
    }

    public static void forwardScalar(MemorySegment out, MemorySegment a, MemorySegment b, long from, long n) {
        for (long i = from; i < n; i++) out.setAtIndex(FL, i, a.getAtIndex(FL, i) + b.getAtIndex(FL, i));
    }

    /** {@code acc += x}: how gradients of a residual branch join the stream. */
    public static void add(MemorySegment acc, MemorySegment x, long n) {
        addScalar(acc, x, 0, n);
    }

    public static void addScalar(MemorySegment acc, MemorySegment x, long from, long n) {
        for (long i = from; i < n; i++) acc.setAtIndex(FL, i, acc.getAtIndex(FL, i) + x.getAtIndex(FL, i));
    }
}
