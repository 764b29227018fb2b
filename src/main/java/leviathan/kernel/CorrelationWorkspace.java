package leviathan.kernel;

import static leviathan.kernel.CorrelationTiles.padLanes;
import static leviathan.kernel.CorrelationTiles.padRows;

import java.lang.foreign.MemorySegment;

/**
 * The direct correlation kernel ({@link Correlation#forward}) for one shape: its
 * {@link CorrelationImpl} (block sizes and padding fixed here, the per-head work in
 * {@link Correlation}), and the {@link CorrelationDriver} that runs
 * it over a batch. Scratch is sized once for the largest call, so forward and backward allocate
 * nothing in steady state: one {@link Part} of per-thread buffers for each kernel thread, made when
 * the thread count grows.
 *
 * <p>Buffers are heap {@code float[]}: the Vector API is at its best on arrays, and a part is
 * small (1.7 MiB at T = 512, D = 64, N = 64; 150 KiB at the model's T = 64, D = 32, N = 4).
 */
public final class CorrelationWorkspace implements CorrelationImpl<CorrelationWorkspace.Part> {

    final int maxB, maxT, C, H, N, D;
    /** Head width padded to whole vectors; key count padded to whole vectors (row stride of kT, s, g). */
    final int Dp, Tp;
    /** Queries per block forward, at most per block backward, and the padded (query, lag) rows of a block. */
    final int R, RbMax, Mp;
    /** Row stride of {@code u}: room for the periodic copy {@code u[D..2D) = u[0..D)} plus a vector. */
    final int Us;
    private final CorrelationDriver<Part> driver;

    /** Sized for up to {@code maxB} sequences of up to {@code maxT} tokens, width C, H heads, N lags. */
    public CorrelationWorkspace(int maxB, int maxT, int C, int H, int N) {
        if (maxB < 1 || maxT < 1) throw new IllegalArgumentException("maxB and maxT must be >= 1, got " + maxB + ", " + maxT);
        Correlation.checkShape(C, H, N);
        int d = C / H;
        this.maxB = maxB;
        this.maxT = maxT;
        this.C = C;
        this.H = H;
        this.N = N;
        this.D = d;
        this.Dp = padLanes(d);
        this.Tp = padLanes(maxT);
        this.R = forwardQueries(N);
        this.RbMax = backwardQueries(maxT, N);
        this.Mp = padRows(Math.max(R, RbMax) * N);
        this.Us = padLanes(d + Dp);
        this.driver = new CorrelationDriver<>(this, maxB, maxT, H, N);
    }

    /** The driver that runs this kernel over a batch of up to {@code maxB × maxT}. */
    public CorrelationDriver<Part> driver() { return driver; }

    /** One thread's buffers; {@code maxT} must not exceed the workspace's (they are sized by it). */
    @Override
    public Part scratch(int maxT) {
        if (maxT > this.maxT) throw new IllegalArgumentException("scratch for T " + maxT + " > maxT " + this.maxT);
        return new Part(this);
    }

    @Override
    public void forwardHead(Part w, MemorySegment out, MemorySegment lse,
                            MemorySegment qkv, MemorySegment lagBias, int b, int h, int T, int t0) {
        Correlation.forwardHead(this, w, null, out, lse, qkv, lagBias, b, h, T, t0);
    }

    @Override
    public void forwardHead(Part w, Dropout.Mask drop, MemorySegment out, MemorySegment lse,
                            MemorySegment qkv, MemorySegment lagBias, int b, int h, int T, int t0) {
        Correlation.forwardHead(this, w, drop, out, lse, qkv, lagBias, b, h, T, t0);
    }

    @Override
    public void backwardHead(Part w, Dropout.Mask drop, float[] dbias, int at, MemorySegment dqkv, MemorySegment dout,
                             MemorySegment out, MemorySegment lse, MemorySegment qkv, MemorySegment lagBias, int b, int h, int T) {
        Correlation.backwardHead(this, w, drop, dbias, at, dqkv, dout, out, lse, qkv, lagBias, b, h, T);
    }

    @Override
    public boolean dropsWeights() { return true; }

