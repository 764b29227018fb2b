package leviathan.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import leviathan.backend.JavaBackend;
import leviathan.data.CharTokenizer;
import leviathan.model.Checkpoint;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.model.Workspace;
import leviathan.testing.TestData;
import leviathan.train.Sampler;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Top-p, stop strings, cancellation, time bound and constant-memory streaming of {@link LanguageModel}. */
class LanguageModelTest {
    static final String TEXT = TestData.text(2000, 7);
    @TempDir static Path dir;
    static LanguageModel lm;

    @BeforeAll
    static void load() throws Exception {
        CharTokenizer tok = CharTokenizer.fromText(TEXT);
        Path f = dir.resolve("m.safetensors");
        try (Gpt g = Gpt.init(GptConfig.of(tok.vocabSize(), 16, 2, 2, 16, "correlation", 3), 5)) {
            Checkpoint.save(f, g, tok, null);
        }
        lm = LanguageModel.load(f, new LanguageModel.Settings("java", 1, java.util.Map.of("impl", "direct"), s -> { }));
    }

    @AfterAll
    static void close() { lm.close(); }

    static LanguageModel.Generation gen(int tokens, float temperature, int topK, float topP, long seed, List<String> stop, Duration timeout) {
        return new LanguageModel.Generation(tokens, temperature, topK, topP, seed, false, stop, timeout);
    }

    @Test
    void tinyTopPIsGreedyAndTopPOneChangesNothing() {
        String greedy = lm.generate("the ", gen(60, 0f, 0, 1f, 1, null, null), null);
        assertEquals(greedy, lm.generate("the ", gen(60, 1f, 0, 1e-6f, 99, null, null), null));
        assertEquals(lm.generate("the ", new LanguageModel.Generation(60, 0.9f, 4, 3, false), null),
                lm.generate("the ", gen(60, 0.9f, 4, 1f, 3, null, null), null));
    }

    @Test
    void stopStringEndsTheTextBeforeIt() {
        String free = lm.generate("king", gen(80, 1f, 0, 1f, 11, null, null), null);
        String stop = free.substring(30, 33);
        int at = free.indexOf(stop);
        List<String> pieces = new ArrayList<>();
        LanguageModel.Completion c = lm.complete("king", gen(80, 1f, 0, 1f, 11, List.of("zzzz-not-there", stop), null), t -> pieces.add(t));
        assertEquals(free.substring(0, at), c.text());
        assertEquals(String.join("", pieces), c.text());
        assertEquals(LanguageModel.Finish.STOP, c.outcome().finish());
        assertEquals(at + stop.length(), c.outcome().completionTokens());
        assertEquals(4, c.outcome().promptTokens());
        // a stop string that never completes holds nothing back at the end
        String prefixOnly = free.substring(79) + "\u0000";
        LanguageModel.Completion d = lm.complete("king", gen(80, 1f, 0, 1f, 11, List.of(prefixOnly), null), null);
        assertEquals(free, d.text());
        assertEquals(LanguageModel.Finish.LENGTH, d.outcome().finish());
    }

    @Test
    void cancellingStopsWithinOneCharacterAndLengthIsNotPreallocated() {
        int[] seen = {0};
        LanguageModel.Outcome o = lm.stream("the", gen(Integer.MAX_VALUE, 1f, 0, 1f, 5, null, null), t -> ++seen[0] < 500);
        assertEquals(LanguageModel.Finish.CANCELLED, o.finish());
        assertEquals(500, seen[0]);
        assertEquals(500, o.completionTokens());
    }

    @Test
    void timeBoundEndsAnEndlessGeneration() {
        long t0 = System.nanoTime();
        LanguageModel.Outcome o = lm.stream("the", gen(Integer.MAX_VALUE, 1f, 0, 1f, 5, null, Duration.ofMillis(200)), t -> true);
        assertEquals(LanguageModel.Finish.TIMEOUT, o.finish());
        assertTrue(System.nanoTime() - t0 < 20_000_000_000L);
        assertTrue(o.completionTokens() > 0);
    }

    /** Records what a generation does with its turns: every token is computed inside one, text is handed on outside. */
    static final class RecordingTurns implements LanguageModel.Turns {
        final List<String> events = new ArrayList<>();
        boolean holding;

        @Override
        public void enter(boolean first) {
            assertTrue(!holding, "entered twice without leaving");
            holding = true;
            events.add(first ? "first" : "next");
        }

