package leviathan.kernel;

import static leviathan.testing.Segments.*;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.testing.Segments;
import org.junit.jupiter.api.Test;

class EncoderTest {
    private static final int V = 65, B = 12, T = 64, C = 128;      // B·T = 768 at the default config

    @Test
    void forwardMatchesScalarExactly() {
        var rnd = new SplittableRandom(SEED);
        try (Arena arena = Arena.ofShared()) {
            for (int C : GeluTest.concat(widths(), EncoderTest.C)) {
                int B = C == EncoderTest.C ? EncoderTest.B : 2, T = C == EncoderTest.C ? EncoderTest.T : 3;
                MemorySegment wte = random(arena, (long) V * C, rnd, 1), wpe = random(arena, (long) T * C, rnd, 1);
                MemorySegment tokens = tokens(arena, B * T, V, rnd);
                MemorySegment out = floats(arena, (long) B * T * C), ref = floats(arena, (long) B * T * C);
                Encoder.forward(out, tokens, wte, wpe, B, T, C);
                Encoder.forwardScalar(ref, tokens, wte, wpe, B, T, C);
                assertSame("C=" + C, out, ref, (long) B * T * C);       // one float add per element
            }
        }
    }

    @Test
    void backwardMatchesAHandComputedScatterAdd() {
        int B = 2, T = 3, V = 5;
        int[] tok = {4, 1, 4, 1, 1, 0};                                   // repeats, and tokens 2, 3 unused
        for (int C : new int[] {8, 2 * Simd.lanes() + 3}) {
            try (Arena arena = Arena.ofShared()) {
                MemorySegment tokens = arena.allocate(tok.length * 4L, 64);
                for (int i = 0; i < tok.length; i++) tokens.setAtIndex(I32, i, tok[i]);
                MemorySegment dout = floats(arena, (long) B * T * C);
                for (int i = 0; i < B * T * C; i++) dout.setAtIndex(FL, i, (i / C + 1) + (i % C) / 100f);  // row r, column c: r+1 + c/100
                MemorySegment dwte = floats(arena, (long) V * C), dwpe = floats(arena, (long) T * C);
                dwte.setAtIndex(FL, 2L * C, 7f);                              // existing gradient: added to, not overwritten
                Encoder.backward(dwte, dwpe, dout, tokens, B, T, C);
                for (int c = 0; c < C; c++) {
                    float col = c / 100f;
                    String at = " column " + c + ", C=" + C;
                    // token 4 at rows 0 and 2; token 1 at rows 1, 3, 4; token 0 at row 5
                    assertEquals((1 + col) + (3 + col), dwte.getAtIndex(FL, 4L * C + c), 1e-5, "dwte[4]" + at);
                    assertEquals((2 + col) + (4 + col) + (5 + col), dwte.getAtIndex(FL, 1L * C + c), 1e-5, "dwte[1]" + at);
                    assertEquals(6 + col, dwte.getAtIndex(FL, c), 1e-5, "dwte[0]" + at);
                    assertEquals(c == 0 ? 7f : 0f, dwte.getAtIndex(FL, 2L * C + c), "dwte[2]" + at);
                    assertEquals(0f, dwte.getAtIndex(FL, 3L * C + c), "dwte[3]" + at);
                    // position t gets rows t (b=0) and T + t (b=1)
                    for (int t = 0; t < T; t++) {
                        assertEquals((t + 1 + col) + (T + t + 1 + col), dwpe.getAtIndex(FL, (long) t * C + c), 1e-5, "dwpe[" + t + "]" + at);
                    }
                }
            }
        }
    }

    @Test
    void backwardMatchesScalarExactlyForAnyThreadCount() {
        var rnd = new SplittableRandom(SEED + 1);
        try (Arena arena = Arena.ofShared()) {
            for (int C : GeluTest.concat(widths(), EncoderTest.C)) {
                // at the real C, B·T = 4096 rows: enough for the channel split to make several tasks
                int B = C == EncoderTest.C ? 64 : 2, T = C == EncoderTest.C ? EncoderTest.T : 5;
                MemorySegment dout = random(arena, (long) B * T * C, rnd, 1), tokens = tokens(arena, B * T, V, rnd);
                MemorySegment dwte0 = random(arena, (long) V * C, rnd, 1), dwpe0 = random(arena, (long) T * C, rnd, 1);
                MemorySegment dwteRef = copy(arena, dwte0), dwpeRef = copy(arena, dwpe0);
                Encoder.backwardScalar(dwteRef, dwpeRef, dout, tokens, B, T, C);
                for (int threads : new int[] {1, 2, 3}) {
                    MemorySegment dwte = copy(arena, dwte0), dwpe = copy(arena, dwpe0);
                    final int b = B, t = T, c = C;
                    withThreads(threads, () -> Encoder.backward(dwte, dwpe, dout, tokens, b, t, c));
                    // each float is summed over the rows in row order, as the reference does
                    assertSame("dwte C=" + C + " threads " + threads, dwte, dwteRef, (long) V * C);
                    assertSame("dwpe C=" + C + " threads " + threads, dwpe, dwpeRef, (long) T * C);
                }
            }
        }
    }

    @Test
    void forwardSameForAnyThreadCount() {
        var rnd = new SplittableRandom(SEED + 2);
        int B = 64;                                         // B·T = 4096 rows: enough for two tasks
        try (Arena arena = Arena.ofShared()) {
            MemorySegment wte = random(arena, (long) V * C, rnd, 1), wpe = random(arena, (long) T * C, rnd, 1);
            MemorySegment tokens = tokens(arena, B * T, V, rnd), ref = floats(arena, (long) B * T * C);
            Encoder.forwardScalar(ref, tokens, wte, wpe, B, T, C);
            for (int threads : new int[] {1, 2, 3}) {
                MemorySegment out = floats(arena, (long) B * T * C);
                withThreads(threads, () -> Encoder.forward(out, tokens, wte, wpe, B, T, C));
                assertSame("threads " + threads, out, ref, (long) B * T * C);
            }
        }
    }
}
