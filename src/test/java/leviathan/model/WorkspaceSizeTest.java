package leviathan.model;

import static org.junit.jupiter.api.Assertions.assertEquals;

import leviathan.backend.JavaBackend;
import org.junit.jupiter.api.Test;

/** The activation-memory formula in {@link Workspace}'s comment against {@link MemoryEstimate} and what a workspace allocates. */
class WorkspaceSizeTest {
    /** The comment's formula; exact when every tensor is a whole number of 64-byte lines (rows a multiple of 16). */
    static long formula(GptConfig c, int B, int T, boolean training) {
        long rows = (long) B * T, C = c.nEmbd(), H = c.nHead(), V = c.vocabSize();
        long mixer = "dot".equals(c.attention()) || "correlation".equals(c.attention()) ? 4 * C + H : -1;
        long perLayer = 4 * rows * (4 * C + 4 + mixer + 8 * C);                 // dense MLP
        long outside = 4 * rows * (2 * C + 2 * V + 3);
        return (training ? 2 : 1) * (c.nLayer() * perLayer + outside) + 8 * rows;     // the ids are not doubled
    }

    @Test
    void theFormulaMatchesTheWorkspace() {
        for (String attention : new String[] {"correlation", "dot"}) {
            for (int[] d : new int[][] {{4, 2, 32, 16, 4}, {6, 6, 384, 256, 12}, {2, 4, 128, 2048, 1}, {1, 1, 48, 64, 16}}) {
                GptConfig c = GptConfig.of(65, d[3], d[0], d[1], d[2], attention, "dot".equals(attention) ? 1 : 4);
                int B = d[4], T = d[3];
                assertEquals(16 * C(c) + c.nHead() + 4, Workspace.layerFloatsPerRow(c, 0), c.describe());
                for (boolean training : new boolean[] {false, true}) {
                    MemoryEstimate.Breakdown b = MemoryEstimate.breakdown(c, B, T, training);
                    assertEquals(formula(c, B, T, training), b.activations() + b.activationGrads(), c.describe() + " training " + training);
                }
            }
        }
        // and the estimate is what a workspace really holds
        GptConfig c = GptConfig.of(65, 32, 2, 2, 32, "correlation", 3);
        try (Gpt m = Gpt.init(c, 1); Workspace ws = m.workspace(new JavaBackend(), 4, 32, true)) {
            MemoryEstimate.Breakdown b = MemoryEstimate.breakdown(c, 4, 32, true);
            assertEquals(b.activations() + b.activationGrads(), ws.byteSize());
        }
    }

    static long C(GptConfig c) { return c.nEmbd(); }
}