        @Override
        public void leave() {
            assertTrue(holding, "left without a turn");
            holding = false;
            events.add("leave");
        }
    }

    @Test
    void turnsWrapEveryTokenAndChangeNoText() {
        String plain = lm.generate("the ", gen(40, 1f, 0, 1f, 21, null, null), null);
        RecordingTurns turns = new RecordingTurns();
        StringBuilder got = new StringBuilder();
        LanguageModel.Outcome o = lm.stream("the ", gen(40, 1f, 0, 1f, 21, null, null), t -> {
            assertTrue(!turns.holding, "text must be handed on outside the turn");
            got.append(t);
            return true;
        }, turns);
        assertEquals(plain, got.toString());
        assertEquals(40, o.completionTokens());
        List<String> expected = new ArrayList<>(List.of("first", "leave"));
        for (int k = 1; k < 40; k++) expected.addAll(List.of("next", "leave"));
        assertEquals(expected, turns.events);

        // cancelled by the sink and ended by a stop string: the turn is always given back
        RecordingTurns cancelled = new RecordingTurns();
        lm.stream("the ", gen(40, 1f, 0, 1f, 21, null, null), t -> false, cancelled);
        assertEquals(List.of("first", "leave"), cancelled.events);
        RecordingTurns stopped = new RecordingTurns();
        LanguageModel.Outcome s = lm.stream("the ", gen(40, 1f, 0, 1f, 21, List.of(plain.substring(5, 7)), null), t -> true, stopped);
        assertEquals(LanguageModel.Finish.STOP, s.finish());
        assertTrue(!stopped.holding);
        assertEquals("leave", stopped.events.get(stopped.events.size() - 1));
    }

    @Test
    void anInterruptWhileWaitingForATurnCancels() {
        LanguageModel.Turns refusing = new LanguageModel.Turns() {
            @Override
            public void enter(boolean first) throws InterruptedException { throw new InterruptedException(); }

            @Override
            public void leave() { throw new AssertionError("no turn was held"); }
        };
        LanguageModel.Outcome o = lm.stream("the ", gen(10, 1f, 0, 1f, 1, null, null), t -> true, refusing);
        assertEquals(LanguageModel.Finish.CANCELLED, o.finish());
        assertEquals(0, o.completionTokens());
        assertTrue(Thread.interrupted(), "the interrupt flag is kept (and cleared here)");
    }

    @Test
    void badSettingsAreRefused() {
        assertThrows(IllegalArgumentException.class, () -> gen(1, 1f, 0, 0f, 1, null, null));
        assertThrows(IllegalArgumentException.class, () -> gen(1, 1f, 0, 1.5f, 1, null, null));
        assertThrows(IllegalArgumentException.class, () -> gen(1, 1f, 0, 1f, 1, List.of(""), null));
        assertThrows(IllegalArgumentException.class, () -> new LanguageModel.Settings("java", 1, java.util.Map.of("impl", "fast"), s -> { }));
    }

    /** Greedy sampling past the block size equals a plain loop that re-runs the whole window each step. */
    @Test
    void ringContextMatchesFullRecomputation() {
        GptConfig cfg = GptConfig.of(11, 8, 1, 2, 16, "correlation", 2);
        try (Gpt g = Gpt.init(cfg, 4); Sampler s = new Sampler(g, new JavaBackend());
             Workspace ws = g.workspace(new JavaBackend(), 1, 8, false)) {
            int[] prompt = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 1, 2};     // longer than the block
            int[] got = s.generate(prompt, new Sampler.Options(30, 0f, 0, 1), null);
            List<Integer> ctx = new ArrayList<>();
            for (int p : prompt) ctx.add(p);
            for (int k = 0; k < 30; k++) {
                int T = Math.min(ctx.size(), 8);
                for (int t = 0; t < T; t++) ws.tokens().setAtIndex(ValueLayout.JAVA_INT, t, ctx.get(ctx.size() - T + t));
                g.forward(ws, 1, T, false);
                int best = 0;
                for (int v = 1; v < 11; v++) {
                    if (ws.logits().getAtIndex(ValueLayout.JAVA_FLOAT, (long) (T - 1) * 11 + v)
                            > ws.logits().getAtIndex(ValueLayout.JAVA_FLOAT, (long) (T - 1) * 11 + best)) best = v;
                }
                assertEquals(best, got[k], "token " + k);
                ctx.add(best);
            }
        }
    }
}
