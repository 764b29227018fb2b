package leviathan.kernel;

import static leviathan.kernel.Simd.F;
import static leviathan.kernel.Simd.NATIVE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;

/**
 * The routing kernels of the sparse mixture of experts (LEVIATHAN.md, "Variants"), for {@code n}
 * token rows, {@code E} experts and top-{@code k} routing:
 *
 * <pre>
 *   z      (n, E)    router logits (the router GEMM is the caller's)
 *   expert (n, k)    int: the chosen experts S_i, largest logit first, ties to the lower index
 *   gate   (n, k)    g_i,j = softmax over the chosen logits, in the same slot order
 *   prob   (n, E)    π_i = softmax(z_i) over all experts
 *   lse    (n)       logsumexp_e z_i,e
 * </pre>
 *
 * Dropless dispatch: the {@code n·k} (token, slot) pairs are sorted by expert with a counting sort
 * that is stable in token index, so expert {@code e} owns the contiguous positions
 * {@code [offset[e], offset[e+1])} of the gathered block, its tokens in increasing order;
 * {@code rowOf[pos]} is the token at a position and {@code posOf[i·k + j]} the position of pair
 * {@code (i, j)}. Gather, combine (the weighted scatter-add, computed as a gather per output row)
 * and their backwards run parallel over rows, each row written by one thread with its sums in slot
 * order, so results do not depend on the thread count. The expert GEMMs are {@link ExpertMlp}'s.
 *
 * <p>Every kernel takes a range of token rows {@code [from, to)} (the new rows of incremental
 * decoding) or all {@code n}; indices into the pairs ({@code offset}, {@code rowOf}, {@code posOf})
 * are indices into the whole tensors. A parallel kernel keeps its arguments in a task of its own
 * ({@link Elementwise.Rows}, one per kernel and calling thread, with a field per argument), so a call
 * allocates nothing.
 *
 * <p>Routing is scalar: a row has only {@code E} logits (8 by default), too few to fill a vector.
 * Int arrays ({@code expert}, {@code rowOf}, {@code posOf}, {@code count}, {@code offset}) are
 * {@code int32} segments.
 */
public final class Moe {
    private Moe() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT;

    // ---------------------------------------------------------------------------------------------
    // router

    /** Top-k selection, gates, full softmax and logsumexp for every row (see the class comment). */
    public static void route(MemorySegment expert, MemorySegment gate, MemorySegment prob, MemorySegment lse,
                             MemorySegment z, int n, int E, int k) {
        route(expert, gate, prob, lse, z, 0, n, E, k);
    }

    /** {@link #route(MemorySegment, MemorySegment, MemorySegment, MemorySegment, MemorySegment, int, int, int)} on rows {@code [from, to)}. */
    public static void route(MemorySegment expert, MemorySegment gate, MemorySegment prob, MemorySegment lse,
                             MemorySegment z, int from, int to, int E, int k) {
        assert 1 <= k && k <= E : "k=" + k + " E=" + E;
        Route t = ROUTE.get();
        t.expert = expert;
        t.gate = gate;
        t.prob = prob;
        t.lse = lse;
        t.z = z;
        t.E = E;
        t.k = k;
        Elementwise.forRows(from, to, Elementwise.grain(Elementwise.EXP_TASK, 2L * E), t);
    }

    /** The arguments of {@link #route}. */
    private static final class Route extends Elementwise.Rows {
        MemorySegment expert, gate, prob, lse, z;
        int E, k;

        @Override
        void rows(int r0, int r1) {
            boolean[] wide = E > 64 ? wideScratch(E) : null;
            for (int i = r0; i < r1; i++) routeRow(expert, gate, prob, lse, z, i, E, k, wide);
        }
    }

    private static final Parallel.Tasks<Route> ROUTE = new Parallel.Tasks<>(Route::new);
    private static final ThreadLocal<boolean[]> WIDE = ThreadLocal.withInitial(() -> new boolean[0]);

    /** This thread's scratch for {@link #routeRow} with more than 64 experts. */
    private static boolean[] wideScratch(int E) {
        boolean[] w = WIDE.get();
        if (w.length < E) WIDE.set(w = new boolean[E]);
        return w;
    }

