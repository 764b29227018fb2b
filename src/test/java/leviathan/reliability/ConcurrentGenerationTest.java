package leviathan.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import leviathan.api.LanguageModel;
import leviathan.data.CharTokenizer;
import leviathan.data.TextDataset;
import leviathan.model.Checkpoint;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.testing.TestData;
import leviathan.train.Evaluator;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** Many threads generating and evaluating with one loaded model get exactly the single-threaded results. */
class ConcurrentGenerationTest {
    static final int THREADS = 8, REQUESTS = 12;
    static final String TEXT = TestData.text(3000, 41);

    static Path checkpoint(Path dir) throws Exception {
        CharTokenizer tok = CharTokenizer.fromText(TEXT);
        Path f = dir.resolve("m.safetensors");
        try (Gpt g = Gpt.init(GptConfig.of(tok.vocabSize(), 24, 2, 2, 32, "correlation", 3), 8)) {
            Checkpoint.save(f, g, tok, null);
        }
        return f;
    }

    /** Request {@code k}: its own prompt and seed, long enough to slide past the 24-token context. */
    static String request(LanguageModel lm, int k) { return request(lm, k, null); }

    static String request(LanguageModel lm, int k, java.util.function.Consumer<String> onText) {
        String prompt = TEXT.substring(k * 13, k * 13 + 1 + k % 5);
        return lm.generate(prompt, new LanguageModel.Generation(40, k % 3 == 0 ? 0f : 0.9f, k % 2 == 0 ? 0 : 5, 1000 + k, false), onText);
    }

    @Test
    @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void concurrentOutputsEqualSingleThreadedOutputs(@TempDir Path dir) throws Exception {
        try (LanguageModel lm = LanguageModel.load(checkpoint(dir), new LanguageModel.Settings("java", 2, s -> { }))) {
            List<String> alone = new ArrayList<>();
            for (int k = 0; k < REQUESTS; k++) alone.add(request(lm, k));
            Evaluator.Result evalAlone = lm.evaluate(TEXT, TextDataset.Split.VAL, 0, false);

            ExecutorService pool = Executors.newFixedThreadPool(THREADS);
            CyclicBarrier go = new CyclicBarrier(THREADS);
            try {
                List<Future<List<String>>> futures = new ArrayList<>();
                for (int th = 0; th < THREADS; th++) {
                    long shuffleSeed = th;
                    futures.add(pool.submit(() -> {
                        List<Integer> order = new ArrayList<>();
                        for (int k = 0; k < REQUESTS; k++) order.add(k);
                        Collections.shuffle(order, new Random(shuffleSeed));
                        String[] out = new String[REQUESTS];
                        go.await();
                        for (int k : order) {
                            out[k] = request(lm, k);
                            if (k == shuffleSeed) {
                                Evaluator.Result r = lm.evaluate(TEXT, TextDataset.Split.VAL, 0, false);
                                assertEquals(evalAlone, r, "evaluation under load");
                            }
                        }
                        return List.of(out);
                    }));
                }
                for (Future<List<String>> f : futures) assertEquals(alone, f.get(100, TimeUnit.SECONDS));
            } finally {
                pool.shutdownNow();
            }
        }
    }

    /**
     * close() waits for the generations that are running and refuses later ones. One generation is
     * held inside its first character callback (so it holds the model) until close() is about to
     * be called, and then for 200 ms more: close() must not return before that callback has
     * finished, and the held generation must complete with the single-threaded result. Four more
     * threads generate in a loop until they are refused; every generation that ran is correct.
     */
    @Test
    @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void closingWhileThreadsGenerateWaitsForThemAndThenRefusesCleanly(@TempDir Path dir) throws Exception {
        LanguageModel lm = LanguageModel.load(checkpoint(dir), new LanguageModel.Settings("java", 2, s -> { }));
        String expected = request(lm, 3);
        ExecutorService pool = Executors.newFixedThreadPool(5);
        AtomicInteger completed = new AtomicInteger();
        CountDownLatch inside = new CountDownLatch(1), closing = new CountDownLatch(1);
        AtomicLong heldUntil = new AtomicLong();
        AtomicBoolean first = new AtomicBoolean(true);
        Future<String> held = pool.submit(() -> request(lm, 3, c -> {
            if (!first.getAndSet(false)) return;
            inside.countDown();
            try {
                closing.await();
                Thread.sleep(200);                                    // close() is waiting meanwhile
            } catch (InterruptedException e) {
                throw new IllegalStateException(e);
            }
            heldUntil.set(System.nanoTime());
        }));
        List<Future<?>> futures = new ArrayList<>();
        for (int th = 0; th < 4; th++) {
            futures.add(pool.submit(() -> {
                while (true) {
                    String s;
                    try {
                        s = request(lm, 3);
                    } catch (IllegalStateException e) {
                        assertEquals("the model is closed", e.getMessage());
                        return null;
                    }
                    assertEquals(expected, s, "a generation that ran completed correctly");
                    completed.incrementAndGet();
                }
            }));
        }
        inside.await();
        while (completed.get() < 4) Thread.sleep(5);
        closing.countDown();
        lm.close();
        long closed = System.nanoTime();
        assertEquals(expected, held.get(60, TimeUnit.SECONDS), "the generation running during close()");
        assertTrue(heldUntil.get() != 0 && closed - heldUntil.get() > 0,
                "close() returned before the generation it should wait for had finished");
        for (Future<?> f : futures) f.get(60, TimeUnit.SECONDS);      // rethrows any other exception
        pool.shutdown();
        assertThrows(IllegalStateException.class, () -> request(lm, 1));
        lm.close();                                                   // idempotent
    }
}
