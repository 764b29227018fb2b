package leviathan.data;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Random training windows (LEVIATHAN.md, "Data") read from any {@link Tokens}, in particular a
 * memory-mapped {@link TokenFile}: {@code B} windows of {@code T+1} tokens; inputs are the first
 * T, targets the last T. The draws are those of {@code train.BatchSampler}: the generator for
 * step {@code s}, micro-batch {@code m} is {@code SplittableRandom(seed·φ + (s << 16) + m)}, and a
 * window starts at {@code nextInt(n - T)} (or {@code nextLong(n - T)} once {@code n - T} exceeds
 * an int), so for the same split and seed both draw the same windows, and a resumed run draws the
 * batches the uninterrupted run would have. Allocates nothing per call.
 */
public final class TokenBatchSampler {
    private final Tokens tokens;
    private final long seed;
    private final int vocabSize;
    private final SplitMix rng = new SplitMix(0);
    private int sinceRelease;

    /**
     * Windows drawn between two {@link Tokens#release()} calls. Each random window of a mapped file
     * made about 250 KiB of it resident here (the kernel maps a page's neighbours and its read-ahead
     * with it: measured on a 2.5 GB token file, the file pages in the resident set rose by about
     * 250 MiB per 1,024 windows), so the mapping's share of the resident set stays near 64 MiB
     * however large the text.
     */
    public static final int RELEASE_EVERY = 256;

    /** Windows of {@code tokens}; every id read is checked against {@code vocabSize} (a damaged file is refused). */
    public TokenBatchSampler(Tokens tokens, long seed, int vocabSize) {
        this.tokens = tokens;
        this.seed = seed;
        this.vocabSize = vocabSize;
    }

    /** The seed of the generator for micro-batch {@code micro} of step {@code step}. */
    static long streamSeed(long seed, long step, int micro) {
        return seed * 0x9E3779B97F4A7C15L + (step << 16) + micro;
    }

    /** The start of a window of {@code T+1} tokens in a split of {@code n}: uniform in {@code [0, n - T)}. */
    static long start(SplitMix rng, long n, int T) {
        long bound = n - T;
        return bound <= Integer.MAX_VALUE ? rng.nextInt((int) bound) : rng.nextLong(bound);
    }

    /** Fills {@code inputs} and {@code targets} ({@code (B, T)} int32) with micro-batch {@code micro} of step {@code step}. */
    public void fill(MemorySegment inputs, MemorySegment targets, int B, int T, long step, int micro) {
        fill(inputs, targets, B, T, step, micro, 0, B);
    }

    /**
     * Fills {@code inputs} and {@code targets} ({@code (rows, T)} int32) with rows {@code [first, first + rows)}
     * of micro-batch {@code micro} of step {@code step}, a batch of {@code B} rows: the whole batch is drawn,
     * so the shares of data-parallel ranks together are exactly the one-process batch.
     */
    public void fill(MemorySegment inputs, MemorySegment targets, int B, int T, long step, int micro, int first, int rows) {
        if (first < 0 || rows < 0 || first + rows > B) {
            throw new IllegalArgumentException("rows [" + first + ", " + (first + rows) + ") are not within a batch of " + B);
        }
        long n = tokens.length();
        if (n < T + 1L) {
            throw new IllegalArgumentException("the split has " + n + " tokens, fewer than block_size + 1 = " + (T + 1)
                    + ": use a longer text or a smaller block_size");
        }
        rng.reset(streamSeed(seed, step, micro));
        for (int b = 0; b < B; b++) {
            long s = start(rng, n, T);
            if (b < first || b >= first + rows) continue;            // another rank's row
            copyWindow(tokens, s, inputs, targets, (long) (b - first) * T, T, vocabSize);
            if (++sinceRelease >= RELEASE_EVERY) {
                sinceRelease = 0;
                tokens.release();
            }
        }
    }

    /** Window {@code tokens[s .. s+T]} into row {@code row} (in elements) of {@code inputs} (first T) and {@code targets} (last T). */
    static void copyWindow(Tokens tokens, long s, MemorySegment inputs, MemorySegment targets, long row, int T, int vocabSize) {
        int prev = check(tokens, s, vocabSize);
        for (int t = 0; t < T; t++) {
            int next = check(tokens, s + t + 1, vocabSize);
            inputs.setAtIndex(ValueLayout.JAVA_INT, row + t, prev);
            targets.setAtIndex(ValueLayout.JAVA_INT, row + t, next);
            prev = next;
        }
    }

    private static int check(Tokens tokens, long i, int vocabSize) {
        int id = tokens.get(i);
        if (id >= vocabSize) {
            throw new IllegalStateException("token " + id + " at position " + i + " is outside the vocabulary of " + vocabSize
                    + ": the token file is damaged; prepare it again");
        }
        return id;
    }
}
