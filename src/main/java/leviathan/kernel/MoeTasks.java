package leviathan.kernel;

import static leviathan.kernel.Simd.F;
import static leviathan.kernel.Simd.NATIVE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;

/**
 * The parallel side of {@link Moe}'s kernels: their reusable tasks ({@link Parallel.Task}, one per
 * kernel and calling thread, so a call allocates nothing) and the vector row loops of the dispatch.
 * A separate class only to keep each file under the project's 400-line limit; the definitions and
 * scalar references are in {@link Moe}.
 */
final class MoeTasks {
    private MoeTasks() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT;

    /**
     * The arguments of a row-parallel kernel, reused call after call (a call allocates nothing):
     * segments in the order of the kernel's parameters, rows {@code from + [r0, r1)}.
     */
    abstract static class Rows extends Parallel.Task {
        MemorySegment s0, s1, s2, s3, s4, s5;
        int from, E, k, C;

        void set(MemorySegment s0, MemorySegment s1, MemorySegment s2, MemorySegment s3, MemorySegment s4, MemorySegment s5,
                 int from, int E, int k, int C) {
            this.s0 = s0; this.s1 = s1; this.s2 = s2; this.s3 = s3; this.s4 = s4; this.s5 = s5;
            this.from = from; this.E = E; this.k = k; this.C = C;
        }
    }

    private static final class RouteRows extends Rows {
        @Override
        public void run(int r0, int r1) {
            boolean[] wide = E > 64 ? wideScratch(E) : null;
            for (int i = from + r0; i < from + r1; i++) Moe.routeRow(s0, s1, s2, s3, s4, i, E, k, wide);
        }
    }

    static final Parallel.Tasks<Rows> ROUTE = new Parallel.Tasks<>(RouteRows::new);
    private static final ThreadLocal<boolean[]> WIDE = ThreadLocal.withInitial(() -> new boolean[0]);

    /** This thread's scratch for {@link Moe#routeRow} with more than 64 experts. */
    private static boolean[] wideScratch(int E) {
        boolean[] w = WIDE.get();
        if (w.length < E) WIDE.set(w = new boolean[E]);
        return w;
    }

    private static final class GateBackwardRows extends Rows {
        @Override
        public void run(int r0, int r1) {
            for (int i = from + r0; i < from + r1; i++) Moe.gateBackwardRow(s0, s1, s2, s3, i, E, k);
        }
    }

    static final Parallel.Tasks<Rows> GATE_BACKWARD = new Parallel.Tasks<>(GateBackwardRows::new);

    static final class AuxBackward extends Rows {
        float[] f = new float[0];
        float cb, cz;

        @Override
        public void run(int r0, int r1) {
            MemorySegment dz = s0, prob = s1, lse = s2;
            for (int i = r0; i < r1; i++) {
                long row = (long) i * E;
                float fp = 0f;
                for (int e = 0; e < E; e++) fp += f[e] * prob.getAtIndex(FL, row + e);
                float zl = cz * lse.getAtIndex(FL, i);
                for (int e = 0; e < E; e++) {
                    float p = prob.getAtIndex(FL, row + e);
                    dz.setAtIndex(FL, row + e, dz.getAtIndex(FL, row + e) + cb * p * (f[e] - fp) + zl * p);
                }
            }
        }
    }

    static final Parallel.Tasks<AuxBackward> AUX_BACKWARD = new Parallel.Tasks<>(AuxBackward::new);
    private static final class GatherRows extends Rows {
        @Override
        public void run(int p0, int p1) {
            long rowBytes = (long) C * Float.BYTES;
            for (int pos = from + p0; pos < from + p1; pos++) {
                MemorySegment.copy(s1, s2.getAtIndex(I32, pos) * rowBytes, s0, pos * rowBytes, rowBytes);
            }
        }
    }

    static final Parallel.Tasks<Rows> GATHER = new Parallel.Tasks<>(GatherRows::new);

    private static final class GatherBackwardRows extends Rows {
        @Override
        public void run(int r0, int r1) { gatherBackwardRows(s0, s1, s2, r0, r1, k, C); }
    }

    static final Parallel.Tasks<Rows> GATHER_BACKWARD = new Parallel.Tasks<>(GatherBackwardRows::new);

