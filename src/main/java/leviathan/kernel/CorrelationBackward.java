package leviathan.kernel;

import static leviathan.kernel.Correlation.lag;
import static leviathan.kernel.Correlation.loadBias;
import static leviathan.kernel.Correlation.loadPeriodic;
import static leviathan.kernel.Correlation.loadRow;
import static leviathan.kernel.Correlation.periodic;
import static leviathan.kernel.Correlation.shiftSum;
import static leviathan.kernel.Correlation.shiftedRows;
import static leviathan.kernel.Correlation.transpose;
import static leviathan.kernel.Correlation.wrap;
import static leviathan.kernel.CorrelationTiles.L;
import static leviathan.kernel.CorrelationTiles.gemm;
import static leviathan.kernel.CorrelationTiles.padLanes;
import static leviathan.kernel.CorrelationTiles.padRows;
import static leviathan.kernel.VectorMath.exp;
import static leviathan.kernel.Simd.F;
import static leviathan.kernel.Simd.NATIVE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

/**
 * The backward of multi-head correlation for one (sequence, head): the scalar reference
 * ({@link #backwardScalarHead}) and, beside it, the direct SIMD kernel ({@link #backwardHead}) that
 * optimises it. Layouts, formulas and the public entry points ({@link Correlation#backwardScalar},
 * {@link Correlation#backward}) are in {@link Correlation}, which also holds the forward and the
 * row helpers both directions share; the two classes are split by direction only to keep each file
 * under the project's 400-line limit on source files.
 */
