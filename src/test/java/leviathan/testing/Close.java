package leviathan.testing;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The tolerant comparison of the tests: float {@code a} is close to reference {@code r} when
 * {@code |a - r| <= atol + rtol·|r|} (or {@code a == r}, which also lets equal infinities pass);
 * NaN is never close. A failure is one {@link AssertionError} that names the worst element, what
 * it held and what was expected, and the tolerances.
 */
public final class Close {
    private Close() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    /** How far {@code a} is outside the tolerance around {@code r}: {@code <= 0} when close, +∞ for NaN. */
    private static double excess(double a, double r, double atol, double rtol) {
        if (a == r) return Double.NEGATIVE_INFINITY;
        double e = Math.abs(a - r) - (atol + rtol * Math.abs(r));
        return Double.isNaN(e) ? Double.POSITIVE_INFINITY : e;
    }

    /** The first {@code n} floats of {@code actual} against {@code expected}. */
    public static void assertClose(String what, MemorySegment actual, MemorySegment expected, long n, double atol, double rtol) {
        assertClose(what, actual, expected, 1, n, n, atol, rtol);
    }

    /** Every float of {@code expected} (its whole byte size) against {@code actual}. */
    public static void assertClose(String what, MemorySegment actual, MemorySegment expected, double atol, double rtol) {
        assertClose(what, actual, expected, expected.byteSize() / Float.BYTES, atol, rtol);
    }

    /**
     * A {@code rows × cols} matrix with leading dimension {@code ld} (elements between rows): only
     * the {@code cols} used floats of each row are compared; a failure names the row and column.
     */
    public static void assertClose(String what, MemorySegment actual, MemorySegment expected, long rows, long cols, long ld,
                                   double atol, double rtol) {
        double worst = 0;
        long worstAt = -1;
        for (long i = 0; i < rows; i++) {
            for (long j = 0; j < cols; j++) {
                long at = i * ld + j;
                double e = excess(actual.getAtIndex(FL, at), expected.getAtIndex(FL, at), atol, rtol);
                if (e > worst) {
                    worst = e;
                    worstAt = at;
                }
            }
        }
        if (worstAt >= 0) {
            String where = rows == 1 ? "index " + worstAt : "[" + worstAt / ld + "," + worstAt % ld + "]";
            throw new AssertionError(what + ": worst at " + where + ": got " + actual.getAtIndex(FL, worstAt) + ", expected "
                    + expected.getAtIndex(FL, worstAt) + " (atol " + atol + ", rtol " + rtol + ", " + rows * cols + " compared)");
        }
    }

    /** Floats {@code [0, n)} of {@code actual} against {@code expected[from + i]}. */
    public static void assertClose(String what, MemorySegment actual, double[] expected, int from, long n, double atol, double rtol) {
        double worst = 0;
        long worstAt = -1;
        for (long i = 0; i < n; i++) {
            double e = excess(actual.getAtIndex(FL, i), expected[(int) (from + i)], atol, rtol);
            if (e > worst) {
                worst = e;
                worstAt = i;
            }
        }
        if (worstAt >= 0) {
            throw new AssertionError(what + ": worst at index " + worstAt + ": got " + actual.getAtIndex(FL, worstAt) + ", expected "
                    + expected[(int) (from + worstAt)] + " (atol " + atol + ", rtol " + rtol + ", " + n + " compared)");
        }
    }
}
