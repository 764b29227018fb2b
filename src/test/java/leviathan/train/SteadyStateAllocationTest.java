package leviathan.train;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.nio.file.Path;
import leviathan.data.TextDataset;
import leviathan.data.TokenBatchSampler;
import leviathan.data.TokenFile;
import leviathan.data.TokenFiles;
import leviathan.data.Tokens;
import leviathan.testing.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The data side of a training step allocates nothing on the Java heap: drawing a batch from an
 * in-memory text or from a memory-mapped token file, step after step, adds no bytes to the
 * thread's allocation counter. (The model's forward, backward and AdamW are measured by
 * {@code leviathan.testing.AllocationProbe}, run by {@code benchmarks/alloc-probe.sh}: that needs a
 * JVM of its own, {@code -Xbatch}, and minutes of warm-up, too long for the suite.)
 */
class SteadyStateAllocationTest {
    static final com.sun.management.ThreadMXBean THREADS = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    static long allocated(TokenBatchSampler s, MemorySegment in, MemorySegment tg, int B, int T, int warmup, int steps) {
        for (int i = 0; i < warmup; i++) s.fill(in, tg, B, T, i, 0);
        long before = THREADS.getCurrentThreadAllocatedBytes();
        for (int i = warmup; i < warmup + steps; i++) s.fill(in, tg, B, T, i, i & 3);
        return THREADS.getCurrentThreadAllocatedBytes() - before;
    }

    @Test
    void drawingBatchesAllocatesNothing(@TempDir Path dir) throws Exception {
        Path text = TestData.writeText(dir, TestData.text(50_000, 5));
        Path out = dir.resolve("t.tokens");
        TokenFiles.prepare(text, out, null, false, TokenFiles.Progress.NONE);
        int B = 8, T = 64;
        try (TokenFile tf = TokenFile.open(out); Arena arena = Arena.ofConfined()) {
            MemorySegment in = arena.allocate(4L * B * T), tg = arena.allocate(4L * B * T);
            int V = tf.vocabulary().vocabSize();
            int[] ids = new int[(int) tf.size()];
            for (int i = 0; i < ids.length; i++) ids[i] = tf.token(i);
            TokenBatchSampler mapped = new TokenBatchSampler(tf.tokens(TextDataset.Split.TRAIN), 1337, V);
            TokenBatchSampler heap = new TokenBatchSampler(Tokens.of(ids).slice(0, tf.trainEnd()), 1337, V);
            assertEquals(0, allocated(mapped, in, tg, B, T, 2000, 5000), "bytes allocated by 5000 batches from the mapped file");
            assertEquals(0, allocated(heap, in, tg, B, T, 2000, 5000), "bytes allocated by 5000 batches from an int[]");
        }
    }
}
