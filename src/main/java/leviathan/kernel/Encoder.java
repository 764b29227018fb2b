package leviathan.kernel;

import static leviathan.kernel.Simd.F;
import static leviathan.kernel.Simd.NATIVE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;

/**
 * Token + position embedding: {@code out[b,t,:] = wte[tokens[b,t],:] + wpe[t,:]}.
 * Shapes: out {@code (B,T,C)}, tokens {@code (B,T)} int32, wte {@code (V,C)}, wpe {@code (maxT,C)}.
 */
public final class Encoder {
    private Encoder() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT;

    /** Vector path parallel over the {@code B·T} rows. */
    public static void forward(MemorySegment out, MemorySegment tokens, MemorySegment wte, MemorySegment wpe,
                               int B, int T, int C) {
        if (!Simd.ENABLED) {
            forwardScalar(out, tokens, wte, wpe, B, T, C);
            return;
        }
        Parallel.forRange(B * T, Elementwise.grain(Elementwise.LIGHT_TASK, C), (r0, r1) -> {
            int L = F.length(), bound = F.loopBound(C);
            for (int bt = r0; bt < r1; bt++) {
                long o = (long) bt * C;
                long e = (long) tokens.getAtIndex(I32, bt) * C;
                long p = (long) (bt % T) * C;
                int c = 0;
                for (; c < bound; c += L) {
                    FloatVector.fromMemorySegment(F, wte, (e + c) * Float.BYTES, NATIVE)
                            .add(FloatVector.fromMemorySegment(F, wpe, (p + c) * Float.BYTES, NATIVE))
                            .intoMemorySegment(out, (o + c) * Float.BYTES, NATIVE);
                }
                for (; c < C; c++) out.setAtIndex(FL, o + c, wte.getAtIndex(FL, e + c) + wpe.getAtIndex(FL, p + c));
            }
        });
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

    /**
     * Scatter-add: {@code dwte[tokens[b,t]] += dout[b,t]}, {@code dwpe[t] += dout[b,t]}.
     *
     * <p>Several rows hit the same token (and every batch element the same position), so rows cannot
     * be split over threads without racing. The vector path splits the channels instead: each thread
     * owns a block of columns of {@code dwte} and {@code dwpe} and walks all rows in order, so no two
     * threads write the same float and every sum is taken in the scalar reference's order: the result
     * equals the reference exactly, for any thread count.
     */
    public static void backward(MemorySegment dwte, MemorySegment dwpe, MemorySegment dout, MemorySegment tokens,
                                int B, int T, int C) {
        if (!Simd.ENABLED) {
            backwardScalar(dwte, dwpe, dout, tokens, B, T, C);
            return;
        }
        int L = F.length();
        Parallel.forRange((C + L - 1) / L, Elementwise.grain(Elementwise.LIGHT_TASK, (long) B * T * L), (k0, k1) ->
                backwardChannels(dwte, dwpe, dout, tokens, B * T, T, C, k0 * L, Math.min(C, k1 * L)));
    }

    /** Channels {@code [c0, c1)} of the scatter-add, rows in order. */
    static void backwardChannels(MemorySegment dwte, MemorySegment dwpe, MemorySegment dout, MemorySegment tokens,
                                 int rows, int T, int C, int c0, int c1) {
        int L = F.length(), bound = c0 + F.loopBound(c1 - c0);
        for (int bt = 0; bt < rows; bt++) {
            long o = (long) bt * C;
            long e = (long) tokens.getAtIndex(I32, bt) * C;
            long p = (long) (bt % T) * C;
            int c = c0;
            for (; c < bound; c += L) {
                var d = FloatVector.fromMemorySegment(F, dout, (o + c) * Float.BYTES, NATIVE);
                long we = (e + c) * Float.BYTES, wp = (p + c) * Float.BYTES;
                FloatVector.fromMemorySegment(F, dwte, we, NATIVE).add(d).intoMemorySegment(dwte, we, NATIVE);
                FloatVector.fromMemorySegment(F, dwpe, wp, NATIVE).add(d).intoMemorySegment(dwpe, wp, NATIVE);
            }
            for (; c < c1; c++) {
                float d = dout.getAtIndex(FL, o + c);
                dwte.setAtIndex(FL, e + c, dwte.getAtIndex(FL, e + c) + d);
                dwpe.setAtIndex(FL, p + c, dwpe.getAtIndex(FL, p + c) + d);
            }
        }
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
