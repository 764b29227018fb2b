package leviathan.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Random;
import java.util.concurrent.CyclicBarrier;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
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
    static String request(LanguageModel lm, int k) {
        String prompt = TEXT.substring(k * 13, k * 13 + 1 + k % 5);
        return lm.generate(prompt, new LanguageModel.Generation(40, k % 3 == 0 ? 0f : 0.9f, k % 2 == 0 ? 0 : 5, 1000 + k, false), null);
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

    @Test
    @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void closingWhileThreadsGenerateWaitsForThemAndThenRefusesCleanly(@TempDir Path dir) throws Exception {
        LanguageModel lm = LanguageModel.load(checkpoint(dir), new LanguageModel.Settings("java", 2, s -> { }));
        String expected = request(lm, 3);
        ExecutorService pool = Executors.newFixedThreadPool(4);
        AtomicInteger completed = new AtomicInteger();
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
        while (completed.get() < 4) Thread.sleep(5);
        lm.close();
        for (Future<?> f : futures) f.get(60, TimeUnit.SECONDS);      // rethrows any other exception
        pool.shutdown();
        assertThrows(IllegalStateException.class, () -> request(lm, 1));
        lm.close();                                                   // idempotent
        assertTrue(completed.get() >= 4);
    }
}
