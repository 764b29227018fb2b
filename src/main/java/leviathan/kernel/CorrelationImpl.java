package leviathan.kernel;

import java.lang.foreign.MemorySegment;

/**
 * One implementation of multi-head correlation (LEVIATHAN.md, "Multi-head correlation") for one
 * (sequence b, head h) at a time: the contract the scalar reference, the direct SIMD kernel, the
 * lag-expanded GEMM path and the FFT path all implement. {@link CorrelationDriver} runs an
 * implementation over every (b, h) in parallel and reduces the lag-bias gradient over the batch in
 * a fixed order, so an implementation only says how one head is computed.
 *
 * <p>Layouts as in {@link Correlation}: {@code qkv (B,T,3C)}, {@code out (B,T,C)}, {@code lse
 * (B,H,T)}, {@code lagBias (H,N)} or null (dot attention). A head touches only its own columns
 * ({@code h·D..h·D+D-1} of each block) of sequence b, and its own row {@code (b,h)} of lse, so heads
 * run concurrently without locks. C, H and N are fixed when the implementation is made.
 *
 * @param <W> one thread's scratch: buffers sized for sequences of up to {@code maxT} tokens
 */
public interface CorrelationImpl<W> extends AutoCloseable {

    /** New scratch for one kernel thread, for sequences of up to {@code maxT} tokens. */
    W scratch(int maxT);

    /**
     * Forward of head h of sequence b, query rows {@code [t0, T)}: writes those rows of {@code out}
     * (this head's D columns) and of {@code lse}; rows below t0 are left as they are.
     */
    void forwardHead(W w, MemorySegment out, MemorySegment lse, MemorySegment qkv, MemorySegment lagBias,
                     int b, int h, int T, int t0);

    /**
     * Backward of head h of sequence b: adds into this head's columns of {@code dqkv}, and writes
     * (not adds) this head's lag-bias gradient {@code Σ_i Σ_{j<=i} g_s[i,j,t]} to
     * {@code dbias[at + t]}, t < N (written even when {@code lagBias} is null; the driver then
     * ignores it).
     */
    void backwardHead(W w, float[] dbias, int at, MemorySegment dqkv, MemorySegment dout, MemorySegment out,
                      MemorySegment lse, MemorySegment qkv, MemorySegment lagBias, int b, int h, int T);

    /**
     * {@link #forwardHead} with the mixer's weights dropped by {@code drop} before they mix the
     * values (LEVIATHAN.md, dropout), or none when {@code drop} is null. Element {@code (b, h, i, j, t)}
     * of the weights is numbered {@link Correlation#dropIndex}. Only the scalar reference and the
     * direct kernel implement it; the others refuse a mask.
     */
    default void forwardHead(W w, Dropout.Mask drop, MemorySegment out, MemorySegment lse, MemorySegment qkv, MemorySegment lagBias,
                             int b, int h, int T, int t0) {
        if (drop != null) throw new UnsupportedOperationException(getClass().getSimpleName() + " does not drop attention weights");
        forwardHead(w, out, lse, qkv, lagBias, b, h, T, t0);
    }

    /** {@link #backwardHead} through the weights {@code drop} dropped in the forward. */
    default void backwardHead(W w, Dropout.Mask drop, float[] dbias, int at, MemorySegment dqkv, MemorySegment dout, MemorySegment out,
                              MemorySegment lse, MemorySegment qkv, MemorySegment lagBias, int b, int h, int T) {
        if (drop != null) throw new UnsupportedOperationException(getClass().getSimpleName() + " does not drop attention weights");
        backwardHead(w, dbias, at, dqkv, dout, out, lse, qkv, lagBias, b, h, T);
    }

    /** Whether {@link #forwardHead(Object, Dropout.Mask, MemorySegment, MemorySegment, MemorySegment, MemorySegment, int, int, int, int)} takes a mask. */
    default boolean dropsWeights() { return false; }

    /** Frees what the implementation holds outside the heap (nothing, by default). */
    @Override
    default void close() { }
}
