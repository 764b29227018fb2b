package leviathan.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** Bias of a linear layer: {@code out[r,c] += bias[c]}; backward {@code dbias[c] += Σ_r dout[r,c]}. */
public final class Bias {
    private Bias() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    public static void forward(MemorySegment out, MemorySegment bias, int rows, int cols) {
        forwardScalar(out, bias, rows, cols);
    }

    public static void forwardScalar(MemorySegment out, MemorySegment bias, int rows, int cols) {
        for (int r = 0; r < rows; r++) {
            long base = (long) r * cols;
            for (int c = 0; c < cols; c++) out.setAtIndex(FL, base + c, out.getAtIndex(FL, base + c) + bias.getAtIndex(FL, c));
        }
    }

    public static void backward(MemorySegment dbias, MemorySegment dout, int rows, int cols) {
        backwardScalar(dbias, dout, rows, cols);
    }

    public static void backwardScalar(MemorySegment dbias, MemorySegment dout, int rows, int cols) {
        for (int r = 0; r < rows; r++) {
            long base = (long) r * cols;
            for (int c = 0; c < cols; c++) dbias.setAtIndex(FL, c, dbias.getAtIndex(FL, c) + dout.getAtIndex(FL, base + c));
        }
    }
}
