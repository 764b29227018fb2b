package leviathan.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import leviathan.backend.JavaBackend;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.model.Workspace;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class SamplerTest {

    @ParameterizedTest
    @ValueSource(strings = {"correlation", "dot"})
    void generationIsSeededAndRunsPastTheBlockSize(String a) throws Exception {
        GptConfig cfg = GptConfig.of(11, 8, 1, 2, 16, a, 2);
        try (Gpt g = Gpt.init(cfg, 4)) {
            int[] one;
            try (Sampler s = new Sampler(g, new JavaBackend())) {
                one = s.generate(new int[] {1, 2, 3}, new Sampler.Options(30, 1f, 5, 9), null);
                assertArrayEquals(one, s.generate(new int[] {1, 2, 3}, new Sampler.Options(30, 1f, 5, 9), null));
            }
            assertEquals(30, one.length);
            for (int t : one) assertTrue(t >= 0 && t < 11);
            // many threads at once, each with its own sampler: same outputs as alone
            ExecutorService pool = Executors.newFixedThreadPool(4);
            try {
                List<Future<int[]>> futures = new ArrayList<>();
                for (int k = 0; k < 8; k++) {
                    futures.add(pool.submit(() -> {
                        try (Sampler s = new Sampler(g, new JavaBackend())) {
                            return s.generate(new int[] {1, 2, 3}, new Sampler.Options(30, 1f, 5, 9), null);
                        }
                    }));
                }
                for (Future<int[]> f : futures) assertArrayEquals(one, f.get());
            } finally {
                pool.shutdown();
            }
        }
    }

    /**
     * With a context shift, each character is the one a fresh full forward over the kept context
     * predicts: before the window fills that is the whole sequence, after it the newer half that
     * was kept, extended incrementally. So the cache after a shift computes what it claims to.
     */
    @ParameterizedTest
    @ValueSource(strings = {"correlation", "dot"})
    void contextShiftConditionsOnTheKeptHalf(String a) {
        GptConfig cfg = GptConfig.of(11, 8, 2, 2, 16, a, 2);
        int[] prompt = {1, 2, 3};
        int n = 20, block = cfg.blockSize();
        try (Gpt g = Gpt.init(cfg, 5); Sampler shifted = new Sampler(g, new JavaBackend()); Sampler fresh = new Sampler(g, new JavaBackend())) {
            int[] out = shifted.generate(prompt, new Sampler.Options(n, 0f, 0, 1f, 1, true), null);
            int[] seq = new int[prompt.length + n];
            System.arraycopy(prompt, 0, seq, 0, prompt.length);
            System.arraycopy(out, 0, seq, prompt.length, n);
            int base = 0, shifts = 0;
            for (int len = prompt.length; len < seq.length; len++) {
                if (len - base > block) {
                    base = len - block / 2;
                    shifts++;
                }
                int[] context = java.util.Arrays.copyOfRange(seq, base, len);
                int expected = fresh.generate(context, new Sampler.Options(1, 0f, 0, 1), null)[0];
                assertEquals(expected, seq[len], "character " + (len - prompt.length) + " (context from " + base + ")");
            }
            assertTrue(shifts >= 3, "the run shifted " + shifts + " times");
            // without the shift the window slides exactly, and the first characters (before it fills) agree
            int[] exact = shifted.generate(prompt, new Sampler.Options(n, 0f, 0, 1), null);
            for (int k = 0; k < block - prompt.length; k++) assertEquals(exact[k], out[k], "before the window fills");
        }
    }
}
