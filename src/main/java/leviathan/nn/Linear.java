package leviathan.nn;

import java.lang.foreign.MemorySegment;
import leviathan.backend.Backend;
import leviathan.kernel.Bias;

/**
 * A linear layer with weights in the {@code [out, in]} layout: {@code out = in·Wᵀ + b}.
 * Shapes: in {@code (rows, inDim)}, out {@code (rows, outDim)}, W {@code (outDim, inDim)}, b {@code (outDim)}.
 */
public final class Linear {
    private Linear() {}

    public static void forward(Backend backend, MemorySegment out, MemorySegment in, MemorySegment weight,
                               MemorySegment bias, int rows, int inDim, int outDim) {
        forward(backend, out, in, weight, bias, 0, rows, inDim, outDim);
    }

    /**
     * Rows {@code [from, to)} of {@code out} from the same rows of {@code in} (the new rows of
     * incremental decoding), without slicing either.
     */
    public static void forward(Backend backend, MemorySegment out, MemorySegment in, MemorySegment weight,
                               MemorySegment bias, int from, int to, int inDim, int outDim) {
        backend.sgemm(false, true, to - from, outDim, inDim, 1f, in, (long) from * inDim, inDim, weight, 0, inDim,
                0f, out, (long) from * outDim, outDim);
        if (bias != null) Bias.forward(out, bias, from, to, outDim);
    }

    /** Adds {@code din += dout·W}, {@code dW += doutᵀ·in}, {@code db += Σ_rows dout}; din may be null. */
    public static void backward(Backend backend, MemorySegment din, MemorySegment dweight, MemorySegment dbias,
                                MemorySegment dout, MemorySegment in, MemorySegment weight,
                                int rows, int inDim, int outDim) {
        if (din != null) backend.sgemm(false, false, rows, inDim, outDim, 1f, dout, outDim, weight, inDim, 1f, din, inDim);
        backend.sgemm(true, false, outDim, inDim, rows, 1f, dout, outDim, in, inDim, 1f, dweight, inDim);
        if (dbias != null) Bias.backward(dbias, dout, rows, outDim);
    }
}