    /** Scalar reference of {@link #route}: the same row function, serially. */
    public static void routeScalar(MemorySegment expert, MemorySegment gate, MemorySegment prob, MemorySegment lse,
                                   MemorySegment z, int n, int E, int k) {
        boolean[] wide = E > 64 ? new boolean[E] : null;
        for (int i = 0; i < n; i++) routeRow(expert, gate, prob, lse, z, i, E, k, wide);
    }

    /** One row; {@code takenWide} is scratch of at least E entries when {@code E > 64}, else unused. */
    private static void routeRow(MemorySegment expert, MemorySegment gate, MemorySegment prob, MemorySegment lse,
                                 MemorySegment z, int i, int E, int k, boolean[] takenWide) {
        long zrow = (long) i * E, srow = (long) i * k;
        // pass 1: top-k by repeated selection; '>' keeps the lowest index among equal logits
        long taken = 0;                                                   // bit e: expert e chosen (E <= 64)
        if (E > 64) java.util.Arrays.fill(takenWide, 0, E, false);
        else takenWide = null;
        for (int j = 0; j < k; j++) {
            int best = -1;
            float bestZ = Float.NEGATIVE_INFINITY;
            for (int e = 0; e < E; e++) {
                boolean used = takenWide != null ? takenWide[e] : (taken >>> e & 1) != 0;
                float ze = z.getAtIndex(FL, zrow + e);
                if (!used && (best < 0 || ze > bestZ)) {
                    best = e;
                    bestZ = ze;
                }
            }
            if (takenWide != null) takenWide[best] = true; else taken |= 1L << best;
            expert.setAtIndex(I32, srow + j, best);
        }
        // pass 2: gates = softmax over the chosen logits; slot 0 holds the largest, so it is the max
        float zmax = z.getAtIndex(FL, zrow + expert.getAtIndex(I32, srow));
        float gsum = 0f;
        for (int j = 0; j < k; j++) {
            float e = (float) Math.exp(z.getAtIndex(FL, zrow + expert.getAtIndex(I32, srow + j)) - zmax);
            gate.setAtIndex(FL, srow + j, e);
            gsum += e;
        }
        for (int j = 0; j < k; j++) gate.setAtIndex(FL, srow + j, gate.getAtIndex(FL, srow + j) / gsum);
        // pass 3: full softmax π and logsumexp; the chosen max is the row max
        float psum = 0f;
        for (int e = 0; e < E; e++) {
            float x = (float) Math.exp(z.getAtIndex(FL, zrow + e) - zmax);
            prob.setAtIndex(FL, zrow + e, x);
            psum += x;
        }
        for (int e = 0; e < E; e++) prob.setAtIndex(FL, zrow + e, prob.getAtIndex(FL, zrow + e) / psum);
        lse.setAtIndex(FL, i, zmax + (float) Math.log(psum));
    }

    /**
     * {@code dz[i, expert[i,j]] += g_j·(dgate_j - sum_j' g_j'·dgate_j')}: the softmax over the chosen
     * logits, backward (the selection itself carries no gradient).
     */
    public static void gateBackward(MemorySegment dz, MemorySegment dgate, MemorySegment gate, MemorySegment expert,
                                    int n, int E, int k) {
        GateBackward t = GATE_BACKWARD.get();
        t.dz = dz;
        t.dgate = dgate;
        t.gate = gate;
        t.expert = expert;
        t.E = E;
        t.k = k;
        Elementwise.forRows(0, n, Elementwise.grain(Elementwise.LIGHT_TASK, 4L * k), t);
    }

    /** The arguments of {@link #gateBackward}. */
    private static final class GateBackward extends Elementwise.Rows {
        MemorySegment dz, dgate, gate, expert;
        int E, k;

        @Override
        void rows(int r0, int r1) {
            for (int i = r0; i < r1; i++) gateBackwardRow(dz, dgate, gate, expert, i, E, k);
        }
    }

    private static final Parallel.Tasks<GateBackward> GATE_BACKWARD = new Parallel.Tasks<>(GateBackward::new);

