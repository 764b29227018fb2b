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

    /** Floats per parallel task: smaller row blocks cost more to hand out than they save. */
    static final int GRAIN_FLOATS = 1 << 14;

    /** {@code out} may alias {@code in}. */
    public static void forward(MemorySegment out, MemorySegment in, int rows, int cols, int causalT) {
        if (!Simd.ENABLED) {
            forwardScalar(out, in, rows, cols, causalT);
            return;
        }
        int grain = Math.max(1, GRAIN_FLOATS / Math.max(1, cols));
        Parallel.forRange(rows, grain, (r0, r1) -> {
            for (int r = r0; r < r1; r++) {
                int len = causalT > 0 ? Math.min(cols, r % causalT + 1) : cols;
                forwardRow(out, in, (long) r * cols, len, cols);
            }
        });
    }

    /** Softmax of the {@code len} floats at float index {@code base} into {@code out}, zeros in {@code [len, cols)}. */
    static void forwardRow(MemorySegment out, MemorySegment in, long base, int len, int cols) {
        float max = rowMax(in, base, len);                                         // pass 1: max
        float sum = expSum(out, in, base, len, max);                               // pass 2: exp and sum
        scale(out, base, len, 1f / sum);                                           // pass 3: normalise
        if (len < cols) {                                                          // the masked (future) part
            out.asSlice((base + len) * Float.BYTES, (long) (cols - len) * Float.BYTES).fill((byte) 0);
        }
    }

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
        float max = vmax.reduceLanes(MAX);
        for (; c < len; c++) max = Math.max(max, in.getAtIndex(FL, base + c));
        return max;
    }

    /** {@code out[i] = exp(in[i] - max)} over {@code len} floats at {@code base}; returns their sum. */
    static float expSum(MemorySegment out, MemorySegment in, long base, int len, float max) {
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
        float sum = VectorMath.sum(vsum);
        for (; c < len; c++) {
            float e = (float) Math.exp(in.getAtIndex(FL, base + c) - max);
            out.setAtIndex(FL, base + c, e);
            sum += e;
        }
        return sum;
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
        for (; c < len; c++) out.setAtIndex(FL, base + c, out.getAtIndex(FL, base + c) * factor);
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
