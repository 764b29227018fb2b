package leviathan.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import leviathan.backend.JavaBackend;
import org.junit.jupiter.api.Test;

/**
 * The per-layer hook of {@link Gpt#backward(Workspace, int, int, float, java.util.function.IntConsumer)}, on which the
 * data-parallel trainer starts each layer's allreduce: it is called last layer first, each layer's gradient slice holds
 * its final values when its call comes, and the slices with the embeddings' tile the gradient buffer.
 */
class GptBackwardHookTest {

    @Test
    void eachLayersGradientsAreFinalWhenItsHookRuns() {
        int B = 2, T = 8, layers = 3;
        GptConfig cfg = GptConfig.of(11, T, layers, 2, 16, "correlation", 3);
        SplittableRandom rng = new SplittableRandom(7);
        try (Gpt gpt = Gpt.init(cfg, 3); Workspace ws = gpt.workspace(new JavaBackend(), B, T, true)) {
            for (int i = 0; i < B * T; i++) {
                ws.tokens().setAtIndex(ValueLayout.JAVA_INT, i, rng.nextInt(cfg.vocabSize()));
                ws.targets().setAtIndex(ValueLayout.JAVA_INT, i, rng.nextInt(cfg.vocabSize()));
            }
            // the slices tile the buffer: embeddings, then layer 0, 1, 2 (the last with ln_f) up to the end
            MemorySegment all = gpt.grads().all();
            long end = gpt.embeddingGradients().byteSize();
            assertEquals(all.address(), gpt.embeddingGradients().address());
            for (int l = 0; l < layers; l++) {
                assertEquals(all.address() + end, gpt.layerGradients(l).address(), "layer " + l + " starts where the previous slice ends");
                end += gpt.layerGradients(l).byteSize();
            }
            assertEquals(all.byteSize(), end);

            gpt.zeroGrad();
            gpt.forward(ws, B, T, true);
            List<Integer> order = new ArrayList<>();
            float[][] atHook = new float[layers][];
            float[][] embeddingsAtHook = new float[layers][];
            gpt.backward(ws, B, T, 1f, l -> {
                order.add(l);
                atHook[l] = gpt.layerGradients(l).toArray(ValueLayout.JAVA_FLOAT);
                embeddingsAtHook[l] = gpt.embeddingGradients().toArray(ValueLayout.JAVA_FLOAT);
            });
            assertEquals(List.of(2, 1, 0), order);
            for (int l = 0; l < layers; l++) {
                float[] last = gpt.layerGradients(l).toArray(ValueLayout.JAVA_FLOAT);
                assertArrayEquals(last, atHook[l], "layer " + l + "'s gradients changed after its hook");
                assertFalse(allZero(last), "layer " + l + " has gradients");
            }
            // the embeddings are not final at any hook: the encoder's backward adds to wte and wpe after the last one
            float[] embeddings = gpt.embeddingGradients().toArray(ValueLayout.JAVA_FLOAT);
            assertFalse(Arrays.equals(embeddings, embeddingsAtHook[0]), "wte/wpe gradients are added after layer 0's hook");
        }
    }

    private static boolean allZero(float[] a) {
        for (float v : a) if (v != 0) return false;
        return true;
    }
}