    /** Scalar reference of {@link #gateBackward}. */
    public static void gateBackwardScalar(MemorySegment dz, MemorySegment dgate, MemorySegment gate, MemorySegment expert,
                                          int n, int E, int k) {
        for (int i = 0; i < n; i++) gateBackwardRow(dz, dgate, gate, expert, i, E, k);
    }

    private static void gateBackwardRow(MemorySegment dz, MemorySegment dgate, MemorySegment gate, MemorySegment expert,
                                        int i, int E, int k) {
        long srow = (long) i * k;
        float dot = 0f;
        for (int j = 0; j < k; j++) dot += gate.getAtIndex(FL, srow + j) * dgate.getAtIndex(FL, srow + j);
        for (int j = 0; j < k; j++) {
            long at = (long) i * E + expert.getAtIndex(I32, srow + j);
            float g = gate.getAtIndex(FL, srow + j);
            dz.setAtIndex(FL, at, dz.getAtIndex(FL, at) + g * (dgate.getAtIndex(FL, srow + j) - dot));
        }
    }

    // ---------------------------------------------------------------------------------------------
    // auxiliary losses

    /** The two auxiliary terms of one MoE layer, in loss units (already scaled by α and β). */
    public record AuxLoss(double balance, double z) {
        /** balance + z. */
        public double total() { return balance + z; }
    }

    /**
     * Load balance {@code α·E·sum_e f_e·P_e} and z-loss {@code β·mean_i lse_i²}, with
     * {@code f_e = count[e] / (k·n)} and {@code P_e = mean_i π_i,e}. Also writes {@code load[e] = f_e}
     * (for metrics) when {@code load} is not null. Sums run serially in row order (n·E terms).
     */
    public static AuxLoss auxLoss(float[] load, MemorySegment prob, MemorySegment lse, MemorySegment count,
                                  int n, int E, int k, float alpha, float beta) {
        return new AuxLoss(balance(load, prob, count, 0, n, E, k, alpha), zLoss(lse, 0, n, beta));
    }

    /** {@link #auxLoss}'s balance term over rows {@code [from, to)} ({@code n = to - from}), with no object made. */
    public static double balance(float[] load, MemorySegment prob, MemorySegment count, int from, int to, int E, int k, float alpha) {
        int n = to - from;
        double balance = 0;
        for (int e = 0; e < E; e++) {
            double f = count.getAtIndex(I32, e) / ((double) k * n), P = 0;
            for (int i = from; i < to; i++) P += prob.getAtIndex(FL, (long) i * E + e);
            balance += f * (P / n);
            if (load != null) load[e] = (float) f;
        }
        return alpha * E * balance;
    }

    /** {@link #auxLoss}'s z-loss term over rows {@code [from, to)}, with no object made. */
    public static double zLoss(MemorySegment lse, int from, int to, float beta) {
        double zsum = 0;
        for (int i = from; i < to; i++) {
            double l = lse.getAtIndex(FL, i);
            zsum += l * l;
        }
        return beta * zsum / (to - from);
    }

    /**
     * Adds {@code scale ×} the auxiliary gradients into {@code dz}:
     * <pre>
     *   d balance / dz_i,e = (α·E/n)·π_i,e·(f_e - sum_e' f_e'·π_i,e')     (softmax backward, f constant)
     *   d z-loss  / dz_i,e = (2β/n)·lse_i·π_i,e                            (d lse / dz = π)
     * </pre>
     */
    public static void auxBackward(MemorySegment dz, MemorySegment prob, MemorySegment lse, MemorySegment count,
                                   int n, int E, int k, float alpha, float beta, float scale) {
        AuxBackward t = AUX_BACKWARD.get();
        if (t.f.length < E) t.f = new float[E];                          // kept with the task: no array per call
        float[] f = t.f;
        for (int e = 0; e < E; e++) f[e] = (float) (count.getAtIndex(I32, e) / ((double) k * n));
        t.dz = dz;
        t.prob = prob;
        t.lse = lse;
        t.E = E;
        t.cb = scale * alpha * E / n;
        t.cz = scale * 2f * beta / n;
        Elementwise.forRows(0, n, Elementwise.grain(Elementwise.LIGHT_TASK, 4L * E), t);
    }

