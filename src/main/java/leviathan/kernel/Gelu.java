package leviathan.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/** GELU, tanh form: {@code 0.5x(1 + tanh(sqrt(2/pi)(x + 0.044715x³)))}, elementwise over n floats. */
public final class Gelu {
    private Gelu() {}

    static final float SCALE = (float) Math.sqrt(2.0 / Math.PI);
    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    public static void forward(MemorySegment out, MemorySegment in, long n) {
        forwardScalar(out, in, 0, n);
    }

    /** Elements {@code [from, n)}. */
    public static void forwardScalar(MemorySegment out, MemorySegment in, long from, long n) {
        for (long i = from; i < n; i++) {
            float x = in.getAtIndex(FL, i);
            float u = SCALE * (x + 0.044715f * x * x * x);
            out.setAtIndex(FL, i, 0.5f * x * (1f + (float) Math.tanh(u)));
        }
    }

    /**
     * {@code din += dout·gelu'(x)} with
     * {@code gelu'(x) = 0.5(1 + tanh u) + 0.5x(1 - tanh²u)·sqrt(2/pi)(1 + 3·0.044715x²)}.
     */
    public static void backward(MemorySegment din, MemorySegment in, MemorySegment dout, long n) {
        backwardScalar(din, in, dout, 0, n);
    }

    public static void backwardScalar(MemorySegment din, MemorySegment in, MemorySegment dout, long from, long n) {
        for (long i = from; i < n; i++) {
            float x = in.getAtIndex(FL, i);
            float u = SCALE * (x + 0.044715f * x * x * x);
            float th = (float) Math.tanh(u);
            float grad = 0.5f * (1f + th) + 0.5f * x * (1f - th * th) * SCALE * (1f + 3f * 0.044715f * x * x);
            din.setAtIndex(FL, i, din.getAtIndex(FL, i) + dout.getAtIndex(FL, i) * grad);
        }
    }
}
