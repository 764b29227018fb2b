package leviathan.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Token + position embedding: {@code out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:]}.
 * Shapes: out {@code (B,T,C)}, tokens {@code (B,T)} int32, wte {@code (V,C)}, wpe {@code (maxT,C)}.
 */
public final class Encoder {
    private Encoder() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT;

    public static void forward(MemorySegment out, MemorySegment tokens, MemorySegment wte, MemorySegment wpe,
                               int B, int T, int C) {
        forwardScalar(out, tokens, wte, wpe, B, T, C);
    }

    public static void forwardScalar(MemorySegment out, MemorySegment tokens, MemorySegment wte, MemorySegment wpe,
                                     int B, int T, int C) {
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T; t++) {
                long o = ((long) b * T + t) * C;
                long e = (long) tokens.getAtIndex(I32, (long) b * T + t) * C;
                long p = (long) t * C;
                for (int c = 0; c < C; c++) {
                    out.setAtIndex(FL, o + c, wte.getAtIndex(FL, e + c) + wpe.getAtIndex(FL, p + c));
                }
            }
        }
    }

    /** Scatter-add: {@code dwte[tokens[b,t]] += dout[b,t]}, {@code dwpe[t] += dout[b,t]}. */
    public static void backward(MemorySegment dwte, MemorySegment dwpe, MemorySegment dout, MemorySegment tokens,
                                int B, int T, int C) {
        backwardScalar(dwte, dwpe, dout, tokens, B, T, C);
    }

    public static void backwardScalar(MemorySegment dwte, MemorySegment dwpe, MemorySegment dout, MemorySegment tokens,
                                      int B, int T, int C) {
        for (int b = 0; b < B; b++) {
            for (int t = 0; t < T; t++) {
                long o = ((long) b * T + t) * C;
                long e = (long) tokens.getAtIndex(I32, (long) b * T + t) * C;
                long p = (long) t * C;
                for (int c = 0; c < C; c++) {
                    float d = dout.getAtIndex(FL, o + c);
                    dwte.setAtIndex(FL, e + c, dwte.getAtIndex(FL, e + c) + d);
                    dwpe.setAtIndex(FL, p + c, dwpe.getAtIndex(FL, p + c) + d);
                }
            }
        }
    }
}