    @Override
    public void backwardHead(Part w, float[] dbias, int at, MemorySegment dqkv, MemorySegment dout,
                             MemorySegment out, MemorySegment lse,
                             MemorySegment qkv, MemorySegment lagBias, int b, int h, int T) {
        Correlation.backwardHead(this, w, null, dbias, at, dqkv, dout, out, lse, qkv, lagBias, b, h, T);
    }

    /**
     * Queries per forward block: about 16 (query, lag) rows, so the score block is a few 4-row
     * tiles high and stays in L1/L2 up to T = 512, while the causal waste of a block (its keys
     * run to the block's last query) stays small. 32 and 64 rows measured no faster.
     */
    static int forwardQueries(int N) { return Math.max(1, 16 / N); }

    /**
     * Queries per backward block for sequences of length T. The key and value gradients of a
     * head are accumulated block by block with the block's (query, lag) rows as the inner
     * dimension of the products, which need about 64 rows to run well once the gradients
     * outgrow L1 (T = 256, D = 64, N = 8: 58 → 88 GFLOP/s going from 16 to 64 rows; T = 64,
     * D = 64, N = 4: 46 → 63). But every query of a block computes scores up to the block's
     * last key, so with few lags the row target is capped by a causal-waste bound of
     * max(16, T/4) queries (T = 64, N = 1: 64 queries per block is 16% slower than 16).
     */
    static int backwardQueries(int T, int N) { return Math.max(1, Math.min(64 / N, Math.max(16, T / 4))); }

    /** One thread's buffers; shapes in comments (rows × row stride). */
    public static final class Part {
        final float[] kT, vT;     // (D, Tp)   keys / values transposed, columns j
        final float[] kP, vP;     // (Tp, Dp)  keys / values, rows padded to whole vectors with zeros
        final float[] qP, goP;    // (Tp, D+Dp) queries / output gradients, rows extended periodically
        final float[] dQ;         // (Tp, Dp)  query gradients of one head
        final float[] rowDot;     // Tp        g_o_i · o_i
        final float[] qs, gos;    // (Mp, Dp)  S_{-t} q_i · scale and S_{-t} g_o_i, row (i - i0)·N + t
        final float[] s, g;       // (Mp, Tp)  scores → probabilities; softmax gradients
        final float[] u;          // (Mp, Us)  Σ_j p·v_j (or Σ_j g_s·k_j) per (query, lag) row
        final float[] dK, dV;     // (Tp, Dp)  key / value gradients of one head
        final float[] row;        // Dp        an output or gradient row
        final float[] bias;       // N
        final float[] rowStat;    // R         per query: 1/sum (forward), g_o·o (backward)
        final float[] gacc;       // N·L       its lanes, before the reduction
        final float[] mask;       // Tp        one row's dropout factors (backward with dropout)
        final int[] rowStarts;    // L         l·Dp: the gather map of the transposes
        private final int scoreCount;
        private float[] scores;   // maxT·N    one query's scores, only under -Dleviathan.scalar=true

        Part(CorrelationWorkspace w) {
            kT = new float[w.D * w.Tp];
            vT = new float[w.D * w.Tp];
            kP = new float[w.Tp * w.Dp];
            vP = new float[w.Tp * w.Dp];
            qs = new float[w.Mp * w.Dp];
            gos = new float[w.Mp * w.Dp];
            s = new float[w.Mp * w.Tp];
            g = new float[w.Mp * w.Tp];
            u = new float[w.Mp * w.Us];
            dK = new float[w.Tp * w.Dp];
            dV = new float[w.Tp * w.Dp];
            qP = new float[w.Tp * (w.D + w.Dp)];
            goP = new float[w.Tp * (w.D + w.Dp)];
            dQ = new float[w.Tp * w.Dp];
            rowDot = new float[w.Tp];
            row = new float[w.Dp];
            bias = new float[w.N];
            rowStat = new float[Math.max(w.R, w.RbMax)];
            gacc = new float[w.N * CorrelationTiles.L];
            mask = new float[w.N * w.Tp];
            rowStarts = new int[CorrelationTiles.L];
            for (int l = 0; l < rowStarts.length; l++) rowStarts[l] = l * w.Dp;
            scoreCount = w.maxT * w.N;
        }

        /** Scratch of the scalar reference, which runs in place of the kernel when SIMD is off. */
        float[] scores() {
            if (scores == null) scores = new float[scoreCount];
            return scores;
        }
    }
}
