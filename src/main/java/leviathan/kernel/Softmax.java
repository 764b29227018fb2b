package leviathan.kernel;

import static jdk.incubator.vector.VectorOperators.MAX;
import static leviathan.kernel.Simd.F;
import static leviathan.kernel.Simd.NATIVE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;

/**
 * Row softmax, max-subtracted. With {@code causalT > 0}, row {@code r} covers only its first
 * {@code (r mod causalT) + 1} entries and the rest of the row is written as 0 (a causal mask);
 * with {@code causalT == 0} every row is full. Shapes: in/out {@code (rows, cols)}.
 * The vector path runs rows in parallel; each row is computed the same way on any thread.
 */
public final class Softmax {
    private Softmax() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    /** {@code out} may alias {@code in}. */
    public static void forward(MemorySegment out, MemorySegment in, int rows, int cols, int causalT) {
        if (!Simd.ENABLED) {
            forwardScalar(out, in, rows, cols, causalT);
            return;
        }
        Forward k = FORWARD.get();
        k.out = out; k.in = in; k.cols = cols; k.causalT = causalT;
        Parallel.forRange(rows, Elementwise.grain(Elementwise.EXP_TASK, cols), k);
    }

    private static final class Forward extends Parallel.Task {
        MemorySegment out, in;
        int cols, causalT;

        @Override
        public void run(int r0, int r1) {
            float[] lanes = VectorMath.lanes();
            for (int r = r0; r < r1; r++) {
                int len = causalT > 0 ? Math.min(cols, r % causalT + 1) : cols;
                forwardRow(out, in, (long) r * cols, len, cols, lanes);
            }
        }
    }

    private static final Parallel.Tasks<Forward> FORWARD = new Parallel.Tasks<>(Forward::new);

    /** Softmax of the {@code len} floats at float index {@code base} into {@code out}, zeros in {@code [len, cols)}. */
    static void forwardRow(MemorySegment out, MemorySegment in, long base, int len, int cols, float[] lanes) {
        float max = rowMax(in, base, len);                                         // pass 1: max
        float sum = expSum(out, in, base, len, max, lanes);                        // pass 2: exp and sum
        scale(out, base, len, 1f / sum);                                           // pass 3: normalise
        zero(out, base, len, cols);                                                // the masked (future) part
    }

    /** {@code out[base + c] = 0} for c in {@code [from, to)}: vector stores, the last one masked. */
    static void zero(MemorySegment out, long base, int from, int to) {
        var zero = FloatVector.zero(F);
        int c = from;
        for (; c + F.length() <= to; c += F.length()) zero.intoMemorySegment(out, (base + c) * Float.BYTES, NATIVE);
        if (c < to) zero.intoMemorySegment(out, (base + c) * Float.BYTES, NATIVE, F.indexInRange(c, to));
    }

    // The row passes below end with one masked vector rather than a scalar loop: causal rows are
    // short (a row of T = 64 has 32.5 entries on average, a quarter of them in a 16-lane tail), and
    // scalar Math.exp on the tails held the whole softmax to ~2× the reference. Lanes outside the
    // mask are neither read nor written. (Masking every iteration instead measured ~30% slower.)

    /**
     * Max of {@code len} floats at {@code base}. Starts at -inf, so the result is a true element of
     * the row: then {@code exp(x - max) <= 1} and the max itself gives 1, so the sum is at least 1.
     */
    static float rowMax(MemorySegment in, long base, int len) {
        long row = base * Float.BYTES;
        int L = F.length(), bound = F.loopBound(len);
        var vmax = FloatVector.broadcast(F, Float.NEGATIVE_INFINITY);
        int c = 0;
        for (; c < bound; c += L) vmax = vmax.max(FloatVector.fromMemorySegment(F, in, row + (long) c * Float.BYTES, NATIVE));
        if (c < len) {
            var m = F.indexInRange(c, len);
            vmax = vmax.lanewise(MAX, FloatVector.fromMemorySegment(F, in, row + (long) c * Float.BYTES, NATIVE, m), m);
        }
        return vmax.reduceLanes(MAX);                      // exact in any order
    }

    /**
     * {@code out[i] = exp(in[i] - max)} over {@code len} floats at {@code base}; returns their sum.
     * {@code lanes} is one vector of scratch ({@link VectorMath#lanes}): with two inlined exps this
     * method is too big for C2 to inline the lane sum as well, so the accumulator goes through it.
     */
    static float expSum(MemorySegment out, MemorySegment in, long base, int len, float max, float[] lanes) {
        long row = base * Float.BYTES;
        int L = F.length(), bound = F.loopBound(len);
        var vsum = FloatVector.zero(F);
        int c = 0;
        for (; c < bound; c += L) {
            long off = row + (long) c * Float.BYTES;
            var e = VectorMath.exp(FloatVector.fromMemorySegment(F, in, off, NATIVE).sub(max));
            e.intoMemorySegment(out, off, NATIVE);
            vsum = vsum.add(e);
        }
        if (c < len) {
            long off = row + (long) c * Float.BYTES;
            var m = F.indexInRange(c, len);
            var e = VectorMath.exp(FloatVector.fromMemorySegment(F, in, off, NATIVE, m).sub(max));
            e.intoMemorySegment(out, off, NATIVE, m);
            vsum = vsum.add(e, m);
        }
        vsum.intoArray(lanes, 0);
        return VectorMath.sum(lanes, 0);
    }

    /** {@code out[i] *= factor} over {@code len} floats at {@code base}. */
    static void scale(MemorySegment out, long base, int len, float factor) {
        long row = base * Float.BYTES;
        int L = F.length(), bound = F.loopBound(len);
        int c = 0;
        for (; c < bound; c += L) {
            long off = row + (long) c * Float.BYTES;
            FloatVector.fromMemorySegment(F, out, off, NATIVE).mul(factor).intoMemorySegment(out, off, NATIVE);
        }
        if (c < len) {
            long off = row + (long) c * Float.BYTES;
            var m = F.indexInRange(c, len);
            FloatVector.fromMemorySegment(F, out, off, NATIVE, m).mul(factor).intoMemorySegment(out, off, NATIVE, m);
        }
    }

    public static void forwardScalar(MemorySegment out, MemorySegment in, int rows, int cols, int causalT) {
        for (int r = 0; r < rows; r++) {
            long base = (long) r * cols;
            int len = causalT > 0 ? Math.min(cols, r % causalT + 1) : cols;
            float max = Float.NEGATIVE_INFINITY;                    // pass 1: max
            for (int c = 0; c < len; c++) max = Math.max(max, in.getAtIndex(FL, base + c));
            float sum = 0f;                                         // pass 2: exp and sum
            for (int c = 0; c < len; c++) {
                float e = (float) Math.exp(in.getAtIndex(FL, base + c) - max);
                out.setAtIndex(FL, base + c, e);
                sum += e;
            }
            float inv = 1f / sum;                                   // pass 3: normalise
            for (int c = 0; c < len; c++) out.setAtIndex(FL, base + c, out.getAtIndex(FL, base + c) * inv);
            for (int c = len; c < cols; c++) out.setAtIndex(FL, base + c, 0f);
        }
    }
}
