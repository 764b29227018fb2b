package leviathan.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * Runs a {@link CorrelationImpl} over every (sequence, head) of a batch: the one parallel driver
 * and the one lag-bias reduction of every correlation implementation.
 *
 * <p>The {@code B·H} heads are split into {@code parts = min(threads, B·H)} contiguous ranges, part
 * p taking heads {@code [B·H·p/parts, B·H·(p+1)/parts)} with its own scratch. Each head is computed
 * the same way whatever the thread count, and the lag bias (shared by the batch) gets its gradient
 * from {@link #reduceLagBias}, which sums the per-sequence gradients over b in a fixed order: results
 * are bitwise the same for any number of threads.
 *
 * <p>Scratch (one per part) is made on first need and kept, so steady-state calls allocate nothing.
 *
 * @param <W> the implementation's per-thread scratch
 */
public final class CorrelationDriver<W> implements AutoCloseable {

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    private final CorrelationImpl<W> impl;
    private final int maxB, maxT, H, N;
    /** {@code (maxB, H, N)}: the lag-bias gradient of each sequence and head, before the reduction over b. */
    private final float[] gb;
    private Object[] parts = new Object[0];

    /** Drives {@code impl} (made for H heads and N lags) on batches of up to {@code maxB × maxT}. */
    public CorrelationDriver(CorrelationImpl<W> impl, int maxB, int maxT, int H, int N) {
        if (maxB < 1 || maxT < 1) throw new IllegalArgumentException("maxB and maxT must be >= 1, got " + maxB + ", " + maxT);
        if (H < 1 || N < 1) throw new IllegalArgumentException("heads and lags must be >= 1, got " + H + ", " + N);
        this.impl = impl;
        this.maxB = maxB;
        this.maxT = maxT;
        this.H = H;
        this.N = N;
        this.gb = new float[maxB * H * N];
    }

    /** Query rows {@code [t0, T)} of each of the B sequences; rows below t0 are left as they are. */
    public void forward(MemorySegment out, MemorySegment lse, MemorySegment qkv, MemorySegment lagBias, int B, int T, int t0) {
        forward(null, out, lse, qkv, lagBias, B, T, t0);
    }

    /** {@link #forward} with the weights dropped by {@code drop} (null: none). */
    public void forward(Dropout.Mask drop, MemorySegment out, MemorySegment lse, MemorySegment qkv, MemorySegment lagBias, int B, int T, int t0) {
        check(B, T);
        if (t0 < 0 || t0 > T) throw new IllegalArgumentException("t0 " + t0 + " outside [0, " + T + "]");
        if (t0 == T) return;
        int heads = B * H, parts = ensureParts(heads);
        Heads k = forwardTask;
        k.drop = drop;
        k.heads = heads;
        k.parts = parts;
        k.out = out;
        k.lse = lse;
        k.qkv = qkv;
        k.lagBias = lagBias;
        k.T = T;
        k.t0 = t0;
        Parallel.forRange(parts, 1, k);
    }

    /** Adds into {@code dqkv} and (when not null) {@code dlagBias}. */
    public void backward(MemorySegment dqkv, MemorySegment dlagBias, MemorySegment dout, MemorySegment out,
                         MemorySegment lse, MemorySegment qkv, MemorySegment lagBias, int B, int T) {
        backward(null, dqkv, dlagBias, dout, out, lse, qkv, lagBias, B, T);
    }

    /** {@link #backward} through the weights {@code drop} dropped in the forward (null: none). */
    public void backward(Dropout.Mask drop, MemorySegment dqkv, MemorySegment dlagBias, MemorySegment dout, MemorySegment out,
                         MemorySegment lse, MemorySegment qkv, MemorySegment lagBias, int B, int T) {
        check(B, T);
        int heads = B * H, parts = ensureParts(heads);
        Heads k = backwardTask;
        k.drop = drop;
        k.heads = heads;
        k.parts = parts;
        k.dqkv = dqkv;
        k.dout = dout;
        k.out = out;
        k.lse = lse;
        k.qkv = qkv;
        k.lagBias = lagBias;
        k.T = T;
        Parallel.forRange(parts, 1, k);
        if (dlagBias != null) reduceLagBias(dlagBias, gb, B, H, N);
    }

    /**
     * The arguments of one forward or backward call, set before each (this driver is not
     * thread-safe, like the workspace that owns it): one object per direction, made with the
     * driver, so a call allocates nothing. Part p takes heads {@code [heads·p/parts, heads·(p+1)/parts)}.
     * The forward reads {@code t0} and no gradients; the backward reads {@code dqkv} and {@code dout}.
     */
    private final class Heads extends Parallel.Task {
        private final boolean backward;
        private int heads, parts, T, t0;
        private MemorySegment dqkv, dout, out, lse, qkv, lagBias;
        private Dropout.Mask drop;

        Heads(boolean backward) { this.backward = backward; }

        @Override
        public void run(int p0, int p1) {
            for (int p = p0; p < p1; p++) {
                W w = part(p);
                for (int bh = heads * p / parts, end = heads * (p + 1) / parts; bh < end; bh++) {
                    if (backward) impl.backwardHead(w, drop, gb, bh * N, dqkv, dout, out, lse, qkv, lagBias, bh / H, bh % H, T);
                    else impl.forwardHead(w, drop, out, lse, qkv, lagBias, bh / H, bh % H, T, t0);
                }
            }
        }
    }

    private final Heads forwardTask = new Heads(false), backwardTask = new Heads(true);

    /**
     * {@code dlagBias[h,t] += Σ_b perSequence[(b·H + h)·N + t]}, the sum taken over b = 0, 1, ...
     * in that order from 0: b is shared by the batch, and a fixed order keeps the result
     * independent of how the heads were split over threads.
     */
    public static void reduceLagBias(MemorySegment dlagBias, float[] perSequence, int B, int H, int N) {
        for (int h = 0; h < H; h++) {
            for (int t = 0; t < N; t++) {
                float sum = 0f;
                for (int b = 0; b < B; b++) sum += perSequence[(b * H + h) * N + t];
                long i = (long) h * N + t;
                dlagBias.setAtIndex(FL, i, dlagBias.getAtIndex(FL, i) + sum);
            }
        }
    }

    private void check(int B, int T) {
        if (B < 1 || B > maxB) throw new IllegalArgumentException("batch " + B + " outside [1, " + maxB + "]");
        if (T < 1 || T > maxT) throw new IllegalArgumentException("sequence length " + T + " outside [1, " + maxT + "]");
    }

    /** Makes sure the scratch of {@code min(threads, heads)} parts exists; returns that count. */
    private synchronized int ensureParts(int heads) {
        int n = Math.min(Parallel.threads(), heads);
        if (parts.length < n) {
            Object[] grown = Arrays.copyOf(parts, n);
            for (int p = parts.length; p < n; p++) grown[p] = impl.scratch(maxT);
            parts = grown;
        }
        return n;
    }

    @SuppressWarnings("unchecked")
    private W part(int p) { return (W) parts[p]; }

    /** Closes the implementation (its native buffers, if any). */
    @Override
    public synchronized void close() {
        impl.close();
        parts = new Object[0];
    }
}
