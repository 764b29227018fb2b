package leviathan.kernel;

import static leviathan.testing.Close.assertClose;
import static leviathan.testing.Segments.*;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.testing.Segments;
import org.junit.jupiter.api.Test;

class MoeTest {

    static MemorySegment ints(Arena arena, long n) {
        return arena.allocate(Math.max(1, n) * Integer.BYTES, 64);
    }

    static int[] toInts(MemorySegment s, int n) {
        int[] a = new int[n];
        for (int i = 0; i < n; i++) a[i] = s.getAtIndex(I32, i);
        return a;
    }

    static MemorySegment of(Arena arena, float... v) {
        MemorySegment s = floats(arena, v.length);
        for (int i = 0; i < v.length; i++) s.setAtIndex(FL, i, v[i]);
        return s;
    }

    @Test
    void topKBreaksTiesToTheLowerIndexAndGatesAreTheChosenSoftmax() {
        int E = 4, k = 2, n = 4;
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment z = of(arena, 1, 3, 3, 0,   2, 2, 2, 2,   -1, 5, -1, 4,   0, 0, 7, 0);
            MemorySegment expert = ints(arena, n * k), gate = floats(arena, n * k), prob = floats(arena, n * E), lse = floats(arena, n);
            Moe.route(expert, gate, prob, lse, z, n, E, k);
            assertArrayEquals(new int[] {1, 2, 0, 1, 1, 3, 2, 0}, toInts(expert, n * k));
            for (int i = 0; i < n; i++) {
                double zsum = 0, psum = 0;
                for (int e = 0; e < E; e++) {
                    zsum += Math.exp(z.getAtIndex(FL, i * E + e));
                    psum += prob.getAtIndex(FL, i * E + e);
                }
                assertEquals(1.0, psum, 1e-6, "π row " + i);
                assertEquals(Math.log(zsum), lse.getAtIndex(FL, i), 1e-6, "lse row " + i);
                double chosen = 0;
                for (int j = 0; j < k; j++) chosen += Math.exp(z.getAtIndex(FL, i * E + expert.getAtIndex(I32, i * k + j)));
                for (int j = 0; j < k; j++) {
                    double want = Math.exp(z.getAtIndex(FL, i * E + expert.getAtIndex(I32, i * k + j))) / chosen;
                    assertEquals(want, gate.getAtIndex(FL, i * k + j), 1e-6, "gate " + i + "," + j);
                }
            }
        }
    }

    @Test
    void planIsAStableCountingSort() {
        var rnd = new SplittableRandom(SEED);
        // (n, E, k): ordinary, k = E, E = 1, more experts than pairs (some get no token)
        for (int[] s : new int[][] {{37, 8, 2}, {9, 3, 3}, {5, 1, 1}, {3, 7, 2}}) {
            int n = s[0], E = s[1], k = s[2];
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment z = random(arena, (long) n * E, rnd, 3);
                MemorySegment expert = ints(arena, n * k), gate = floats(arena, n * k), prob = floats(arena, n * E), lse = floats(arena, n);
                Moe.route(expert, gate, prob, lse, z, n, E, k);
                MemorySegment count = ints(arena, E), offset = ints(arena, E + 1), rowOf = ints(arena, n * k), posOf = ints(arena, n * k);
                Moe.plan(count, offset, rowOf, posOf, expert, n, E, k);
                assertEquals(0, offset.getAtIndex(I32, 0));
                assertEquals(n * k, offset.getAtIndex(I32, E));
                boolean[] seen = new boolean[n * k];
                for (int e = 0; e < E; e++) {
                    int from = offset.getAtIndex(I32, e), to = offset.getAtIndex(I32, e + 1);
                    assertEquals(count.getAtIndex(I32, e), to - from, "count of expert " + e);
                    if (k == E) assertEquals(n, to - from, "k = E: every token at every expert");
                    for (int pos = from; pos < to; pos++) {
                        if (pos > from) assertTrue(rowOf.getAtIndex(I32, pos) > rowOf.getAtIndex(I32, pos - 1), "token order within expert " + e);
                    }
                }
                for (int i = 0; i < n; i++) {
                    for (int j = 0; j < k; j++) {
                        int pos = posOf.getAtIndex(I32, i * k + j), e = expert.getAtIndex(I32, i * k + j);
                        assertEquals(i, rowOf.getAtIndex(I32, pos));
                        assertTrue(offset.getAtIndex(I32, e) <= pos && pos < offset.getAtIndex(I32, e + 1), "pair in its expert's range");
                        assertTrue(!seen[pos], "position used twice");
                        seen[pos] = true;
                    }
                }
            }
        }
    }

    @Test
    void combineAndBackwardsMatchScalar() {
        var rnd = new SplittableRandom(SEED + 1);
        int L = Simd.lanes();
        for (int[] s : new int[][] {{7, 5, 2, L - 1}, {9, 3, 3, L + 1}, {4, 1, 1, 3 * L + 5}, {11, 8, 2, 2 * L}}) {
            int n = s[0], E = s[1], k = s[2], C = s[3];
            String at = "n=" + n + " E=" + E + " k=" + k + " C=" + C;
            try (Arena arena = Arena.ofShared()) {
                MemorySegment z = random(arena, (long) n * E, rnd, 3);
                MemorySegment expert = ints(arena, n * k), gate = floats(arena, n * k), prob = floats(arena, n * E), lse = floats(arena, n);
                Moe.route(expert, gate, prob, lse, z, n, E, k);
                MemorySegment count = ints(arena, E), offset = ints(arena, E + 1), rowOf = ints(arena, n * k), posOf = ints(arena, n * k);
                Moe.plan(count, offset, rowOf, posOf, expert, n, E, k);
                long nk = (long) n * k * C, nc = (long) n * C;
                MemorySegment ye = random(arena, nk, rnd, 1), dy = random(arena, nc, rnd, 1);
                MemorySegment y = floats(arena, nc), yr = floats(arena, nc);
                Moe.combine(y, ye, gate, posOf, n, k, C);
                Moe.combineScalar(yr, ye, gate, posOf, n, k, C);
                assertClose("combine " + at, y, yr, nc, 1e-6, 1e-5);
                MemorySegment dye = random(arena, nk, rnd, 1), dgate = random(arena, (long) n * k, rnd, 1);
                MemorySegment dyer = copy(arena, dye), dgater = copy(arena, dgate);
                Moe.combineBackward(dye, dgate, dy, ye, gate, posOf, n, k, C);
                Moe.combineBackwardScalar(dyer, dgater, dy, ye, gate, posOf, n, k, C);
                assertClose("dye " + at, dye, dyer, nk, 1e-6, 1e-5);
                assertClose("dgate " + at, dgate, dgater, (long) n * k, 1e-5, 1e-5);   // dot over C
                MemorySegment dx = random(arena, nc, rnd, 1), dxr = copy(arena, dx);
                Moe.gatherBackward(dx, dye, posOf, n, k, C);
                Moe.gatherBackwardScalar(dxr, dyer, posOf, n, k, C);
                assertClose("gatherBackward " + at, dx, dxr, nc, 1e-6, 1e-5);
                MemorySegment x = random(arena, nc, rnd, 1), xe = floats(arena, nk);
                Moe.gather(xe, x, rowOf, n, k, C);
                for (int pos = 0; pos < n * k; pos++) {
                    long src = (long) rowOf.getAtIndex(I32, pos) * C;
                    for (int c = 0; c < C; c++) assertEquals(x.getAtIndex(FL, src + c), xe.getAtIndex(FL, (long) pos * C + c), 0f, "gather");
                }
            }
        }
    }

    // ---------------------------------------------------------------------------------------------
    // a whole MoE layer: y = moe(m), loss = Σ y·g + balance + z-loss

    /** A layer's parameters and inputs as float segments; {@link #lossDouble} reads the same numbers as doubles. */
    static final class Layer {
        final int n, C, E, k, F;
        final float alpha, beta;
        final MemorySegment m, router, g;          // (n, C), (E, C), (n, C)
        final MemorySegment[] fcW, fcB, projW, projB;

        Layer(Arena arena, SplittableRandom rnd, int n, int C, int E, int k, int F, float alpha, float beta) {
            this.n = n; this.C = C; this.E = E; this.k = k; this.F = F; this.alpha = alpha; this.beta = beta;
            m = random(arena, (long) n * C, rnd, 1);
            router = random(arena, (long) E * C, rnd, 1);
            g = random(arena, (long) n * C, rnd, 1);
            fcW = new MemorySegment[E]; fcB = new MemorySegment[E]; projW = new MemorySegment[E]; projB = new MemorySegment[E];
            for (int e = 0; e < E; e++) {
                fcW[e] = random(arena, (long) F * C, rnd, 0.7);
                fcB[e] = random(arena, F, rnd, 0.3);
                projW[e] = random(arena, (long) C * F, rnd, 0.7);
                projB[e] = random(arena, C, rnd, 0.3);
            }
        }

        MemorySegment[] all() {
            MemorySegment[] a = new MemorySegment[2 + 4 * E];
            a[0] = m; a[1] = router;
            for (int e = 0; e < E; e++) {
                a[2 + 4 * e] = fcW[e]; a[3 + 4 * e] = fcB[e]; a[4 + 4 * e] = projW[e]; a[5 + 4 * e] = projB[e];
            }
            return a;
        }
    }

    /** Forward and backward of the layer with the kernels; returns the gradients in the order of {@link Layer#all()}. */
    static MemorySegment[] gradients(Arena arena, Layer l, MemorySegment y, Moe.AuxLoss[] aux, ExpertMlp.Sgemm gemm) {
        int n = l.n, C = l.C, E = l.E, k = l.k, F = l.F, nk = n * k;
        MemorySegment z = floats(arena, (long) n * E);
        gemm.sgemm(false, true, n, E, C, 1f, l.m, 0, C, l.router, 0, C, 0f, z, 0, E);
        MemorySegment expert = ints(arena, nk), gate = floats(arena, nk), prob = floats(arena, (long) n * E), lse = floats(arena, n);
        Moe.route(expert, gate, prob, lse, z, n, E, k);
        MemorySegment count = ints(arena, E), offset = ints(arena, E + 1), rowOf = ints(arena, nk), posOf = ints(arena, nk);
        Moe.plan(count, offset, rowOf, posOf, expert, n, E, k);
        aux[0] = Moe.auxLoss(null, prob, lse, count, n, E, k, l.alpha, l.beta);
        MemorySegment xe = floats(arena, (long) nk * C), h = floats(arena, (long) nk * F), a = floats(arena, (long) nk * F), ye = floats(arena, (long) nk * C);
        Moe.gather(xe, l.m, rowOf, n, k, C);
        ExpertMlp.forward(gemm, ye, h, a, xe, offset, l.fcW, l.fcB, l.projW, l.projB, E, C, F);
        Moe.combine(y, ye, gate, posOf, n, k, C);

        MemorySegment[] params = l.all(), grads = new MemorySegment[params.length];
        for (int p = 0; p < params.length; p++) grads[p] = floats(arena, params[p].byteSize() / Float.BYTES);
        MemorySegment[] dfcW = new MemorySegment[E], dfcB = new MemorySegment[E], dprojW = new MemorySegment[E], dprojB = new MemorySegment[E];
        for (int e = 0; e < E; e++) {
            dfcW[e] = grads[2 + 4 * e]; dfcB[e] = grads[3 + 4 * e]; dprojW[e] = grads[4 + 4 * e]; dprojB[e] = grads[5 + 4 * e];
        }
        MemorySegment dye = floats(arena, (long) nk * C), dgate = floats(arena, nk), dz = floats(arena, (long) n * E);
        Moe.combineBackward(dye, dgate, l.g, ye, gate, posOf, n, k, C);
        MemorySegment dxe = floats(arena, (long) nk * C), da = floats(arena, (long) nk * F), dh = floats(arena, (long) nk * F);
        ExpertMlp.backward(gemm, dxe, dfcW, dfcB, dprojW, dprojB, da, dh, dye, xe, h, a, offset, l.fcW, l.projW, E, C, F);
        Moe.gatherBackward(grads[0], dxe, posOf, n, k, C);
        Moe.gateBackward(dz, dgate, gate, expert, n, E, k);
        Moe.auxBackward(dz, prob, lse, count, n, E, k, l.alpha, l.beta, 1f);
        gemm.sgemm(false, false, n, C, E, 1f, dz, 0, E, l.router, 0, C, 1f, grads[0], 0, C);   // dm += dz·router
        gemm.sgemm(true, false, E, C, n, 1f, dz, 0, E, l.m, 0, C, 1f, grads[1], 0, C);         // drouter += dzᵀ·m
        return grads;
    }

    static double gelu(double x) {
        return 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));
    }

    /** The layer's loss in double from {@code p}, the parameters as doubles (order of {@link Layer#all()}). */
    static double lossDouble(Layer l, double[][] p, double[] g) {
        int n = l.n, C = l.C, E = l.E, k = l.k, F = l.F;
        double[] m = p[0], W = p[1];
        double loss = 0, zsq = 0;
        double[] P = new double[E], cnt = new double[E];
        for (int i = 0; i < n; i++) {
            double[] z = new double[E];
            for (int e = 0; e < E; e++) for (int c = 0; c < C; c++) z[e] += m[i * C + c] * W[e * C + c];
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (double v : z) max = Math.max(max, v);
            for (double v : z) sum += Math.exp(v - max);
            double lse = max + Math.log(sum);
            zsq += lse * lse;
            for (int e = 0; e < E; e++) P[e] += Math.exp(z[e] - lse) / n;
            boolean[] chosen = new boolean[E];
            int[] S = new int[k];
            for (int j = 0; j < k; j++) {
                int best = -1;
                for (int e = 0; e < E; e++) if (!chosen[e] && (best < 0 || z[e] > z[best])) best = e;
                chosen[best] = true;
                S[j] = best;
                cnt[best]++;
            }
            double gs = 0;
            for (int e : S) gs += Math.exp(z[e] - max);
            for (int e : S) {
                double gate = Math.exp(z[e] - max) / gs;
                double[] fw = p[2 + 4 * e], fb = p[3 + 4 * e], pw = p[4 + 4 * e], pb = p[5 + 4 * e];
                double[] act = new double[F];
                for (int f = 0; f < F; f++) {
                    double s = fb[f];
                    for (int c = 0; c < C; c++) s += m[i * C + c] * fw[f * C + c];
                    act[f] = gelu(s);
                }
                for (int c = 0; c < C; c++) {
                    double s = pb[c];
                    for (int f = 0; f < F; f++) s += act[f] * pw[c * F + f];
                    loss += gate * s * g[i * C + c];
                }
            }
        }
        double balance = 0;
        for (int e = 0; e < E; e++) balance += cnt[e] / ((double) k * n) * P[e];
        return loss + l.alpha * E * balance + l.beta * zsq / n;
    }

    @Test
    void layerGradientsMatchFiniteDifferences() {
        var rnd = new SplittableRandom(SEED + 2);
        // (n, C, E, k, F, rig): ordinary; k = E; E = 1; more experts than tokens (some get none);
        // rigged so that every token goes to expert 0; rows wider than a vector; auxiliary weights large enough to see
        int lanes = Simd.lanes();
        for (int[] s : new int[][] {{6, 5, 4, 2, 3, 0}, {4, 3, 3, 3, 2, 0}, {3, 4, 1, 1, 5, 0}, {3, 3, 5, 1, 2, 0}, {5, 3, 3, 1, 2, 1},
                                    {4, lanes + 1, 2, 2, 3, 0}}) {
            int n = s[0], C = s[1], E = s[2], k = s[3], F = s[4];
            String at = "n=" + n + " C=" + C + " E=" + E + " k=" + k + " F=" + F + (s[5] == 1 ? " (all to expert 0)" : "");
            try (Arena arena = Arena.ofShared()) {
                Layer l = new Layer(arena, rnd, n, C, E, k, F, 0.3f, 0.05f);
                if (s[5] == 1) {                                   // m > 0, router row 0 > 0 > the others
                    for (int i = 0; i < n * C; i++) l.m.setAtIndex(FL, i, 0.5f + 0.5f * Math.abs(l.m.getAtIndex(FL, i)));
                    for (int e = 0; e < E; e++) {
                        for (int c = 0; c < C; c++) l.router.setAtIndex(FL, (long) e * C + c, (e == 0 ? 1 : -1) * (0.2f + Math.abs(l.router.getAtIndex(FL, (long) e * C + c))));
                    }
                }
                MemorySegment y = floats(arena, (long) n * C);
                Moe.AuxLoss[] aux = new Moe.AuxLoss[1];
                MemorySegment[] grads = gradients(arena, l, y, aux, Matmul::gemm);
                MemorySegment[] params = l.all();
                double[][] p = new double[params.length][];
                for (int i = 0; i < params.length; i++) p[i] = toDoubles(params[i], params[i].byteSize() / Float.BYTES);
                double[] g = toDoubles(l.g, (long) n * C);
                double yg = 0;
                for (int i = 0; i < n * C; i++) yg += y.getAtIndex(FL, i) * g[i];
                assertEquals(lossDouble(l, p, g), yg + aux[0].total(), 1e-4, "forward loss " + at);
                for (int t = 0; t < params.length; t++) {
                    InvolutionTest.checkGradient("param " + t + " " + at, grads[t], p[t], () -> lossDouble(l, p, g));
                }
            }
        }
    }

    @Test
    void auxiliaryLossesMatchTheirDefinition() {
        // two tokens, two experts, k = 1: z = [[0, ln 3], [0, 0]] -> S = {1}, {0}; f = (1/2, 1/2)
        try (Arena arena = Arena.ofConfined()) {
            int n = 2, E = 2, k = 1;
            MemorySegment z = of(arena, 0f, (float) Math.log(3), 0f, 0f);
            MemorySegment expert = ints(arena, n * k), gate = floats(arena, n * k), prob = floats(arena, n * E), lse = floats(arena, n);
            Moe.route(expert, gate, prob, lse, z, n, E, k);
            MemorySegment count = ints(arena, E), offset = ints(arena, E + 1), rowOf = ints(arena, n * k), posOf = ints(arena, n * k);
            Moe.plan(count, offset, rowOf, posOf, expert, n, E, k);
            float[] load = new float[E];
            Moe.AuxLoss aux = Moe.auxLoss(load, prob, lse, count, n, E, k, 0.01f, 0.001f);
            assertArrayEquals(new float[] {0.5f, 0.5f}, load);
            // P = ((1/4 + 1/2)/2, (3/4 + 1/2)/2) = (3/8, 5/8): balance = 0.01·2·(0.5·3/8 + 0.5·5/8) = 0.01
            assertEquals(0.01, aux.balance(), 1e-8);
            double l0 = Math.log(4), l1 = Math.log(2);
            assertEquals(0.001 * (l0 * l0 + l1 * l1) / 2, aux.z(), 1e-9);
        }
    }

    /** The dense GPT-2 MLP, as nn does it: c_fc, GELU, c_proj. */
    static void denseMlp(MemorySegment y, MemorySegment h, MemorySegment a, MemorySegment x, Layer l, int n) {
        int C = l.C, F = l.F;
        Matmul.gemm(false, true, n, F, C, 1f, x, C, l.fcW[0], C, 0f, h, F);
        Bias.forward(h, l.fcB[0], n, F);
        Gelu.forward(a, h, (long) n * F);
        Matmul.gemm(false, true, n, C, F, 1f, a, F, l.projW[0], F, 0f, y, C);
        Bias.forward(y, l.projB[0], n, C);
    }

    @Test
    void oneExpertIsExactlyTheDenseMlp() {
        var rnd = new SplittableRandom(SEED + 3);
        int n = 13, C = 2 * Simd.lanes() + 3, F = 4 * C;
        try (Arena arena = Arena.ofShared()) {
            Layer l = new Layer(arena, rnd, n, C, 1, 1, F, 0.01f, 0.001f);
            MemorySegment y = floats(arena, (long) n * C);
            Moe.AuxLoss[] aux = new Moe.AuxLoss[1];
            MemorySegment[] grads = gradients(arena, l, y, aux, Matmul::gemm);
            MemorySegment yd = floats(arena, (long) n * C), h = floats(arena, (long) n * F), a = floats(arena, (long) n * F);
            denseMlp(yd, h, a, l.m, l, n);
            assertEquals(-1L, y.mismatch(yd), "E = 1 output differs from the dense MLP");
            assertEquals(0.01, aux[0].balance(), 1e-7, "E = 1: balance = α");
            // dense backward of Σ y·g
            MemorySegment da = floats(arena, (long) n * F), dh = floats(arena, (long) n * F);
            MemorySegment dfcW = floats(arena, (long) F * C), dfcB = floats(arena, F), dprojW = floats(arena, (long) C * F), dprojB = floats(arena, C);
            Matmul.gemm(false, false, n, F, C, 1f, l.g, C, l.projW[0], F, 0f, da, F);
            Matmul.gemm(true, false, C, F, n, 1f, l.g, C, a, F, 1f, dprojW, F);
            Bias.backward(dprojB, l.g, n, C);
            Gelu.backward(dh, h, da, (long) n * F);
            Matmul.gemm(true, false, F, C, n, 1f, dh, F, l.m, C, 1f, dfcW, C);
            Bias.backward(dfcB, dh, n, F);
            assertEquals(-1L, grads[2].mismatch(dfcW), "d c_fc.weight");
            assertEquals(-1L, grads[3].mismatch(dfcB), "d c_fc.bias");
            assertEquals(-1L, grads[4].mismatch(dprojW), "d c_proj.weight");
            assertEquals(-1L, grads[5].mismatch(dprojB), "d c_proj.bias");
        }
    }

    @Test
    void sameBitsWithOneOrTwoThreads() {
        int n = 6000, C = 48, E = 8, k = 2, F = 24;
        int keep = Parallel.threads();
        try (Arena arena = Arena.ofShared()) {
            MemorySegment[][] runs = new MemorySegment[2][];
            MemorySegment[] ys = new MemorySegment[2];
            double[] auxes = new double[2];
            for (int t = 1; t <= 2; t++) {
                Parallel.setThreads(t);
                Layer l = new Layer(arena, new SplittableRandom(SEED + 4), n, C, E, k, F, 0.01f, 0.001f);
                ys[t - 1] = floats(arena, (long) n * C);
                Moe.AuxLoss[] aux = new Moe.AuxLoss[1];
                runs[t - 1] = gradients(arena, l, ys[t - 1], aux, Matmul::gemm);
                auxes[t - 1] = aux[0].total();
            }
            assertEquals(-1L, ys[0].mismatch(ys[1]), "y differs");
            assertEquals(auxes[0], auxes[1], 0.0, "aux loss differs");
            for (int p = 0; p < runs[0].length; p++) assertEquals(-1L, runs[0][p].mismatch(runs[1][p]), "gradient " + p + " differs");
        } finally {
            Parallel.setThreads(keep);
        }
    }
}
