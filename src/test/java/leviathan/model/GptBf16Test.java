package leviathan.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import leviathan.backend.Backend;
import leviathan.backend.OneDnnBackend;
import leviathan.backend.OneDnnLoader;
import leviathan.backend.Precision;
import leviathan.train.Optimizer;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/**
 * Training with bf16 GEMM operands tracks float32: the same model, data and AdamW steps, once per
 * precision; the losses stay close step by step and both fall. Skipped where bf16 cannot run.
 */
class GptBf16Test {

    @ParameterizedTest
    @ValueSource(strings = {"correlation", "dot"})
    void bf16TrainingTracksFp32(String attention) throws Exception {
        OneDnnBackend fp32;
        try {
            fp32 = OneDnnBackend.open();
        } catch (OneDnnLoader.UnavailableException e) {
            Assumptions.assumeTrue(false, "oneDNN not found: " + e.getMessage());
            return;
        }
        List<String> log = new ArrayList<>();
        Backend bf16 = fp32.withPrecision(Precision.BF16, 0, log::add);      // every product in bf16, however small
        Assumptions.assumeTrue(bf16.precision() == Precision.BF16, "no bf16 here: " + log);
        try (bf16) {
            GptConfig config = GptConfig.of(65, 16, 2, 4, 32, attention, attention.equals("dot") ? 1 : 4);
            float[] a = train(config, fp32), b = train(config, bf16);
            for (int s = 0; s < a.length; s++) {
                // bf16 operands: ~3 significant digits per product; measured gap ~5e-4 nats over these steps
                assertEquals(a[s], b[s], 5e-3, "step " + s + ": fp32 " + a[s] + " vs bf16 " + b[s]);
            }
            assertTrue(b[b.length - 1] < b[0] - 0.2, "bf16 loss falls: " + b[0] + " -> " + b[b.length - 1]);
        }
    }

    /** Losses of 12 AdamW steps on one fixed batch (overfitting it), from a fixed initialisation. */
    private static float[] train(GptConfig config, Backend backend) {
        int B = 4, T = 16, steps = 12;
        float[] losses = new float[steps];
        SplittableRandom rnd = new SplittableRandom(1337);
        try (Gpt gpt = Gpt.init(config, 1337);
             Workspace ws = gpt.workspace(backend, B, T, true);
             Optimizer opt = new Optimizer(gpt, Optimizer.Kind.ADAMW, 0.9f, 0.99f, 1e-8f, 0.1f)) {
            int[] text = new int[B * T + 1];
            for (int i = 0; i < text.length; i++) text[i] = rnd.nextInt(8);   // a small alphabet: learnable in a few steps
            for (int i = 0; i < B * T; i++) {
                ws.tokens().setAtIndex(ValueLayout.JAVA_INT, i, text[i]);
                ws.targets().setAtIndex(ValueLayout.JAVA_INT, i, text[i + 1]);
            }
            for (int s = 0; s < steps; s++) {
                gpt.zeroGrad();
                losses[s] = gpt.forward(ws, B, T, true);
                gpt.backward(ws, B, T, 1f);
                opt.step(1e-3f);
            }
        }
        return losses;
    }
}
