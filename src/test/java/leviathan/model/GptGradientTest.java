package leviathan.model;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import java.util.Map;
import leviathan.backend.JavaBackend;
import leviathan.nn.Parts;
import leviathan.nn.RunOptions;
import leviathan.tensor.Tensor;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The whole model's hand-written backward against finite differences of its training loss (cross-entropy plus the parts' auxiliary terms), for every registered part. */
class GptGradientTest {

    @ParameterizedTest
    @ValueSource(strings = {"correlation", "dot", "involution", "dot+moe", "correlation+moe", "involution+moe", "dot+swiglu",
            "correlation,dot", "involution,correlation+swiglu"})
    void everyParameterGradientMatchesFiniteDifferences(String parts) {
        check(parts, 0f);
    }

    /** With dropout armed, the masks are fixed by their key: the loss is a function of the weights, and its gradient must match. */
    @ParameterizedTest
    @ValueSource(strings = {"correlation", "involution+moe", "dot,involution+swiglu"})
    void withAFixedDropoutMaskToo(String parts) {
        check(parts, 0.3f);
    }

    private static void check(String parts, float dropout) {
        String[] p2 = parts.split("\\+");
        // small shapes; involution's window 2 < T keeps both truncated and full windows; 3 experts, top-2
        Map<String, String> options = Map.of("lags", "3", "window", "2", "n_expert", "3", "top_k", "2", "expert_hidden", "6", "mlp_hidden", "6");
        GptConfig cfg = new GptConfig(7, 4, 2, 2, 8, Parts.mixerStack(p2[0], 2, options),
                Parts.mlpSpec(p2.length > 1 ? p2[1] : "dense", options));
        int B = 2, T = 3;
        SplittableRandom rng = new SplittableRandom(42);
        // auxiliary loss weights large enough that their gradients matter in the check
        RunOptions run = RunOptions.of("moe_balance", "0.5", "moe_z", "0.1");
        try (Gpt gpt = Gpt.init(cfg, 7); var ws = gpt.workspace(new JavaBackend(), B, T, true, run)) {
            // Non-trivial LayerNorm parameters, biases and lag bias, so every path carries gradient.
            for (Tensor t : gpt.params().tensors().values()) {
                if (t.rank() == 1 || t.name().endsWith("lag_bias")) {
                    for (long i = 0; i < t.numel(); i++) t.setFlat(i, t.getFlat(i) + (float) (0.3 * rng.nextGaussian()));
                } else {
                    for (long i = 0; i < t.numel(); i++) t.setFlat(i, t.getFlat(i) * 10f);   // std 0.2: larger signals
                }
            }
            for (int i = 0; i < B * T; i++) {
                ws.tokens().setAtIndex(ValueLayout.JAVA_INT, i, rng.nextInt(cfg.vocabSize()));
                ws.targets().setAtIndex(ValueLayout.JAVA_INT, i, rng.nextInt(cfg.vocabSize()));
            }
            if (dropout > 0) ws.dropout(dropout, 11, 3, 1, 2);   // step 3, micro-batch 1, rows from 2 of a global batch
            gpt.zeroGrad();
            gpt.forward(ws, B, T, true);
            gpt.backward(ws, B, T, 1f);
            for (Tensor p : gpt.params().tensors().values()) {
                Tensor g = gpt.grads().get(p.name());
                // Directional derivative along a random unit direction of this tensor only: one
                // well-conditioned number per tensor instead of many tiny per-element ones.
                long n = p.numel();
                double[] u = new double[(int) n];
                double norm = 0;
                for (int i = 0; i < n; i++) { u[i] = rng.nextGaussian(); norm += u[i] * u[i]; }
                norm = Math.sqrt(norm);
                double analytic = 0;
                for (int i = 0; i < n; i++) { u[i] /= norm; analytic += u[i] * g.getFlat(i); }
                float[] saved = p.toArray();
                double h = 1e-2;                 // float32 loss: h large enough that rounding (~1e-7) stays < 1e-4 relative
                for (int i = 0; i < n; i++) p.setFlat(i, (float) (saved[i] + h * u[i]));
                double plus = gpt.forward(ws, B, T, true) + ws.auxLoss();       // the training objective
                for (int i = 0; i < n; i++) p.setFlat(i, (float) (saved[i] - h * u[i]));
                double minus = gpt.forward(ws, B, T, true) + ws.auxLoss();
                p.copyFrom(saved);
                double numeric = (plus - minus) / (2 * h);
                double err = Math.abs(numeric - analytic) / Math.max(1e-3, Math.abs(numeric) + Math.abs(analytic));
                // 1e-2: central differences with h = 1e-2 on a float32 loss (truncation O(h²) plus rounding)
                assertTrue(err < 1e-2, p.name() + ": analytic " + analytic + " vs numeric " + numeric + " (rel err " + err + ")");
            }
        }
    }
}