    static void gatherBackwardRows(MemorySegment dx, MemorySegment dxe, MemorySegment posOf, int r0, int r1, int k, int C) {
        int L = F.length(), bound = F.loopBound(C);
        for (int i = r0; i < r1; i++) {
            long row = (long) i * C;
            int c = 0;
            for (; c < bound; c += L) {
                var acc = FloatVector.fromMemorySegment(F, dx, (row + c) * Float.BYTES, NATIVE);
                for (int j = 0; j < k; j++) {
                    long src = (long) posOf.getAtIndex(I32, (long) i * k + j) * C + c;
                    acc = acc.add(FloatVector.fromMemorySegment(F, dxe, src * Float.BYTES, NATIVE));
                }
                acc.intoMemorySegment(dx, (row + c) * Float.BYTES, NATIVE);
            }
            Moe.gatherBackwardRow(dx, dxe, posOf, i, c, k, C);
        }
    }

    private static final class CombineRows extends Rows {
        @Override
        public void run(int r0, int r1) { combineRows(s0, s1, s2, s3, from + r0, from + r1, k, C); }
    }

    static final Parallel.Tasks<Rows> COMBINE = new Parallel.Tasks<>(CombineRows::new);

    static void combineRows(MemorySegment y, MemorySegment ye, MemorySegment gate, MemorySegment posOf,
                                    int r0, int r1, int k, int C) {
        int L = F.length(), bound = F.loopBound(C);
        for (int i = r0; i < r1; i++) {
            long row = (long) i * C;
            int c = 0;
            for (; c < bound; c += L) {
                var acc = FloatVector.zero(F);
                for (int j = 0; j < k; j++) {
                    long s = (long) i * k + j;
                    long src = (long) posOf.getAtIndex(I32, s) * C + c;
                    var g = FloatVector.broadcast(F, gate.getAtIndex(FL, s));
                    acc = FloatVector.fromMemorySegment(F, ye, src * Float.BYTES, NATIVE).fma(g, acc);
                }
                acc.intoMemorySegment(y, (row + c) * Float.BYTES, NATIVE);
            }
            Moe.combineRow(y, ye, gate, posOf, i, c, k, C);
        }
    }

    private static final class CombineBackwardRows extends Rows {
        @Override
        public void run(int r0, int r1) { combineBackwardRows(s0, s1, s2, s3, s4, s5, r0, r1, k, C); }
    }

    static final Parallel.Tasks<Rows> COMBINE_BACKWARD = new Parallel.Tasks<>(CombineBackwardRows::new);

    static void combineBackwardRows(MemorySegment dye, MemorySegment dgate, MemorySegment dy, MemorySegment ye,
                                            MemorySegment gate, MemorySegment posOf, int r0, int r1, int k, int C) {
        int L = F.length(), bound = F.loopBound(C);
        for (int i = r0; i < r1; i++) {
            long row = (long) i * C;
            for (int j = 0; j < k; j++) {
                long s = (long) i * k + j, dst = (long) posOf.getAtIndex(I32, s) * C;
                float g = gate.getAtIndex(FL, s);
                var gv = FloatVector.broadcast(F, g);
                var dot = FloatVector.zero(F);
                int c = 0;
                for (; c < bound; c += L) {
                    var d = FloatVector.fromMemorySegment(F, dy, (row + c) * Float.BYTES, NATIVE);
                    long off = (dst + c) * Float.BYTES;
                    dot = d.fma(FloatVector.fromMemorySegment(F, ye, off, NATIVE), dot);
                    d.fma(gv, FloatVector.fromMemorySegment(F, dye, off, NATIVE)).intoMemorySegment(dye, off, NATIVE);
                }
                float acc = VectorMath.sum(dot);
                for (; c < C; c++) {
                    float d = dy.getAtIndex(FL, row + c);
                    acc += d * ye.getAtIndex(FL, dst + c);
                    dye.setAtIndex(FL, dst + c, dye.getAtIndex(FL, dst + c) + g * d);
                }
                dgate.setAtIndex(FL, s, dgate.getAtIndex(FL, s) + acc);
            }
        }
    }
}
