package leviathan.kernel;

import static leviathan.kernel.Simd.F;
import static leviathan.kernel.Simd.NATIVE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;

/**
 * Bias of a linear layer: {@code out[r,c] += bias[c]}; backward {@code dbias[c] += Σ_r dout[r,c]}.
 * Shapes: out/dout {@code (rows, cols)}, bias/dbias {@code (cols)}.
 */
public final class Bias {
    private Bias() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    /** Vector path parallel over rows. */
    public static void forward(MemorySegment out, MemorySegment bias, int rows, int cols) {
        forward(out, bias, 0, rows, cols);
    }

    /** {@link #forward(MemorySegment, MemorySegment, int, int)} on rows {@code [from, to)} of {@code out}. */
    public static void forward(MemorySegment out, MemorySegment bias, int from, int to, int cols) {
        if (!Simd.ENABLED) {
            forwardScalar(out, bias, from, to, cols);
            return;
        }
        Forward k = FORWARD.get();
        k.out = out;
        k.bias = bias;
        k.cols = cols;
        Elementwise.forRows(from, to, Elementwise.grain(Elementwise.LIGHT_TASK, cols), k);
    }

    private static final class Forward extends Elementwise.Rows {
        MemorySegment out, bias;
        int cols;

        @Override
        void rows(int r0, int r1) { forwardRows(out, bias, r0, r1, cols); }
    }

    private static final Parallel.Tasks<Forward> FORWARD = new Parallel.Tasks<>(Forward::new);

    private static void forwardRows(MemorySegment out, MemorySegment bias, int r0, int r1, int cols) {
        int L = F.length(), bound = F.loopBound(cols);
        for (int r = r0; r < r1; r++) {
            long base = (long) r * cols;
            int c = 0;
            for (; c < bound; c += L) {
                long off = (base + c) * Float.BYTES;
                FloatVector.fromMemorySegment(F, out, off, NATIVE)
                        .add(FloatVector.fromMemorySegment(F, bias, (long) c * Float.BYTES, NATIVE))
                        .intoMemorySegment(out, off, NATIVE);
            }
            for (; c < cols; c++) out.setAtIndex(FL, base + c, out.getAtIndex(FL, base + c) + bias.getAtIndex(FL, c));
        }
    }

    public static void forwardScalar(MemorySegment out, MemorySegment bias, int rows, int cols) {
        forwardScalar(out, bias, 0, rows, cols);
    }

    private static void forwardScalar(MemorySegment out, MemorySegment bias, int from, int to, int cols) {
        for (int r = from; r < to; r++) {
            long base = (long) r * cols;
            for (int c = 0; c < cols; c++) out.setAtIndex(FL, base + c, out.getAtIndex(FL, base + c) + bias.getAtIndex(FL, c));
        }
    }

    /**
     * Column sums, split over channel blocks: each thread owns some columns of {@code dbias} and
     * adds the rows in order, so threads never share a float and the sums are taken in the scalar
     * reference's order (equal to it exactly, for any thread count).
     */
    public static void backward(MemorySegment dbias, MemorySegment dout, int rows, int cols) {
        backward(dbias, dout, 0, rows, cols);
    }

    /** {@link #backward(MemorySegment, MemorySegment, int, int)} over rows {@code [from, to)} of {@code dout}. */
    public static void backward(MemorySegment dbias, MemorySegment dout, int from, int to, int cols) {
        if (!Simd.ENABLED) {
            backwardScalar(dbias, dout, from, to, cols);
            return;
        }
        int L = F.length();
        Backward k = BACKWARD.get();
        k.dbias = dbias;
        k.dout = dout;
        k.from = from;
        k.to = to;
        k.cols = cols;
        Parallel.forRange((cols + L - 1) / L, Elementwise.grain(Elementwise.LIGHT_TASK, (long) (to - from) * L), k);
    }

    private static final class Backward extends Parallel.Task {
        MemorySegment dbias, dout;
        int from, to, cols;

        @Override
        public void run(int k0, int k1) {
            int L = F.length();
            backwardChannels(dbias, dout, from, to, cols, k0 * L, Math.min(cols, k1 * L));
        }
    }

    private static final Parallel.Tasks<Backward> BACKWARD = new Parallel.Tasks<>(Backward::new);

    /** Columns {@code [c0, c1)} over rows {@code [from, to)}: row by row, all of this task's columns at once. */
    static void backwardChannels(MemorySegment dbias, MemorySegment dout, int from, int to, int cols, int c0, int c1) {
        int L = F.length(), bound = c0 + F.loopBound(c1 - c0);
        for (int r = from; r < to; r++) {
            long base = (long) r * cols;
            int c = c0;
            for (; c < bound; c += L) {
                long off = (long) c * Float.BYTES;
                FloatVector.fromMemorySegment(F, dbias, off, NATIVE)
                        .add(FloatVector.fromMemorySegment(F, dout, (base + c) * Float.BYTES, NATIVE))
                        .intoMemorySegment(dbias, off, NATIVE);
            }
            for (; c < c1; c++) dbias.setAtIndex(FL, c, dbias.getAtIndex(FL, c) + dout.getAtIndex(FL, base + c));
        }
    }

    public static void backwardScalar(MemorySegment dbias, MemorySegment dout, int rows, int cols) {
        backwardScalar(dbias, dout, 0, rows, cols);
    }

    private static void backwardScalar(MemorySegment dbias, MemorySegment dout, int from, int to, int cols) {
        for (int r = from; r < to; r++) {
            long base = (long) r * cols;
            for (int c = 0; c < cols; c++) dbias.setAtIndex(FL, c, dbias.getAtIndex(FL, c) + dout.getAtIndex(FL, base + c));
        }
    }
}
