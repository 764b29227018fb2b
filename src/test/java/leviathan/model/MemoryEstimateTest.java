package leviathan.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import leviathan.backend.JavaBackend;
import leviathan.train.Optimizer;
import org.junit.jupiter.api.Test;

/** The memory estimate matches what the model, its workspace and AdamW really allocate, and refuses what cannot fit. */
class MemoryEstimateTest {

    @Test
    void theEstimateMatchesTheAllocations() {
        for (String parts : new String[] {"correlation", "dot", "involution", "correlation+moe"}) {
            String[] p = parts.split("\\+");
            java.util.Map<String, String> o = java.util.Map.of("lags", "3", "window", "4", "n_expert", "3");
            GptConfig c = new GptConfig(11, 16, 2, 2, 16, leviathan.nn.Parts.mixerSpec(p[0], o),
                    leviathan.nn.Parts.mlpSpec(p.length > 1 ? p[1] : "dense", o));
            int B = 3, T = 13;
            var train = MemoryEstimate.breakdown(c, B, T, true);
            var infer = MemoryEstimate.breakdown(c, B, T, false);
            try (Gpt m = Gpt.init(c, 1);
                 JavaBackend backend = new JavaBackend();
                 Workspace ws = m.workspace(backend, B, T, true);
                 Workspace inf = m.workspace(backend, B, T, false);
                 Optimizer opt = new Optimizer(m, Optimizer.Kind.ADAMW, 0.9f, 0.99f, 1e-8f, 0.1f)) {
                long params = m.params().all().byteSize();
                assertEquals(params, train.parameters());
                assertEquals(m.grads().all().byteSize(), train.gradients());
                assertEquals(opt.firstMoments().all().byteSize() + opt.secondMoments().all().byteSize(), train.moments());
                assertEquals(ws.byteSize(), train.activations() + train.activationGrads());
                assertEquals(inf.byteSize(), infer.activations());
                assertEquals(0, infer.gradients() + infer.moments() + infer.activationGrads());
                assertEquals(train.total(), MemoryEstimate.estimateBytes(c, B, T, true));
                assertTrue(train.total() > infer.total());
            }
        }
    }

    @Test
    void aConfigurationLargerThanTheMachineIsRefusedWithTheNumbers() {
        // 2^24 tokens per micro-batch at n_embd 2048: terabytes of activations, more than any machine here
        GptConfig c = GptConfig.of(65, 1024, 1, 32, 2048, "correlation", 4);
        long budget = MemoryEstimate.budgetBytes();
        assertTrue(budget > 0);
        var e = assertThrows(IllegalArgumentException.class, () -> MemoryEstimate.require(c, 16384, 1024, true, "use a smaller --batch-size"));
        String m = e.getMessage();
        assertTrue(m.startsWith("training this model with 16384 × 1024 tokens needs about "), m);
        assertTrue(m.contains("TiB (parameters ") && m.contains("activation gradients"), m);
        assertTrue(m.contains("more than the " + MemoryEstimate.bytes(budget) + " of memory this machine has"), m);
        assertTrue(m.endsWith("; use a smaller --batch-size"), m);
        // a tiny model passes
        MemoryEstimate.require(GptConfig.of(11, 16, 1, 2, 16, "dot", 1), 2, 16, true, "");
    }

    @Test
    void bytesAreReadable() {
        assertEquals("512 B", MemoryEstimate.bytes(512));
        assertEquals("1.50 KiB", MemoryEstimate.bytes(1536));
        assertEquals("10.0 MiB", MemoryEstimate.bytes(10L << 20));
        assertEquals("2.00 TiB", MemoryEstimate.bytes(2L << 40));
    }
}