    /**
     * The arguments of {@link #auxBackward}, rows {@code [r0, r1)}: {@code f[e]} the load fractions,
     * {@code cb} and {@code cz} the scaled balance and z-loss coefficients.
     */
    private static final class AuxBackward extends Elementwise.Rows {
        MemorySegment dz, prob, lse;
        int E;
        float[] f = new float[0];
        float cb, cz;

        @Override
        void rows(int r0, int r1) {
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

    private static final Parallel.Tasks<AuxBackward> AUX_BACKWARD = new Parallel.Tasks<>(AuxBackward::new);

    // ---------------------------------------------------------------------------------------------
    // dispatch

    /**
     * Counting sort of the {@code n·k} pairs by expert, stable in token index: writes
     * {@code count (E)}, {@code offset (E+1)}, {@code rowOf (n·k)} and {@code posOf (n·k)}.
     * Serial: one pass over the pairs to count and one to place, O(n·k + E).
     */
    public static void plan(MemorySegment count, MemorySegment offset, MemorySegment rowOf, MemorySegment posOf,
                            MemorySegment expert, int n, int E, int k) {
        plan(count, offset, rowOf, posOf, expert, 0, n, E, k);
    }

    /**
     * {@link #plan(MemorySegment, MemorySegment, MemorySegment, MemorySegment, MemorySegment, int, int, int)}
     * for the token rows {@code [from, to)}: their pairs {@code [from·k, to·k)} get the positions
     * {@code [from·k, to·k)}, so {@code offset}, {@code rowOf} and {@code posOf} hold indices into the
     * whole tensors (for {@code from = 0}, the same as before).
     */
    public static void plan(MemorySegment count, MemorySegment offset, MemorySegment rowOf, MemorySegment posOf,
                            MemorySegment expert, int from, int to, int E, int k) {
        long s0 = (long) from * k, s1 = (long) to * k;
        for (int e = 0; e < E; e++) count.setAtIndex(I32, e, 0);
        for (long s = s0; s < s1; s++) {
            int e = expert.getAtIndex(I32, s);
            count.setAtIndex(I32, e, count.getAtIndex(I32, e) + 1);
        }
        int at = (int) s0;
        for (int e = 0; e < E; e++) {
            offset.setAtIndex(I32, e, at);
            at += count.getAtIndex(I32, e);
        }
        offset.setAtIndex(I32, E, at);
        // place the pairs; count[e] serves as expert e's cursor (from offset[e]) and is then put back to its count
        for (int e = 0; e < E; e++) count.setAtIndex(I32, e, offset.getAtIndex(I32, e));
        for (int i = from; i < to; i++) {                                 // token order: stable
            for (int j = 0; j < k; j++) {
                long s = (long) i * k + j;
                int e = expert.getAtIndex(I32, s), pos = count.getAtIndex(I32, e);
                count.setAtIndex(I32, e, pos + 1);
                rowOf.setAtIndex(I32, pos, i);
                posOf.setAtIndex(I32, s, pos);
            }
        }
        for (int e = 0; e < E; e++) count.setAtIndex(I32, e, count.getAtIndex(I32, e) - offset.getAtIndex(I32, e));
    }

    /** {@code xe[pos,:] = x[rowOf[pos],:]} for pos in {@code [0, n·k)}: each expert's rows, contiguous. */
    public static void gather(MemorySegment xe, MemorySegment x, MemorySegment rowOf, int n, int k, int C) {
        gather(xe, x, rowOf, 0, n, k, C);
    }

    /** {@code gather} for the pairs of token rows {@code [from, to)}: positions {@code [from·k, to·k)}. */
    public static void gather(MemorySegment xe, MemorySegment x, MemorySegment rowOf, int from, int to, int k, int C) {
        Gather t = GATHER.get();
        t.xe = xe;
        t.x = x;
        t.rowOf = rowOf;
        t.C = C;
        Elementwise.forRows(from * k, to * k, Elementwise.grain(Elementwise.LIGHT_TASK, C), t);
    }

    /** The arguments of {@link #gather}: its rows are positions of the gathered block. */
    private static final class Gather extends Elementwise.Rows {
        MemorySegment xe, x, rowOf;
        int C;

        @Override
        void rows(int p0, int p1) {
            long rowBytes = (long) C * Float.BYTES;
            for (int pos = p0; pos < p1; pos++) {
                MemorySegment.copy(x, rowOf.getAtIndex(I32, pos) * rowBytes, xe, pos * rowBytes, rowBytes);
            }
        }
    }

    private static final Parallel.Tasks<Gather> GATHER = new Parallel.Tasks<>(Gather::new);

    /**
     * {@code dx[i,:] += sum_j dxe[posOf[i,j],:]} (slots in order): the backward of {@link #gather},
     * gathered per token so each row of dx is one thread's.
     */
    public static void gatherBackward(MemorySegment dx, MemorySegment dxe, MemorySegment posOf, int n, int k, int C) {
        if (!Simd.ENABLED) {
            gatherBackwardScalar(dx, dxe, posOf, n, k, C);
            return;
        }
        GatherBackward t = GATHER_BACKWARD.get();
        t.dx = dx;
        t.dxe = dxe;
        t.posOf = posOf;
        t.k = k;
        t.C = C;
        Elementwise.forRows(0, n, Elementwise.grain(Elementwise.LIGHT_TASK, (long) C * k), t);
    }

    /** The arguments of {@link #gatherBackward}. */
    private static final class GatherBackward extends Elementwise.Rows {
        MemorySegment dx, dxe, posOf;
        int k, C;

        @Override
        void rows(int r0, int r1) { gatherBackwardRows(dx, dxe, posOf, r0, r1, k, C); }
    }

    private static final Parallel.Tasks<GatherBackward> GATHER_BACKWARD = new Parallel.Tasks<>(GatherBackward::new);

    private static void gatherBackwardRows(MemorySegment dx, MemorySegment dxe, MemorySegment posOf, int r0, int r1, int k, int C) {
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
            gatherBackwardRow(dx, dxe, posOf, i, c, k, C);
        }
    }

