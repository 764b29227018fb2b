package leviathan.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Row softmax, max-subtracted. With {@code causalT > 0}, row {@code r} covers only its first
 * {@code (r mod causalT) + 1} entries and the rest of the row is written as 0 (a causal mask);
 * with {@code causalT == 0} every row is full. Shapes: in/out {@code (rows, cols)}.
 */
public final class Softmax {
    private Softmax() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    public static void forward(MemorySegment out, MemorySegment in, int rows, int cols, int causalT) {
        forwardScalar(out, in, rows, cols, causalT);
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
