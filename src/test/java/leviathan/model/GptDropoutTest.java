package leviathan.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.lang.foreign.ValueLayout;
import java.util.Map;
import leviathan.backend.JavaBackend;
import leviathan.nn.Parts;
import org.junit.jupiter.api.Test;

/** Dropout acts only in an armed training forward: a disarmed workspace and incremental decoding compute the plain model. */
class GptDropoutTest {

    @Test
    void onlyAnArmedFullForwardDrops() {
        GptConfig cfg = new GptConfig(9, 8, 2, 2, 16, Parts.mixerStack("correlation,involution", 2, Map.of("lags", "2", "window", "3")),
                Parts.mlpSpec("moe", Map.of("n_expert", "3")));
        int B = 2, T = 8, V = cfg.vocabSize();
        try (Gpt g = Gpt.init(cfg, 5); Workspace ws = g.workspace(new JavaBackend(), B, T, true)) {
            for (int i = 0; i < B * T; i++) ws.tokens().setAtIndex(ValueLayout.JAVA_INT, i, (i * 7) % V);
            g.forward(ws, B, T, false);
            float[] plain = ws.logits().asSlice(0, 4L * B * T * V).toArray(ValueLayout.JAVA_FLOAT);
            ws.dropout(0.4f, 1, 2, 0, 0);
            g.forward(ws, B, T, false);
            float[] dropped = ws.logits().asSlice(0, 4L * B * T * V).toArray(ValueLayout.JAVA_FLOAT);
            assertFalse(java.util.Arrays.equals(plain, dropped), "an armed forward drops");
            // incremental decoding (B = 1, t0 > 0) never drops, armed or not: row t equals the plain model's
            g.forward(ws, 1, T, false);
            float[] first = ws.logits().asSlice(0, 4L * T * V).toArray(ValueLayout.JAVA_FLOAT);
            ws.noDropout();
            g.forward(ws, 1, T - 1, false);
            ws.dropout(0.4f, 1, 2, 0, 0);
            g.forwardIncremental(ws, T - 1);
            float[] last = ws.logits().asSlice(4L * (T - 1) * V, 4L * V).toArray(ValueLayout.JAVA_FLOAT);
            float[] plainLast = java.util.Arrays.copyOfRange(plain, (T - 1) * V, T * V);
            assertArrayEquals(plainLast, last, 1e-5f);
            ws.noDropout();
            g.forward(ws, B, T, false);
            assertArrayEquals(plain, ws.logits().asSlice(0, 4L * B * T * V).toArray(ValueLayout.JAVA_FLOAT), "disarmed: the plain model");
            assertFalse(java.util.Arrays.equals(java.util.Arrays.copyOf(plain, T * V), first), "armed B = 1 forward drops too");
        }
    }
}