final class CorrelationBackward {
    private CorrelationBackward() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    /** {@link Correlation#backwardScalar} for head h of sequence b: adds into dqkv, writes its Σ g_s per lag to {@code dbias[at..at+N)}. */
    static void backwardScalarHead(Dropout.Mask drop, float[] dbias, int at, MemorySegment dqkv, MemorySegment dout, MemorySegment out,
                                   MemorySegment lse, MemorySegment qkv, MemorySegment lagBias,
                                   int b, int h, int T, int C, int H, int N) {
        int D = C / H;
        float scale = (float) (1.0 / Math.sqrt(D));
        Arrays.fill(dbias, at, at + N, 0f);
        for (int i = 0; i < T; i++) {
            long q = ((long) b * T + i) * 3 * C + (long) h * D;
            long go = ((long) b * T + i) * C + (long) h * D;
            float rowDot = 0f;
            for (int d = 0; d < D; d++) rowDot += dout.getAtIndex(FL, go + d) * out.getAtIndex(FL, go + d);
            float logSum = lse.getAtIndex(FL, ((long) b * H + h) * T + i);
            for (int j = 0; j <= i; j++) {
                long k = ((long) b * T + j) * 3 * C + C + (long) h * D;
                long v = k + C;
                for (int t = 0; t < N; t++) {
                    int shift = lag(t, N);
                    float dot = 0f, gp = 0f;
                    for (int d = 0; d < D; d++) {
                        int dd = wrap(d, shift, D);
                        dot += qkv.getAtIndex(FL, q + d) * qkv.getAtIndex(FL, k + dd);
                        gp += dout.getAtIndex(FL, go + d) * qkv.getAtIndex(FL, v + dd);
                    }
                    float bias = lagBias == null ? 0f : lagBias.getAtIndex(FL, (long) h * N + t);
                    float p = (float) Math.exp(dot * scale + bias - logSum);
                    // with dropout the values saw p' = p·m: dv takes p', and g_p reaches p through the mask
                    float m = drop == null ? 1f : drop.factor(Correlation.dropIndex(drop, b, h, i, j, t, H, T, N));
                    float gs = p * (gp * m - rowDot);
                    for (int d = 0; d < D; d++) {
                        int dd = wrap(d, shift, D);
                        add(dqkv, v + dd, p * m * dout.getAtIndex(FL, go + d));
                        add(dqkv, q + d, gs * scale * qkv.getAtIndex(FL, k + dd));
                        add(dqkv, k + dd, gs * scale * qkv.getAtIndex(FL, q + d));
                    }
                    dbias[at + t] += gs;
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------
    // The direct SIMD kernel
    // ---------------------------------------------------------------------------------------

    /** The direct kernel's backward of head h of sequence b ({@link CorrelationImpl#backwardHead}). */
    static void backwardHead(CorrelationWorkspace ws, CorrelationWorkspace.Part w, Dropout.Mask drop, float[] dbias, int at, MemorySegment dqkv,
                             MemorySegment dout, MemorySegment out, MemorySegment lse, MemorySegment qkv,
                             MemorySegment lagBias, int b, int h, int T) {
        if (!Simd.ENABLED) {
            backwardScalarHead(drop, dbias, at, dqkv, dout, out, lse, qkv, lagBias, b, h, T, ws.C, ws.H, ws.N);
            return;
        }
        final int C = ws.C, H = ws.H, N = ws.N, D = ws.D, Dp = ws.Dp, Tp = ws.Tp, Us = ws.Us;
        final float scale = (float) (1.0 / Math.sqrt(D));
        long q0 = (long) b * T * 3 * C + (long) h * D;                 // q_0 of this head in qkv / dqkv
        long o0 = (long) b * T * C + (long) h * D;                     // o_0 / g_o_0 in out / dout
        final int Dq = D + Dp;
        for (int j = 0; j < T; j++) {                                    // pass 0: this head's rows, in one sweep
            long row = q0 + (long) j * 3 * C, orow = o0 + (long) j * C;
            loadPeriodic(w.qP, j * Dq, qkv, row, D, Dp);
            loadRow(w.kP, j * Dp, qkv, row + C, D);
            loadRow(w.vP, j * Dp, qkv, row + 2L * C, D);              // vP: a staging area for Vᵀ
            loadPeriodic(w.goP, j * Dq, dout, orow, D, Dp);
            loadRow(w.row, 0, out, orow, D);
            w.rowDot[j] = CorrelationTiles.dot(w.goP, j * Dq, w.row, 0, D);   // g_o·o, the softmax row term
        }
        transpose(w.vT, w.vP, T, D, Dp, Tp, w.rowStarts);
        transpose(w.kT, w.kP, T, D, Dp, Tp, w.rowStarts);
        loadBias(w.bias, lagBias, h, N);
        int Tr = padRows(T), Rb = CorrelationWorkspace.backwardQueries(T, N);
        Arrays.fill(w.dK, 0, Tr * Dp, 0f);
        Arrays.fill(w.dV, 0, Tr * Dp, 0f);
        Arrays.fill(w.gacc, 0f);
        for (int i0 = 0; i0 < T; i0 += Rb) {
            int i1 = Math.min(T, i0 + Rb), M = (i1 - i0) * N, Mp = padRows(M), jc = padLanes(i1);
            for (int i = i0; i < i1; i++) {                              // QS and GOS rows
                shiftedRows(w.qs, w.qP, i * Dq, (i - i0) * N, N, D, Dp, scale);
                shiftedRows(w.gos, w.goP, i * Dq, (i - i0) * N, N, D, Dp, 1f);
            }
            gemm(Mp, jc / L, D, w.qs, 0, Dp, 1, w.kT, 0, Tp, w.s, 0, Tp, false);      // S = QS·Kᵀ
            gemm(Mp, jc / L, D, w.gos, 0, Dp, 1, w.vT, 0, Tp, w.g, 0, Tp, false);     // G = GOS·Vᵀ
            for (int i = i0; i < i1; i++) {                              // P and G_S, rows (i, ·)
                float logSum = lse.getAtIndex(FL, ((long) b * H + h) * T + i);
                if (drop == null) gradRows(w.s, w.g, (i - i0) * N, N, Tp, i + 1, jc, w.bias, logSum, w.rowDot[i], w.gacc, null);
                else gradRowsDropped(drop, w, (i - i0) * N, N, Tp, i + 1, jc, logSum, w.rowDot[i], b, h, i, T, H);
            }
            int Kr = padRows(i1);                                        // key rows touched (zeros past i1)
            gemm(Kr, Dp / L, M, w.s, 0, 1, Tp, w.gos, 0, Dp, w.dV, 0, Dp, true);      // dV += Pᵀ·GOS
            gemm(Kr, Dp / L, M, w.g, 0, 1, Tp, w.qs, 0, Dp, w.dK, 0, Dp, true);       // dK += G_Sᵀ·QS
            gemm(Mp, Dp / L, i1, w.g, 0, Tp, 1, w.kP, 0, Dp, w.u, 0, Us, false, periodic(N, D, Dp));  // U = G_S·K
            for (int i = i0; i < i1; i++) {                              // dq_i = Σ_t S_t U[(i,t)] / sqrt(D)
                shiftSum(w.dQ, i * Dp, w.u, (i - i0) * N, N, D, Dp, Us, scale);
            }
        }
        for (int j = 0; j < T; j++) {                                    // add dq, dk, dv to dqkv, in one sweep
            long row = q0 + (long) j * 3 * C;
            addRow(dqkv, row, w.dQ, j * Dp, D);
            addRow(dqkv, row + C, w.dK, j * Dp, D);
            addRow(dqkv, row + 2L * C, w.dV, j * Dp, D);
        }
        for (int t = 0; t < N; t++) dbias[at + t] = VectorMath.sum(w.gacc, t * L);   // an array crosses the call: nothing boxed
    }

    /** {@code seg[base + d] += src[off + d]}, d < D. */
    private static void addRow(MemorySegment seg, long base, float[] src, int off, int D) {
        long o = base * Float.BYTES;
        int d = 0;
        for (; d + L <= D; d += L) {
            long od = o + (long) d * Float.BYTES;
            FloatVector.fromMemorySegment(F, seg, od, NATIVE).add(FloatVector.fromArray(F, src, off + d)).intoMemorySegment(seg, od, NATIVE);
        }
        if (d < D) {
            long od = o + (long) d * Float.BYTES;
            var m = F.indexInRange(d, D);
            FloatVector.fromMemorySegment(F, seg, od, NATIVE, m).add(FloatVector.fromArray(F, src, off + d)).intoMemorySegment(seg, od, NATIVE, m);
        }
    }

    /**
     * The backward's softmax pass over the rows {@code r0..r0+N-1} of one query:
     * {@code p = exp(s + bias[t] - lse)} into s, {@code g_s = p·(g_p - rowDot)} into g (both 0 for
     * {@code n <= j < jc}), and the lanes of {@code Σ_j g_s} added to {@code gacc[t·L ..]} (reduced
     * once per head, in lane order).
     */
    private static void gradRows(float[] s, float[] g, int r0, int N, int ld, int n, int jc, float[] bias,
                                 float logSum, float rowDot, float[] gacc, float[] mask) {
        for (int t = 0; t < N; t++) {
            int base = (r0 + t) * ld, j = 0;
            float c = bias[t] - logSum;
            var acc = FloatVector.fromArray(F, gacc, t * L);
            for (; j < n; j += L) {
                var p = exp(FloatVector.fromArray(F, s, base + j).add(c));
                var gp = FloatVector.fromArray(F, g, base + j);
                if (mask != null) {                                         // dropout: g_p through the mask, p' for dV
                    var m = FloatVector.fromArray(F, mask, t * ld + j);
                    gp = gp.mul(m);
                    var gs = p.mul(gp.sub(rowDot));
                    p = p.mul(m);
                    if (j + L > n) {
                        VectorMask<Float> tail = F.indexInRange(j, n).not();
                        p = p.blend(0f, tail);
                        gs = gs.blend(0f, tail);
                    }
                    p.intoArray(s, base + j);
                    gs.intoArray(g, base + j);
                    acc = acc.add(gs);
                    continue;
                }
                var gs = p.mul(gp.sub(rowDot));
                if (j + L > n) {
                    VectorMask<Float> tail = F.indexInRange(j, n).not();
                    p = p.blend(0f, tail);
                    gs = gs.blend(0f, tail);
                }
                p.intoArray(s, base + j);
                gs.intoArray(g, base + j);
                acc = acc.add(gs);
            }
            acc.intoArray(gacc, t * L);
            for (; j < jc; j += L) {
                FloatVector.zero(F).intoArray(s, base + j);
                FloatVector.zero(F).intoArray(g, base + j);
            }
        }
    }

    /**
     * {@link #gradRows} with dropout: the mask factors of query i's weights (j < n, every lag) are
     * hashed into {@code w.mask} first (zero past n), then the vector pass applies them.
     */
    private static void gradRowsDropped(Dropout.Mask drop, CorrelationWorkspace.Part w, int r0, int N, int ld, int n, int jc,
                                        float logSum, float rowDot, int b, int h, int i, int T, int H) {
        float[] mask = w.mask;
        for (int t = 0; t < N; t++) {
            int base = t * ld;
            for (int j = 0; j < jc; j++) mask[base + j] = j < n ? drop.factor(Correlation.dropIndex(drop, b, h, i, j, t, H, T, N)) : 0f;
        }
        gradRows(w.s, w.g, r0, N, ld, n, jc, w.bias, logSum, rowDot, w.gacc, mask);
    }

    private static void add(MemorySegment s, long i, float x) { s.setAtIndex(FL, i, s.getAtIndex(FL, i) + x); }
}
