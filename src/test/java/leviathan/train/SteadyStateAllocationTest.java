package leviathan.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import leviathan.data.TextDataset;
import leviathan.data.TokenBatchSampler;
import leviathan.data.TokenFile;
import leviathan.data.TokenFiles;
import leviathan.data.Tokens;
import leviathan.testing.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Steady state allocates nothing on the Java heap. Drawing a batch from an in-memory text or from a
 * memory-mapped token file adds no bytes to the thread's allocation counter; a whole training step
 * and a generated token add none to the counters of the caller and the kernel workers once the JIT
 * has compiled the kernels ({@link SteadyStateAllocation}, in a JVM of its own).
 * {@code benchmarks/alloc-probe.sh} prints the bytes window by window, and where they come from.
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

    /**
     * The training steps and tokens of {@link SteadyStateAllocation}, in a JVM of its own with
     * {@code -Xbatch}: the JIT then compiles in the foreground, so the steady state arrives after a
     * number of steps rather than whenever the compiler threads get CPU on a loaded machine, and the
     * type profiles are the engine's alone, as in a real run, not mixed with every other test's.
     */
    @Test
    @Timeout(value = 240, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void trainingStepsAndTokensAllocateNothing(@TempDir Path dir) throws Exception {
        String java = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        Path log = dir.resolve("check.log");
        Process p = new ProcessBuilder(java, "--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-ea", "-Xbatch",
                "-cp", System.getProperty("java.class.path"), SteadyStateAllocation.class.getName())
                .redirectErrorStream(true).redirectOutput(log.toFile()).start();
        boolean done = p.waitFor(230, TimeUnit.SECONDS);
        if (!done) p.destroyForcibly();
        String out = String.join("\n", Files.readAllLines(log));
        System.out.println(out);
        assertTrue(done, "the check did not finish:\n" + out);
        assertEquals(0, p.exitValue(), out);
    }
}
