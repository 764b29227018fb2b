package leviathan.kernel;

import static leviathan.kernel.Simd.F;
import static leviathan.kernel.Simd.NATIVE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.DoubleVector;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorOperators;
import jdk.incubator.vector.VectorSpecies;

/**
 * The global gradient norm for clipping: the sum of squares of a flat float range, accumulated in
 * double. The range is cut into {@link Elementwise#BLOCK}-float blocks; each block's partial sum
 * is computed in a fixed order (two double accumulators of half a float vector each, then their
 * lanes in index order) and the partials are added in block order, so the result is the same for
 * any thread count. The scalar reference adds the squares one by one in index order; the two
 * agree to double rounding (about 1e-16 relative per addition), far below float precision.
 */
public final class Clip {
    private Clip() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;
    private static final VectorSpecies<Double> D = VectorSpecies.of(double.class, F.vectorShape());

    /** Partial sums {@link #sumOfSquares} needs for {@code n} floats (one per block). */
    public static int partials(long n) { return Math.toIntExact(Math.max(1, (n + Elementwise.BLOCK - 1) / Elementwise.BLOCK)); }

    /**
     * Sum of {@code x[i]²} over {@code [0, n)} in double; {@code partials} is scratch of at least
     * {@link #partials(long)} doubles (kept by the caller, so that a call allocates nothing).
     */
    public static double sumOfSquares(MemorySegment x, long n, double[] partials) {
        int blocks = partials(n);
        if (partials.length < blocks) throw new IllegalArgumentException("need " + blocks + " partials, got " + partials.length);
        if (n <= Elementwise.BLOCK) {
            partials[0] = blockSum(x, 0, n);
        } else {
            Sums k = SUMS.get();                                   // reused: a call allocates nothing
            k.x = x;
            k.n = n;
            k.partials = partials;
            Parallel.forRange(blocks, Elementwise.grain(Elementwise.LIGHT_TASK, Elementwise.BLOCK), k);
            k.x = null;
            k.partials = null;
        }
        double s = 0;
        for (int b = 0; b < blocks; b++) s += partials[b];
        return s;
    }

    /** Blocks {@code [b0, b1)}: each block's partial sum into its own slot. */
    private static final class Sums extends Parallel.Task {
        MemorySegment x;
        long n;
        double[] partials;

        @Override
        public void run(int b0, int b1) {
            for (int b = b0; b < b1; b++) partials[b] = blockSum(x, b * (long) Elementwise.BLOCK, Math.min(n, (b + 1) * (long) Elementwise.BLOCK));
        }
    }

    private static final Parallel.Tasks<Sums> SUMS = new Parallel.Tasks<>(Sums::new);

    private static final class Scale extends Elementwise.Blocks {
        MemorySegment x;
        float s;

        @Override
        void range(long from, long to) { scaleRange(x, from, to, s); }
    }

    private static final Parallel.Tasks<Scale> SCALE = new Parallel.Tasks<>(Scale::new);

    /** One block's sum of squares, in the fixed order described above. */
    static double blockSum(MemorySegment x, long from, long to) {
        long i = from;
        double s = 0;
        if (Simd.ENABLED && F.length() >= 2) {
            var a0 = DoubleVector.zero(D);
            var a1 = DoubleVector.zero(D);
            for (long bound = from + F.loopBound(to - from); i < bound; i += F.length()) {
                var v = FloatVector.fromMemorySegment(F, x, i * Float.BYTES, NATIVE);
                var lo = (DoubleVector) v.convertShape(VectorOperators.F2D, D, 0);
                var hi = (DoubleVector) v.convertShape(VectorOperators.F2D, D, 1);
                a0 = lo.fma(lo, a0);
                a1 = hi.fma(hi, a1);
            }
            var a = a0.add(a1);
            for (int l = 0; l < D.length(); l++) s += a.lane(l);
        }
        for (; i < to; i++) {
            double v = x.getAtIndex(FL, i);
            s += v * v;
        }
        return s;
    }

    /** The reference: {@code Σ x[i]²} over {@code [0, n)}, added one by one in index order, in double. */
    public static double sumOfSquaresScalar(MemorySegment x, long n) {
        double s = 0;
        for (long i = 0; i < n; i++) {
            double v = x.getAtIndex(FL, i);
            s += v * v;
        }
        return s;
    }

    /** {@code x[i] *= s} over {@code [0, n)} (the same float product as the scalar loop, so bit-identical to it). */
    public static void scale(MemorySegment x, long n, float s) {
        Scale k = SCALE.get();
        k.x = x;
        k.s = s;
        Elementwise.forBlocks(0, n, Elementwise.LIGHT_TASK, k);
    }

    static void scaleRange(MemorySegment x, long from, long to, float s) {
        long i = from;
        if (Simd.ENABLED) {
            for (long bound = from + F.loopBound(to - from); i < bound; i += F.length()) {
                long off = i * Float.BYTES;
                FloatVector.fromMemorySegment(F, x, off, NATIVE).mul(s).intoMemorySegment(x, off, NATIVE);
            }
        }
        scaleScalar(x, i, to, s);
    }

    /** The reference of {@link #scale}, elements {@code [from, to)}. */
    public static void scaleScalar(MemorySegment x, long from, long to, float s) {
        for (long i = from; i < to; i++) x.setAtIndex(FL, i, x.getAtIndex(FL, i) * s);
    }
}
