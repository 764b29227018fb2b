package leviathan.nn;

import static leviathan.testing.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import leviathan.backend.Backend;
import leviathan.backend.JavaBackend;
import leviathan.kernel.Simd;
import leviathan.nn.CorrelationAttention.Impl;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.EnumSource;

/**
 * LEVIATHAN.md's properties of multi-head correlation, for every implementation (scalar, direct,
 * GEMM, FFT): N = 1 is causal scaled dot-product attention, the implementations agree on a grid of shapes, gradients
 * match finite differences, large scores stay finite and correct, no output depends on a future
 * token.
 */
class CorrelationAttentionTest {

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;
    private static final Backend BACKEND = new JavaBackend();

    /** Inputs and outputs of one call, in a shared arena (the kernels run on several threads). */
    private static final class Case implements AutoCloseable {
        final Arena arena = Arena.ofShared();
        final int B, T, C, H, N, D;
        final MemorySegment qkv, lagBias, dout, out, lse, dqkv, dlagBias;

        Case(int B, int T, int H, int D, int N, boolean bias, long seed, double qkScale) {
            this.B = B;
            this.T = T;
            this.H = H;
            this.D = D;
            this.N = N;
            this.C = H * D;
            var rng = new SplittableRandom(seed);
            qkv = random((long) B * T * 3 * C, rng, 1.0);
            for (int bt = 0; bt < B * T; bt++) {                     // q and k blocks scaled (large-score test)
                for (int c = 0; c < 2 * C; c++) {
                    long i = (long) bt * 3 * C + c;
                    qkv.setAtIndex(FL, i, (float) (qkv.getAtIndex(FL, i) * qkScale));
                }
            }
            lagBias = bias ? random((long) H * N, rng, 0.5) : null;
            dout = random((long) B * T * C, rng, 1.0);
            out = zeros((long) B * T * C);
            lse = zeros((long) B * H * T);
            dqkv = zeros((long) B * T * 3 * C);
            dlagBias = bias ? zeros((long) H * N) : null;
        }

        MemorySegment random(long n, SplittableRandom rng, double scale) {
            MemorySegment s = zeros(n);
            for (long i = 0; i < n; i++) s.setAtIndex(FL, i, (float) ((rng.nextDouble() * 2 - 1) * scale));
            return s;
        }

        MemorySegment zeros(long n) { return arena.allocate(Math.max(1, n) * Float.BYTES, 64); }

        MemorySegment copy(MemorySegment s) {
            MemorySegment c = zeros(s.byteSize() / Float.BYTES);
            c.copyFrom(s);
            return c;
        }

        /** Forward (rows from t0) and, when t0 == 0, backward with the given implementation. */
        void run(Impl impl, int t0) {
            try (var op = new CorrelationAttention(BACKEND, B, T, C, H, N, impl)) {
                op.forward(out, lse, qkv, lagBias, B, T, t0);
                if (t0 == 0) op.backward(dqkv, dlagBias, dout, out, lse, qkv, lagBias, B, T);
            }
        }

        float q(int b, int i, int h, int d) { return qkv.getAtIndex(FL, ((long) b * T + i) * 3 * C + h * D + d); }
        float k(int b, int j, int h, int d) { return qkv.getAtIndex(FL, ((long) b * T + j) * 3 * C + C + h * D + d); }
        float v(int b, int j, int h, int d) { return qkv.getAtIndex(FL, ((long) b * T + j) * 3 * C + 2 * C + h * D + d); }

        @Override
        public void close() { arena.close(); }
    }


