package leviathan.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import leviathan.backend.JavaBackend;
import org.junit.jupiter.api.Test;

/**
 * Gradient accumulation ({@code --accum}): micro-batches of B/A rows, each backward scaled by 1/A,
 * add up to the gradient of the whole batch of B rows (the loss is a mean over B·T tokens), so a
 * smaller micro-batch keeps the effective batch; for the dense model (the MoE auxiliary terms are
 * per micro-batch by definition).
 */
class GradientAccumulationTest {

    @Test
    void microBatchesAddUpToTheWholeBatch() {
        int B = 4, T = 8, A = 2, b = B / A;
        GptConfig cfg = GptConfig.of(11, T, 2, 2, 16, "correlation", 3);
        SplittableRandom rng = new SplittableRandom(5);
        int[] x = new int[B * T], y = new int[B * T];
        for (int i = 0; i < x.length; i++) {
            x[i] = rng.nextInt(cfg.vocabSize());
            y[i] = rng.nextInt(cfg.vocabSize());
        }
        try (Gpt gpt = Gpt.init(cfg, 3); Workspace whole = gpt.workspace(new JavaBackend(), B, T, true);
             Workspace micro = gpt.workspace(new JavaBackend(), b, T, true)) {
            gpt.zeroGrad();
            fill(whole, x, y, 0, B * T);
            gpt.forward(whole, B, T, true);
            gpt.backward(whole, B, T, 1f);
            float[] full = gpt.grads().all().toArray(ValueLayout.JAVA_FLOAT);

            gpt.zeroGrad();
            for (int m = 0; m < A; m++) {
                fill(micro, x, y, m * b * T, b * T);
                gpt.forward(micro, b, T, true);
                gpt.backward(micro, b, T, 1f / A);
            }
            float[] accumulated = gpt.grads().all().toArray(ValueLayout.JAVA_FLOAT);
            double max = 0;
            for (float g : full) max = Math.max(max, Math.abs(g));
            for (int i = 0; i < full.length; i++) {
                // the same sums in another order and grouping: float rounding relative to the largest gradient
                assertEquals(full[i], accumulated[i], 1e-5 * max, "gradient element " + i);
            }
            org.junit.jupiter.api.Assertions.assertTrue(max > 0, "the gradients are not all zero");
        }
    }

    private static void fill(Workspace ws, int[] x, int[] y, int from, int n) {
        MemorySegment tokens = ws.tokens(), targets = ws.targets();
        for (int i = 0; i < n; i++) {
            tokens.setAtIndex(ValueLayout.JAVA_INT, i, x[from + i]);
            targets.setAtIndex(ValueLayout.JAVA_INT, i, y[from + i]);
        }
    }
}
