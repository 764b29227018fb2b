package leviathan.train;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * Random training windows (LEVIATHAN.md, "Data"): {@code B} windows of {@code T+1} tokens; inputs
 * are the first T, targets the last T. The generator for step {@code s} is derived from the seed and
 * {@code s} alone, so a resumed run draws exactly the batches the uninterrupted run would have.
 */
public final class BatchSampler {
    private final int[] tokens;
    private final long seed;

    public BatchSampler(int[] tokens, long seed) {
        this.tokens = tokens;
        this.seed = seed;
    }

    /** Fills {@code inputs} and {@code targets} ({@code (B, T)} int32) with micro-batch {@code micro} of step {@code step}. */
    public void fill(MemorySegment inputs, MemorySegment targets, int B, int T, int step, int micro) {
        fill(inputs, targets, B, T, step, micro, 0, B);
    }

    /**
     * Fills {@code inputs} and {@code targets} ({@code (rows, T)} int32) with rows {@code [first, first + rows)} of
     * micro-batch {@code micro} of step {@code step}, a batch of {@code B} rows: the whole batch is drawn, so the
     * shares of data-parallel ranks together are exactly the one-process batch.
     */
    public void fill(MemorySegment inputs, MemorySegment targets, int B, int T, int step, int micro, int first, int rows) {
        if (first < 0 || rows < 0 || first + rows > B) {
            throw new IllegalArgumentException("rows [" + first + ", " + (first + rows) + ") are not within a batch of " + B);
        }
        if (tokens.length < T + 1) {
            throw new IllegalArgumentException("the split has " + tokens.length + " tokens, fewer than block_size + 1 = " + (T + 1)
                    + ": use a longer text or a smaller block_size");
        }
        SplittableRandom rng = new SplittableRandom(seed * 0x9E3779B97F4A7C15L + ((long) step << 16) + micro);
        for (int b = 0; b < B; b++) {
            int start = rng.nextInt(tokens.length - T);
            if (b < first || b >= first + rows) continue;            // another rank's row
            long row = b - first;
            for (int t = 0; t < T; t++) {
                inputs.setAtIndex(ValueLayout.JAVA_INT, row * T + t, tokens[start + t]);
                targets.setAtIndex(ValueLayout.JAVA_INT, row * T + t, tokens[start + t + 1]);
            }
        }
    }
}