    /**
     * Causal scaled dot-product attention in double, written from its textbook definition:
     * {@code o_i = Σ_{j<=i} softmax_j(q_i·k_j / sqrt(D)) v_j}, per sequence and head.
     */
    private static double[] causalAttention(Case c) {
        double[] o = new double[c.B * c.T * c.C];
        for (int b = 0; b < c.B; b++) {
            for (int h = 0; h < c.H; h++) {
                for (int i = 0; i < c.T; i++) {
                    double[] w = new double[i + 1];
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int j = 0; j <= i; j++) {
                        double dot = 0;
                        for (int d = 0; d < c.D; d++) dot += (double) c.q(b, i, h, d) * c.k(b, j, h, d);
                        w[j] = dot / Math.sqrt(c.D);
                        max = Math.max(max, w[j]);
                    }
                    for (int j = 0; j <= i; j++) sum += w[j] = Math.exp(w[j] - max);
                    for (int d = 0; d < c.D; d++) {
                        double acc = 0;
                        for (int j = 0; j <= i; j++) acc += w[j] / sum * c.v(b, j, h, d);
                        o[(b * c.T + i) * c.C + h * c.D + d] = acc;
                    }
                }
            }
        }
        return o;
    }

    /** LEVIATHAN.md's definition in double: returns out, then lse (B·H·T) after it. */
    private static double[] correlationDouble(Case c) {
        double[] res = new double[c.B * c.T * c.C + c.B * c.H * c.T];
        int N = c.N, D = c.D;
        for (int b = 0; b < c.B; b++) {
            for (int h = 0; h < c.H; h++) {
                for (int i = 0; i < c.T; i++) {
                    double[] s = new double[(i + 1) * N];
                    double max = Double.NEGATIVE_INFINITY, sum = 0;
                    for (int j = 0; j <= i; j++) {
                        for (int t = 0; t < N; t++) {
                            int shift = t - (N - 1) / 2;
                            double dot = 0;
                            for (int d = 0; d < D; d++) dot += (double) c.q(b, i, h, d) * c.k(b, j, h, Math.floorMod(d + shift, D));
                            double bias = c.lagBias == null ? 0 : c.lagBias.getAtIndex(FL, (long) h * N + t);
                            s[j * N + t] = dot / Math.sqrt(D) + bias;
                            max = Math.max(max, s[j * N + t]);
                        }
                    }
                    for (double x : s) sum += Math.exp(x - max);
                    res[c.B * c.T * c.C + (b * c.H + h) * c.T + i] = max + Math.log(sum);
                    for (int d = 0; d < D; d++) {
                        double acc = 0;
                        for (int j = 0; j <= i; j++) {
                            for (int t = 0; t < N; t++) {
                                int shift = t - (N - 1) / 2;
                                acc += Math.exp(s[j * N + t] - max) / sum * c.v(b, j, h, Math.floorMod(d + shift, D));
                            }
                        }
                        res[(b * c.T + i) * c.C + h * D + d] = acc;
                    }
                }
            }
        }
        return res;
    }


    @ParameterizedTest
    @EnumSource(value = Impl.class, names = {"SCALAR", "DIRECT", "GEMM", "FFT"})
    void oneLagIsCausalScaledDotProductAttention(Impl impl) {
        for (boolean bias : new boolean[] {false, true}) {          // with N = 1 the bias cancels in the softmax
            try (Case c = new Case(2, 19, 3, 16, 1, bias, 42, 1.0)) {
                c.run(impl, 0);
                assertClose(impl + " bias=" + bias, c.out, causalAttention(c), 0, c.out.byteSize() / Float.BYTES, 2e-6, 1e-5);
            }
        }
    }

    /**
     * Direct SIMD == lag-expanded GEMM == FFT == scalar reference, forward and every gradient, over
     * T × D × N (skipping only N > D; the FFT only at power-of-two D). B·H = 2, alternating (2, 1)
     * and (1, 2) so both batch and head indexing are covered.
     */
    @Tag("slow")                                          // scalar references on a large grid: native width only
    @Test
    void implementationsAgreeOnTheGrid() {
        int combo = 0;
        List<String> failures = new ArrayList<>();
        for (int T : new int[] {1, 2, 17, 64, 130}) {
            for (int D : new int[] {4, 16, 32, 33, 64}) {
                for (int N : new int[] {1, 2, 3, 5, D}) {
                    if (N > D || (N == D && D <= 5)) continue;       // N > D skipped; N = D already in the list
                    int B = combo % 2 == 0 ? 2 : 1, H = 3 - B;
                    combo++;
                    String shape = "T=" + T + " D=" + D + " N=" + N + " B=" + B + " H=" + H;
                    try (Case ref = new Case(B, T, H, D, N, true, combo, 1.0)) {
                        ref.run(Impl.SCALAR, 0);
                        for (Impl impl : new Impl[] {Impl.DIRECT, Impl.GEMM, Impl.FFT}) {
                            if (impl == Impl.FFT && Integer.bitCount(D) != 1) continue;
                            try (Case c = new Case(B, T, H, D, N, true, combo, 1.0)) {
                                c.run(impl, 0);
                                try {
                                    assertClose(impl + " out " + shape, c.out, ref.out, 1e-5, 1e-4);
                                    assertClose(impl + " lse " + shape, c.lse, ref.lse, 1e-5, 1e-5);
                                    assertClose(impl + " dqkv " + shape, c.dqkv, ref.dqkv, 1e-4, 1e-3);
                                    assertClose(impl + " dlagBias " + shape, c.dlagBias, ref.dlagBias, 1e-4, 1e-3);
                                } catch (AssertionError e) {
                                    failures.add(e.getMessage());
                                }
                            }
                        }
                    }
                }
            }
        }
        if (!failures.isEmpty()) fail(failures.size() + " mismatches:\n" + String.join("\n", failures));
    }

    /** Central differences of {@code L = Σ out·g} in q, k, v and the lag bias (B=2, T=3, C=8, N=3, and a wider case). */
    @ParameterizedTest
    @EnumSource(value = Impl.class, names = {"SCALAR", "DIRECT", "GEMM", "FFT"})
    void gradientsMatchFiniteDifferences(Impl impl) {
        int[][] shapes = impl == Impl.FFT                                     // B, T, H, D, N; FFT: powers of two
                ? new int[][] {{2, 3, 2, 4, 3}, {1, 6, 1, 8, 5}, {2, 5, 2, 8, 8}}
                : new int[][] {{2, 3, 2, 4, 3}, {1, 6, 1, 5, 5}, {2, 5, 2, 6, 4}};
        for (int[] sh : shapes) {
            try (Case c = new Case(sh[0], sh[1], sh[2], sh[3], sh[4], true, 7 + sh[1], 1.0)) {
                c.run(impl, 0);
                checkFiniteDifferences(impl, c, c.qkv, c.dqkv, "qkv");
                checkFiniteDifferences(impl, c, c.lagBias, c.dlagBias, "lagBias");
            }
        }
    }

    /**
     * The kernels are float, so the loss carries rounding noise of ~1e-6; with h = 1e-3 that is
     * ~5e-4 in the difference quotient, as large as small gradients. h = 1e-2 brings the noise to
     * ~5e-5 while the O(h²) truncation stays ~1e-4 relative.
     */
    private static void checkFiniteDifferences(Impl impl, Case c, MemorySegment param, MemorySegment grad, String name) {
        double h = 1e-2;
        long n = param.byteSize() / Float.BYTES;
        for (long i = 0; i < n; i++) {
            float orig = param.getAtIndex(FL, i);
            param.setAtIndex(FL, i, (float) (orig + h));
            double up = loss(impl, c);
            param.setAtIndex(FL, i, (float) (orig - h));
            double down = loss(impl, c);
            param.setAtIndex(FL, i, orig);
            double numeric = (up - down) / (2 * h), analytic = grad.getAtIndex(FL, i);
            double err = Math.abs(numeric - analytic) / Math.max(1e-2, Math.abs(numeric) + Math.abs(analytic));
            assertTrue(err < 1e-2, impl + " d" + name + "[" + i + "]: analytic " + analytic + ", numeric " + numeric);
        }
    }

    private static double loss(Impl impl, Case c) {
        MemorySegment out = c.zeros((long) c.B * c.T * c.C), lse = c.zeros((long) c.B * c.H * c.T);
        try (var op = new CorrelationAttention(BACKEND, c.B, c.T, c.C, c.H, c.N, impl)) {
            op.forward(out, lse, c.qkv, c.lagBias, c.B, c.T, 0);
        }
        double l = 0;
        for (long i = 0; i < out.byteSize() / Float.BYTES; i++) l += (double) out.getAtIndex(FL, i) * c.dout.getAtIndex(FL, i);
        return l;
    }

    /** Scores of magnitude ~1e4: the max-subtracted softmax keeps everything finite and correct. */
    @ParameterizedTest
    @EnumSource(value = Impl.class, names = {"SCALAR", "DIRECT", "GEMM", "FFT"})
    void largeScoresStayFiniteAndCorrect(Impl impl) {
        try (Case c = new Case(2, 33, 2, 16, 5, true, 2024, 150.0)) {
            double[] ref = correlationDouble(c);
            double maxScore = 0;
            for (int b = 0; b < c.B; b++) {
                for (int i = 0; i < c.T; i++) {
                    double dot = 0;
                    for (int d = 0; d < c.D; d++) dot += (double) c.q(b, i, 0, d) * c.k(b, i, 0, d);
                    maxScore = Math.max(maxScore, Math.abs(dot) / Math.sqrt(c.D));
                }
            }
            assertTrue(maxScore > 1e4, "test scores should reach 1e4, got " + maxScore);
            c.run(impl, 0);
            long nOut = c.out.byteSize() / Float.BYTES, nLse = c.lse.byteSize() / Float.BYTES;
            assertClose(impl + " out", c.out, ref, 0, nOut, 1e-3, 1e-3);
            assertClose(impl + " lse", c.lse, ref, (int) nOut, nLse, 0, 1e-5);
            for (MemorySegment s : new MemorySegment[] {c.dqkv, c.dlagBias}) {
                for (long i = 0; i < s.byteSize() / Float.BYTES; i++) {
                    assertTrue(Float.isFinite(s.getAtIndex(FL, i)), impl + " gradient not finite at " + i);
                }
            }
            try (Case r = new Case(2, 33, 2, 16, 5, true, 2024, 150.0)) {
                r.run(Impl.SCALAR, 0);
                assertClose(impl + " dqkv", c.dqkv, r.dqkv, 1e-2, 1e-2);
                assertClose(impl + " dlagBias", c.dlagBias, r.dlagBias, 1e-2, 1e-2);
            }
        }
    }

    /**
     * Changing tokens after position {@code cut} leaves output rows {@code <= cut} bit-identical,
     * and an upstream gradient on rows {@code <= cut} only gives exactly zero gradient to later tokens.
     */
    @ParameterizedTest
    @EnumSource(value = Impl.class, names = {"SCALAR", "DIRECT", "GEMM", "FFT"})
    void noOutputDependsOnAFutureToken(Impl impl) {
        int cut = 20;
        try (Case a = new Case(2, 41, 2, 8, 3, true, 5, 1.0); Case b = new Case(2, 41, 2, 8, 3, true, 5, 1.0)) {
            var rng = new SplittableRandom(77);
            for (int bt = 0; bt < a.B * a.T; bt++) {
                if (bt % a.T <= cut) continue;
                for (int c = 0; c < 3 * a.C; c++) b.qkv.setAtIndex(FL, (long) bt * 3 * a.C + c, (float) rng.nextGaussian() * 3);
            }
            for (Case c : new Case[] {a, b}) {
                for (int bt = 0; bt < c.B * c.T; bt++) {
                    if (bt % c.T > cut) for (int k = 0; k < c.C; k++) c.dout.setAtIndex(FL, (long) bt * c.C + k, 0f);
                }
                c.run(impl, 0);
            }
            for (int bt = 0; bt < a.B * a.T; bt++) {
                boolean past = bt % a.T <= cut;
                for (int k = 0; k < a.C; k++) {
                    long i = (long) bt * a.C + k;
                    if (past) assertEquals(a.out.getAtIndex(FL, i), b.out.getAtIndex(FL, i), impl + " out row " + bt);
                }
                for (int k = 0; k < 3 * a.C && !past; k++) {
                    assertEquals(0f, a.dqkv.getAtIndex(FL, (long) bt * 3 * a.C + k), impl + " gradient to future row " + bt);
                }
            }
        }
    }

    @ParameterizedTest
    @EnumSource(value = Impl.class, names = {"SCALAR", "DIRECT", "GEMM", "FFT"})
    void forwardFromT0MatchesTheFullForward(Impl impl) {
        try (Case full = new Case(1, 64, 4, 32, 4, true, 9, 1.0); Case last = new Case(1, 64, 4, 32, 4, true, 9, 1.0)) {
            full.run(impl, 0);
            last.run(impl, 63);                                     // sampling: the newest row only
            long row = 63L * full.C;
            for (int k = 0; k < full.C; k++) {
                assertEquals(full.out.getAtIndex(FL, row + k), last.out.getAtIndex(FL, row + k), 1e-6, impl + " out[63][" + k + "]");
            }
        }
    }

    /**
     * The one driver over (b, h) and its fixed-order lag-bias reduction: every implementation gives
     * the same bits on 1, 2 and 3 kernel threads (B·H = 6 heads split 6, 3+3 and 2+2+2), repeated
     * calls included (the shared vector helpers give the same bits in every JIT tier).
     */
    @ParameterizedTest
    @EnumSource(value = Impl.class, names = {"SCALAR", "DIRECT", "GEMM", "FFT"})
    void resultsDoNotDependOnTheThreadCount(Impl impl) {
        int saved = leviathan.kernel.Parallel.threads();
        try (Case ref = new Case(3, 21, 2, 16, 12, true, 99, 1.0)) {
            leviathan.kernel.Parallel.setThreads(1);
            ref.run(impl, 0);
            for (int threads : new int[] {2, 3, 2}) {
                leviathan.kernel.Parallel.setThreads(threads);
                try (Case c = new Case(3, 21, 2, 16, 12, true, 99, 1.0)) {
                    c.run(impl, 0);
                    String where = impl + " on " + threads + " threads";
                    assertBitwiseEqual(where + " out", ref.out, c.out);
                    assertBitwiseEqual(where + " lse", ref.lse, c.lse);
                    assertBitwiseEqual(where + " dqkv", ref.dqkv, c.dqkv);
                    assertBitwiseEqual(where + " dlagBias", ref.dlagBias, c.dlagBias);
                }
            }
        } finally {
            leviathan.kernel.Parallel.setThreads(saved);
        }
    }

    private static void assertBitwiseEqual(String what, MemorySegment expected, MemorySegment actual) {
        for (long i = 0, n = expected.byteSize() / Float.BYTES; i < n; i++) {
            int e = Float.floatToRawIntBits(expected.getAtIndex(FL, i)), a = Float.floatToRawIntBits(actual.getAtIndex(FL, i));
            if (e != a) fail(what + " differs at " + i + ": " + actual.getAtIndex(FL, i) + " vs " + expected.getAtIndex(FL, i));
        }
    }

    /**
     * The AUTO rule at its documented boundaries ({@link CorrelationAttention#choose}): FFT exactly
     * when {@code 4·N >= 3·D}, {@code D >= 128} and D is a power of two, DIRECT otherwise, SCALAR
     * whenever SIMD is off; the same at every T. This tests the rule as written, not that it is
     * the fastest choice: that is measured by {@code CorrelationBench crossover}.
     */
    @Test
    void autoRuleFollowsItsDocumentedBoundaries() {
        assertEquals(Impl.DIRECT, CorrelationAttention.autoRule(true, 128, 95));    // 4·95 = 380 < 384
        assertEquals(Impl.FFT, CorrelationAttention.autoRule(true, 128, 96));       // 4·96 = 384 = 3·128
        assertEquals(Impl.FFT, CorrelationAttention.autoRule(true, 256, 256));
        assertEquals(Impl.DIRECT, CorrelationAttention.autoRule(true, 64, 64));     // measured: direct faster up to D = 64
        assertEquals(Impl.DIRECT, CorrelationAttention.autoRule(true, 64, 48));
        assertEquals(Impl.DIRECT, CorrelationAttention.autoRule(true, 32, 32));
        assertEquals(Impl.DIRECT, CorrelationAttention.autoRule(true, 16, 16));
        assertEquals(Impl.DIRECT, CorrelationAttention.autoRule(true, 8, 8));
        assertEquals(Impl.DIRECT, CorrelationAttention.autoRule(true, 192, 192));   // D not a power of two
        assertEquals(Impl.DIRECT, CorrelationAttention.autoRule(true, 32, 4));      // the char-Shakespeare model
        for (int[] dn : new int[][] {{64, 64}, {64, 4}, {48, 48}, {8, 8}}) {
            assertEquals(Impl.SCALAR, CorrelationAttention.autoRule(false, dn[0], dn[1]), "SIMD off, D=" + dn[0]);
        }
        for (int[] dn : new int[][] {{128, 96}, {128, 95}, {32, 4}}) {            // the layer applies the rule, at any T
            int D = dn[0], N = dn[1];
            try (var op = new CorrelationAttention(BACKEND, 2, 512, 2 * D, 2, N, Impl.AUTO)) {
                for (int T : new int[] {1, 64, 512}) {
                    assertEquals(CorrelationAttention.autoRule(Simd.ENABLED, D, N), op.choose(T), "D=" + D + " N=" + N + " T=" + T);
                }
            }
        }
    }

    /** An explicit implementation is what runs; the layer never reads the {@code leviathan.correlation} property. */
    @Test
    void anExplicitImplementationRunsAndTheLayerIgnoresTheProperty() {
        String saved = System.getProperty(Impl.PROPERTY);
        try {
            System.setProperty(Impl.PROPERTY, "gemm");
            for (Impl impl : new Impl[] {Impl.SCALAR, Impl.DIRECT, Impl.GEMM, Impl.FFT}) {
                try (var op = new CorrelationAttention(BACKEND, 12, 64, 128, 4, 4, impl)) {
                    assertEquals(impl, op.choose(64));
                }
            }
            try (var op = new CorrelationAttention(BACKEND, 12, 64, 128, 4, 4, Impl.AUTO)) {
                assertEquals(CorrelationAttention.autoRule(Simd.ENABLED, 32, 4), op.choose(64));
            }
        } finally {
            if (saved == null) System.clearProperty(Impl.PROPERTY);
            else System.setProperty(Impl.PROPERTY, saved);
        }
    }

    /** {@code --impl}: the flag names the implementation; only {@code auto} takes the property as its default. */
    @Test
    void theFlagChoosesAndThePropertyIsOnlyTheDefaultForAuto() {
        String saved = System.getProperty(Impl.PROPERTY);
        try {
            System.clearProperty(Impl.PROPERTY);
            assertEquals(Impl.AUTO, Impl.fromFlag("auto"));
            assertEquals(Impl.FFT, Impl.fromFlag(" FFT "));
            System.setProperty(Impl.PROPERTY, "gemm");
            assertEquals(Impl.GEMM, Impl.fromFlag("auto"));
            assertEquals(Impl.DIRECT, Impl.fromFlag("direct"));
            System.setProperty(Impl.PROPERTY, "fast");
            var e = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> Impl.fromFlag("auto"));
            assertTrue(e.getMessage().contains(Impl.PROPERTY) && e.getMessage().contains("'fast'"), e.getMessage());
            assertEquals(Impl.SCALAR, Impl.fromFlag("scalar"));               // a named flag never reads it
            var bad = org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> Impl.parse("quick"));
            assertTrue(bad.getMessage().contains("auto, scalar, direct, gemm, fft"), bad.getMessage());
        } finally {
            if (saved == null) System.clearProperty(Impl.PROPERTY);
            else System.setProperty(Impl.PROPERTY, saved);
        }
    }
}
