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
        forward(out, tokens, wte, wpe, 0, B * T, T, C);
    }

    /**
     * Rows {@code [from, to)} of {@link #forward(MemorySegment, MemorySegment, MemorySegment, MemorySegment, int, int, int)}
     * for sequences of length T: row {@code bt} is position {@code bt mod T}.
     */
    public static void forward(MemorySegment out, MemorySegment tokens, MemorySegment wte, MemorySegment wpe,
                               int from, int to, int T, int C) {
        if (!Simd.ENABLED) {
            forwardScalarRows(out, tokens, wte, wpe, from, to, T, C);
            return;
        }
        Forward k = FORWARD.get();
        k.out = out; k.tokens = tokens; k.wte = wte; k.wpe = wpe; k.T = T; k.C = C;
        Elementwise.forRows(from, to, Elementwise.grain(Elementwise.LIGHT_TASK, C), k);
    }

    private static final class Forward extends Elementwise.Rows {
        MemorySegment out, tokens, wte, wpe;
        int T, C;

        @Override
        void rows(int r0, int r1) { forwardRows(out, tokens, wte, wpe, r0, r1, T, C); }
    }

    private static final Parallel.Tasks<Forward> FORWARD = new Parallel.Tasks<>(Forward::new);

    private static void forwardRows(MemorySegment out, MemorySegment tokens, MemorySegment wte, MemorySegment wpe,
                                    int r0, int r1, int T, int C) {
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
    }

    /** Rows {@code [from, to)} of the scalar reference. */
    private static void forwardScalarRows(MemorySegment out, MemorySegment tokens, MemorySegment wte, MemorySegment wpe,
                                          int from, int to, int T, int C) {
        for (int bt = from; bt < to; bt++) {
            long o = (long) bt * C;
            long e = (long) tokens.getAtIndex(I32, bt) * C;
            long p = (long) (bt % T) * C;
            for (int c = 0; c < C; c++) out.setAtIndex(FL, o + c, wte.getAtIndex(FL, e + c) + wpe.getAtIndex(FL, p + c));
        }
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
        Backward k = BACKWARD.get();
        k.dwte = dwte; k.dwpe = dwpe; k.dout = dout; k.tokens = tokens; k.rows = B * T; k.T = T; k.C = C;
        Parallel.forRange((C + L - 1) / L, Elementwise.grain(Elementwise.LIGHT_TASK, (long) B * T * L), k);
    }

    private static final class Backward extends Parallel.Task {
        MemorySegment dwte, dwpe, dout, tokens;
        int rows, T, C;

        @Override
        public void run(int k0, int k1) {
            int L = F.length();
            backwardChannels(dwte, dwpe, dout, tokens, rows, T, C, k0 * L, Math.min(C, k1 * L));
        }
    }

    private static final Parallel.Tasks<Backward> BACKWARD = new Parallel.Tasks<>(Backward::new);

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
