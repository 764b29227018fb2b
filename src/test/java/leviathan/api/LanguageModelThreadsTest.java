package leviathan.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import leviathan.data.CharTokenizer;
import leviathan.kernel.Parallel;
import leviathan.model.Checkpoint;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.testing.TestData;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Two models with different thread counts in one JVM keep their own, also while both generate at once. */
class LanguageModelThreadsTest {
    @TempDir static Path dir;
    static Path checkpoint;

    @BeforeAll
    static void save() throws Exception {
        String text = TestData.text(500, 3);
        CharTokenizer tok = CharTokenizer.fromText(text);
        checkpoint = dir.resolve("m.safetensors");
        try (Gpt g = Gpt.init(GptConfig.of(tok.vocabSize(), 16, 2, 2, 16, "correlation", 3), 5)) {
            Checkpoint.save(checkpoint, g, tok, null);
        }
    }

    static LanguageModel load(int threads) throws Exception {
        return LanguageModel.load(checkpoint, new LanguageModel.Settings("java", threads, Map.of("impl", "direct"), s -> { }));
    }

    /** What the kernels of one generation saw: thread counts, and the threads that ran a loop's parts. */
    record Seen(Set<Integer> counts, Set<Thread> workers) { }

    /**
     * Generates 30 characters, meeting the other generation at every character (so the two run at
     * the same time), and at each one runs a parallel loop as the kernels do: on the calling thread,
     * inside the model's call, through {@link Parallel#forRange}.
     */
    static Seen generate(LanguageModel lm, CyclicBarrier together) {
        Seen seen = new Seen(ConcurrentHashMap.newKeySet(), ConcurrentHashMap.newKeySet());
        lm.stream("the ", new LanguageModel.Generation(30, 0f, 0, 1, false), t -> {
            try {
                together.await(30, TimeUnit.SECONDS);
            } catch (Exception e) {
                throw new AssertionError("the other generation did not keep pace", e);
            }
            seen.counts().add(Parallel.threads());
            Parallel.forRange(64, (from, to) -> seen.workers().add(Thread.currentThread()));
            return true;
        });
        return seen;
    }

    @Test
    void concurrentGenerationsEachUseTheirOwnThreadCount() throws Exception {
        int defaultThreads = Parallel.threads();
        try (LanguageModel three = load(3); LanguageModel one = load(1); LanguageModel shared = load(0)) {
            assertEquals(3, three.threads());
            assertEquals(1, one.threads());
            assertEquals(defaultThreads, shared.threads(), "threads 0 shares the process's default pool");
            CyclicBarrier together = new CyclicBarrier(2);
            Seen a, b;
            try (var pool = Executors.newVirtualThreadPerTaskExecutor()) {
                Future<Seen> fa = pool.submit(() -> generate(three, together));
                Future<Seen> fb = pool.submit(() -> generate(one, together));
                a = fa.get(120, TimeUnit.SECONDS);
                b = fb.get(120, TimeUnit.SECONDS);
            }
            assertEquals(Set.of(3), a.counts(), "the 3-thread model's kernels saw 3 threads throughout");
            assertEquals(Set.of(1), b.counts(), "the 1-thread model's kernels saw 1 thread throughout");
            assertEquals(3, a.workers().size(), "a 64-index loop of the 3-thread model ran on 3 threads: " + a.workers());
            assertEquals(1, b.workers().size(), "a loop of the 1-thread model ran on its calling thread alone");
            assertTrue(a.workers().stream().noneMatch(b.workers()::contains), "no thread served both models");
            assertEquals(defaultThreads, Parallel.threads(), "the process default is untouched");

            three.close();                                      // the model's own kernel threads end with it
            for (Thread t : a.workers()) {
                t.join(10_000);
                assertTrue(!t.isAlive(), t.getName() + " still runs after its model closed");
            }
        }
    }
}
