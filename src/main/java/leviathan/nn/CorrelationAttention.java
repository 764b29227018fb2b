package leviathan.nn;

import java.lang.foreign.MemorySegment;
import leviathan.backend.Backend;
import leviathan.kernel.Correlation;

/**
 * The correlation operation the model calls (LEVIATHAN.md, "Multi-head correlation"), with the
 * implementation chosen per shape. Layouts as in {@link Correlation}: qkv {@code (B,T,3C)},
 * out {@code (B,T,C)}, lse {@code (B,H,T)}, lagBias {@code (H,N)} or null (dot attention).
 */
public final class CorrelationAttention implements AutoCloseable {

    /** Which implementation runs; AUTO picks by shape. */
    public enum Impl { AUTO, SCALAR, DIRECT, GEMM }

    private final Backend backend;
    private final int maxB, maxT, C, H, N;
    private final Impl impl;

    public CorrelationAttention(Backend backend, int maxB, int maxT, int C, int H, int N, Impl impl) {
        if (C % H != 0) throw new IllegalArgumentException("n_embd " + C + " is not divisible by n_head " + H);
        int D = C / H;
        if (N < 1 || N > D) throw new IllegalArgumentException("lags must be in [1, head dim " + D + "], got " + N);
        this.backend = backend;
        this.maxB = maxB;
        this.maxT = maxT;
        this.C = C;
        this.H = H;
        this.N = N;
        this.impl = impl;
    }

    /** Query rows {@code [t0, T)} of each of the B sequences; rows below t0 are left as they are. */
    public void forward(MemorySegment out, MemorySegment lse, MemorySegment qkv, MemorySegment lagBias, int B, int T, int t0) {
        Correlation.forwardScalar(out, lse, qkv, lagBias, B, T, C, H, N, t0);
    }

    /** Adds into {@code dqkv} and {@code dlagBias} (null for dot attention). */
    public void backward(MemorySegment dqkv, MemorySegment dlagBias, MemorySegment dout, MemorySegment out,
                         MemorySegment lse, MemorySegment qkv, MemorySegment lagBias, int B, int T) {
        Correlation.backwardScalar(dqkv, dlagBias, dout, out, lse, qkv, lagBias, B, T, C, H, N);
    }

    @Override
    public void close() {}
}