    private static void gatherBackwardRow(MemorySegment dx, MemorySegment dxe, MemorySegment posOf, int i, int cFrom, int k, int C) {
        for (int c = cFrom; c < C; c++) {
            float acc = dx.getAtIndex(FL, (long) i * C + c);
            for (int j = 0; j < k; j++) acc += dxe.getAtIndex(FL, (long) posOf.getAtIndex(I32, (long) i * k + j) * C + c);
            dx.setAtIndex(FL, (long) i * C + c, acc);
        }
    }

    /** Scalar reference of {@link #gatherBackward}. */
    public static void gatherBackwardScalar(MemorySegment dx, MemorySegment dxe, MemorySegment posOf, int n, int k, int C) {
        for (int i = 0; i < n; i++) gatherBackwardRow(dx, dxe, posOf, i, 0, k, C);
    }

    /**
     * {@code y[i,:] = sum_j gate[i,j]·ye[posOf[i,j],:]} (overwrites y; slots in order): the weighted
     * scatter-add of the expert outputs back to their tokens, computed as a gather per token.
     */
    public static void combine(MemorySegment y, MemorySegment ye, MemorySegment gate, MemorySegment posOf,
                               int n, int k, int C) {
        combine(y, ye, gate, posOf, 0, n, k, C);
    }

    /** {@link #combine(MemorySegment, MemorySegment, MemorySegment, MemorySegment, int, int, int)} on token rows {@code [from, to)}. */
    public static void combine(MemorySegment y, MemorySegment ye, MemorySegment gate, MemorySegment posOf,
                               int from, int to, int k, int C) {
        if (!Simd.ENABLED) {
            for (int i = from; i < to; i++) combineRow(y, ye, gate, posOf, i, 0, k, C);
            return;
        }
        Combine t = COMBINE.get();
        t.y = y;
        t.ye = ye;
        t.gate = gate;
        t.posOf = posOf;
        t.k = k;
        t.C = C;
        Elementwise.forRows(from, to, Elementwise.grain(Elementwise.LIGHT_TASK, (long) C * k), t);
    }

