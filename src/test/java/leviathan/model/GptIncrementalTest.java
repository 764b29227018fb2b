package leviathan.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.ValueLayout;
import java.util.Map;
import leviathan.backend.JavaBackend;
import leviathan.nn.Parts;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** Incremental rows (the sampling cache) equal a full forward's rows, for every registered part. */
class GptIncrementalTest {

    @ParameterizedTest
    @ValueSource(strings = {"correlation", "dot", "involution", "dot+moe", "correlation+moe", "involution+moe", "dot+swiglu",
            "correlation,dot", "involution,correlation+swiglu"})
    void incrementalDecodingMatchesFullForward(String parts) {
        String[] p = parts.split("\\+");
        Map<String, String> options = Map.of("lags", "3", "window", "4", "n_expert", "4", "top_k", "2", "mlp_hidden", "12");
        GptConfig cfg = new GptConfig(11, 12, 2, 2, 16, Parts.mixerStack(p[0], 2, options), Parts.mlpSpec(p.length > 1 ? p[1] : "dense", options));
        int T = 9, V = cfg.vocabSize();
        try (Gpt g = Gpt.init(cfg, 3); Workspace full = g.workspace(new JavaBackend(), 1, 12, false);
             Workspace inc = g.workspace(new JavaBackend(), 1, 12, false)) {
            for (int t = 0; t < T; t++) {
                full.tokens().setAtIndex(ValueLayout.JAVA_INT, t, (t * 7) % V);
                inc.tokens().setAtIndex(ValueLayout.JAVA_INT, t, (t * 7) % V);
            }
            g.forward(full, 1, T, false);
            for (int t = 0; t < T; t++) g.forwardIncremental(inc, t);
            float[] f = full.logits().asSlice(0, (long) T * V * 4).toArray(ValueLayout.JAVA_FLOAT);
            float[] i = inc.logits().asSlice(0, (long) T * V * 4).toArray(ValueLayout.JAVA_FLOAT);
            for (int k = 0; k < f.length; k++) {
                // same math on one row instead of T: only GEMM blocking may reorder sums (~1e-6 relative)
                assertEquals(f[k], i[k], 1e-4f * (1 + Math.abs(f[k])), "logit " + k);
            }
        }
    }
}
