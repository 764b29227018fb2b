package leviathan.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import leviathan.testing.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Reading random windows of a mapped token file lets go of the resident pages every
 * {@link TokenBatchSampler#RELEASE_EVERY} windows, through every view, without changing a value.
 */
class TokenReleaseTest {

    /** Tokens that count release calls. */
    static final class Counting implements Tokens {
        final int[] ids;
        int released;

        Counting(int[] ids) { this.ids = ids; }

        @Override public long length() { return ids.length; }

        @Override public int get(long i) { return ids[(int) i]; }

        @Override public void release() { released++; }
    }

    @Test
    void theSamplerReleasesEveryThousandOrSoWindowsThroughSlices() {
        int[] ids = new int[5000];
        for (int i = 0; i < ids.length; i++) ids[i] = i % 7;
        Counting base = new Counting(ids);
        TokenBatchSampler s = new TokenBatchSampler(base.slice(100, 4900), 3, 7);
        int B = 12, T = 16;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment in = arena.allocate(4L * B * T), tg = arena.allocate(4L * B * T);
            int steps = 3 * TokenBatchSampler.RELEASE_EVERY / B + 1;        // a little over 3 releases' worth of windows
            for (int step = 0; step < steps; step++) s.fill(in, tg, B, T, step, 0);
            assertEquals((steps * B) / TokenBatchSampler.RELEASE_EVERY, base.released);
        }
    }

    @Test
    void releasedMappedPagesReadBackTheSameTokens(@TempDir Path dir) throws Exception {
        Path text = TestData.writeText(dir, TestData.text(200_000, 9));
        Path out = dir.resolve("t.tokens");
        TokenFiles.prepare(text, out, null, false, TokenFiles.Progress.NONE);
        int B = 8, T = 32;
        try (TokenFile tf = TokenFile.open(out); Arena arena = Arena.ofConfined()) {
            int V = tf.vocabulary().vocabSize();
            int[] copy = new int[(int) tf.size()];
            for (int i = 0; i < copy.length; i++) copy[i] = tf.token(i);
            TokenBatchSampler mapped = new TokenBatchSampler(tf.tokens(TextDataset.Split.TRAIN), 1337, V);
            TokenBatchSampler heap = new TokenBatchSampler(Tokens.of(copy).slice(0, tf.trainEnd()), 1337, V);
            MemorySegment a = arena.allocate(4L * B * T), at = arena.allocate(4L * B * T);
            MemorySegment b = arena.allocate(4L * B * T), bt = arena.allocate(4L * B * T);
            for (int step = 0; step < 3 * TokenBatchSampler.RELEASE_EVERY / B; step++) {   // crosses several releases
                mapped.fill(a, at, B, T, step, 0);
                heap.fill(b, bt, B, T, step, 0);
                assertEquals(-1, a.mismatch(b), "inputs at step " + step);
                assertEquals(-1, at.mismatch(bt), "targets at step " + step);
            }
            tf.release();
            for (int i = 0; i < copy.length; i += 997) assertEquals(copy[i], tf.token(i), "token " + i + " after a release");
            assertTrue(copy.length > 100_000);
        }
    }
}