    /** The arguments of {@link #combine}. */
    private static final class Combine extends Elementwise.Rows {
        MemorySegment y, ye, gate, posOf;
        int k, C;

        @Override
        void rows(int r0, int r1) { combineRows(y, ye, gate, posOf, r0, r1, k, C); }
    }

    private static final Parallel.Tasks<Combine> COMBINE = new Parallel.Tasks<>(Combine::new);

    private static void combineRows(MemorySegment y, MemorySegment ye, MemorySegment gate, MemorySegment posOf,
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
            combineRow(y, ye, gate, posOf, i, c, k, C);
        }
    }

    private static void combineRow(MemorySegment y, MemorySegment ye, MemorySegment gate, MemorySegment posOf,
                                   int i, int cFrom, int k, int C) {
        for (int c = cFrom; c < C; c++) {
            float acc = 0f;
            for (int j = 0; j < k; j++) {
                long s = (long) i * k + j;
                acc += gate.getAtIndex(FL, s) * ye.getAtIndex(FL, (long) posOf.getAtIndex(I32, s) * C + c);
            }
            y.setAtIndex(FL, (long) i * C + c, acc);
        }
    }

    /** Scalar reference of {@link #combine}. */
    public static void combineScalar(MemorySegment y, MemorySegment ye, MemorySegment gate, MemorySegment posOf,
                                     int n, int k, int C) {
        for (int i = 0; i < n; i++) combineRow(y, ye, gate, posOf, i, 0, k, C);
    }

    /**
     * Backward of {@link #combine}, adding into both outputs:
     * {@code dye[posOf[i,j],:] += gate[i,j]·dy[i,:]} and {@code dgate[i,j] += dy[i,:]·ye[posOf[i,j],:]}.
     * Each position belongs to exactly one pair, so per-token rows never share an output float.
     */
    public static void combineBackward(MemorySegment dye, MemorySegment dgate, MemorySegment dy, MemorySegment ye,
                                       MemorySegment gate, MemorySegment posOf, int n, int k, int C) {
        if (!Simd.ENABLED) {
            combineBackwardScalar(dye, dgate, dy, ye, gate, posOf, n, k, C);
            return;
        }
        CombineBackward t = COMBINE_BACKWARD.get();
        t.dye = dye;
        t.dgate = dgate;
        t.dy = dy;
        t.ye = ye;
        t.gate = gate;
        t.posOf = posOf;
        t.k = k;
        t.C = C;
        Elementwise.forRows(0, n, Elementwise.grain(Elementwise.LIGHT_TASK, 2L * C * k), t);
    }

    /** The arguments of {@link #combineBackward}. */
    private static final class CombineBackward extends Elementwise.Rows {
        MemorySegment dye, dgate, dy, ye, gate, posOf;
        int k, C;

        @Override
        void rows(int r0, int r1) { combineBackwardRows(dye, dgate, dy, ye, gate, posOf, r0, r1, k, C); }
    }

    private static final Parallel.Tasks<CombineBackward> COMBINE_BACKWARD = new Parallel.Tasks<>(CombineBackward::new);

    private static void combineBackwardRows(MemorySegment dye, MemorySegment dgate, MemorySegment dy, MemorySegment ye,
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

    /** Scalar reference of {@link #combineBackward}. */
    public static void combineBackwardScalar(MemorySegment dye, MemorySegment dgate, MemorySegment dy, MemorySegment ye,
                                             MemorySegment gate, MemorySegment posOf, int n, int k, int C) {
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < k; j++) {
                long s = (long) i * k + j, dst = (long) posOf.getAtIndex(I32, s) * C;
                float g = gate.getAtIndex(FL, s), acc = 0f;
                for (int c = 0; c < C; c++) {
                    float d = dy.getAtIndex(FL, (long) i * C + c);
                    acc += d * ye.getAtIndex(FL, dst + c);
                    dye.setAtIndex(FL, dst + c, dye.getAtIndex(FL, dst + c) + g * d);
                }
                dgate.setAtIndex(FL, s, dgate.getAtIndex(FL, s) + acc);
            }
        }
    }
}
