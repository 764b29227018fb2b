package leviathan.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import leviathan.kernel.Bf16;
import leviathan.kernel.Matmul;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/**
 * bf16 GEMMs through oneDNN's matmul primitive against float32 references: within bf16 tolerance
 * of the exact product, and (converting mode) within float32 rounding of the product of the
 * bf16-rounded operands. Skipped where oneDNN cannot load or has no bf16 matmul on this CPU.
 */
class OneDnnBf16Test {
    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    @ParameterizedTest(name = "{0} {1}{2} {3}x{4}x{5} pad={6} alpha={7} beta={8}")
    @CsvSource({
        // mode,   tA,    tB,    M,   N,   K, pad, alpha, beta
        "CONVERT, false, false,   1,   1,   1,  0,  1,     0",
        "CONVERT, true,  true,    1,   1,   1,  0,  1,     1",
        "CONVERT, false, false,  37,  53,  67,  0,  1,     0",
        "CONVERT, false, true,   37,  53,  67,  3,  1,     1",
        "CONVERT, true,  false,  37,  53,  67,  1,  0.25,  1",
        "CONVERT, true,  true,   37,  53,  67,  2,  2,     0.5",
        "CONVERT, false, true,  129,  65, 127,  0,  1,     0",
        "CONVERT, true,  false,  65, 127, 129,  0,  1,     1",
        "FPMATH,  false, false,  37,  53,  67,  0,  1,     0",
        "FPMATH,  false, true,   37,  53,  67,  3,  1,     1",
        "FPMATH,  true,  false,  37,  53,  67,  1,  0.25,  1",
        "FPMATH,  true,  true,   37,  53,  67,  2,  2,     0.5",
    })
    void matchesFp32Reference(OneDnnMatmul.Mode mode, boolean tA, boolean tB, int M, int N, int K, int pad, float alpha, float beta) {
        OneDnnTesting.backendOrSkip();
        try (OneDnnMatmul mm = new OneDnnMatmul(mode); Arena arena = Arena.ofConfined()) {
            SplittableRandom rnd = new SplittableRandom(31L * M + 7L * N + K + (tA ? 1 : 0) + (tB ? 2 : 0));
            int aRows = tA ? K : M, aCols = tA ? M : K, bRows = tB ? N : K, bCols = tB ? K : N;
            int lda = aCols + pad, ldb = bCols + pad, ldc = N + pad;
            MemorySegment a = random(arena, (long) aRows * lda, rnd), b = random(arena, (long) bRows * ldb, rnd);
            MemorySegment c = random(arena, (long) M * ldc, rnd), c0 = copy(arena, c);
            try {
                mm.run(tA, tB, M, N, K, alpha, a, lda, b, ldb, beta, c, ldc, 0);
            } catch (IllegalStateException e) {
                Assumptions.assumeTrue(!e.getMessage().contains("unimplemented"), "no bf16 matmul on this CPU: " + e.getMessage());
                throw e;
            }
            // Exact reference in float32 on the original operands; error bound from Σ|a||b|.
            MemorySegment ref = copy(arena, c0);
            Matmul.gemmScalar(tA, tB, M, N, K, alpha, a, lda, b, ldb, beta, ref, ldc);
            MemorySegment absA = abs(arena, a, (long) aRows * lda), absB = abs(arena, b, (long) bRows * ldb);
            MemorySegment bound = arena.allocate((long) M * ldc * Float.BYTES, 64);
            Matmul.gemmScalar(tA, tB, M, N, K, Math.abs(alpha), absA, lda, absB, ldb, 0f, bound, ldc);
            double worst = 0;
            String where = "";
            for (int i = 0; i < M; i++) {
                for (int j = 0; j < N; j++) {
                    long k = (long) i * ldc + j;
                    double scale = bound.getAtIndex(FL, k) + Math.abs(beta * c0.getAtIndex(FL, k)) + 1e-6;
                    double err = Math.abs(c.getAtIndex(FL, k) - ref.getAtIndex(FL, k)) / scale;
                    if (err > worst) { worst = err; where = "(" + i + "," + j + ")"; }
                }
            }
            assertTrue(worst <= 1e-2, mode + ": relative error " + worst + " at " + where);   // bf16: 8-bit mantissa, 2^-8 per operand
            for (int i = 0; i < M; i++) {
                for (int j = N; j < ldc; j++) {
                    long k = (long) i * ldc + j;
                    assertEquals(c0.getAtIndex(FL, k), c.getAtIndex(FL, k), "padding of C must stay untouched");
                }
            }
            if (mode == OneDnnMatmul.Mode.CONVERT) {
                // The product of the rounded operands, in float32: only accumulation order differs.
                MemorySegment ar = rounded(arena, a, (long) aRows * lda, alpha), br = rounded(arena, b, (long) bRows * ldb, 1f);
                MemorySegment exact = copy(arena, c0);
                Matmul.gemmScalar(tA, tB, M, N, K, 1f, ar, lda, br, ldb, beta, exact, ldc);
                for (int i = 0; i < M; i++) {
                    for (int j = 0; j < N; j++) {
                        long k = (long) i * ldc + j;
                        double scale = bound.getAtIndex(FL, k) + Math.abs(beta * c0.getAtIndex(FL, k)) + 1e-6;
                        double err = Math.abs(c.getAtIndex(FL, k) - exact.getAtIndex(FL, k)) / scale;
                        assertTrue(err <= 1e-5, "vs rounded operands: " + err + " at (" + i + "," + j + ")");
                    }
                }
            }
        }
    }

    /** The backend reached through withPrecision: bf16 where oneDNN dispatches to bf16 instructions, else one log line and fp32. */
    @Test
    void withPrecisionRunsBf16OrSaysWhy() {
        OneDnnBackend fp32 = OneDnnTesting.backendOrSkip();
        List<String> log = new ArrayList<>();
        Backend b = fp32.withPrecision(Precision.BF16, 0, log::add);
        try {
            if (CpuFeatures.isaHasBf16(CpuFeatures.onednnIsa())) {
                assertEquals(Precision.BF16, b.precision());
                assertTrue(log.isEmpty(), log.toString());
                assertTrue(b.describe().contains("bf16"), b.describe());
                String impl = ((OneDnnBackend) b).bf16Implementation(false, true, 64, 65, 128, 1f, 128, 128, 0f, 65);
                assertTrue(impl != null && !impl.isEmpty(), "implementation " + impl);
                try (Arena arena = Arena.ofConfined()) {
                    SplittableRandom rnd = new SplittableRandom(3);
                    MemorySegment a = random(arena, 64 * 128, rnd), w = random(arena, 65 * 128, rnd);
                    MemorySegment c = arena.allocate(64 * 65 * 4L, 64), ref = arena.allocate(64 * 65 * 4L, 64);
                    b.sgemm(false, true, 64, 65, 128, 1f, a, 128, w, 128, 0f, c, 65);
                    Matmul.gemmScalar(false, true, 64, 65, 128, 1f, a, 128, w, 128, 0f, ref, 65);
                    for (long k = 0; k < 64 * 65; k++) assertEquals(ref.getAtIndex(FL, k), c.getAtIndex(FL, k), 0.1);
                }
            } else {
                assertSame(fp32, b);
                assertEquals(1, log.size(), log.toString());
                assertTrue(log.get(0).startsWith("precision: bf16 requested") && log.get(0).endsWith("running fp32"), log.get(0));
            }
        } finally {
            if (b != fp32) b.close();
        }
    }

    /** More shapes than the per-thread cache keeps (MoE row counts): the eldest primitives are destroyed and rebuilt when needed. */
    @Test
    void cacheEvictsAndStaysCorrect() {
        OneDnnTesting.backendOrSkip();
        try (OneDnnMatmul mm = new OneDnnMatmul(OneDnnMatmul.Mode.CONVERT); Arena arena = Arena.ofConfined()) {
            int maxM = OneDnnMatmul.MAX_ENTRIES + 8, K = 16, N = 8;
            SplittableRandom rnd = new SplittableRandom(5);
            MemorySegment a = random(arena, (long) maxM * K, rnd), b = random(arena, (long) K * N, rnd);
            MemorySegment c = arena.allocate((long) maxM * N * 4, 64), ref = arena.allocate((long) maxM * N * 4, 64);
            for (int M : new int[] {1, 2, 3}) {
                for (int m = 1; m <= maxM; m++) mm.run(false, false, m, N, K, 1f, a, K, b, N, 0f, c, N, 0);
                mm.run(false, false, M, N, K, 1f, a, K, b, N, 0f, c, N, 0);       // evicted by now: created again
                Matmul.gemmScalar(false, false, M, N, K, 1f, a, K, b, N, 0f, ref, N);
                for (long k = 0; k < (long) M * N; k++) assertEquals(ref.getAtIndex(FL, k), c.getAtIndex(FL, k), 0.05);
            }
        } catch (IllegalStateException e) {
            Assumptions.assumeTrue(!e.getMessage().contains("unimplemented"), "no bf16 matmul on this CPU: " + e.getMessage());
            throw e;
        }
    }

    @Test
    void javaBackendSaysItHasNoBf16() {
        List<String> log = new ArrayList<>();
        Backend j = new JavaBackend();
        assertSame(j, j.withPrecision(Precision.BF16, log::add));
        assertEquals(1, log.size());
        assertTrue(log.get(0).contains("running fp32"), log.get(0));
        assertEquals(Precision.BF16, Precision.parse(" BF16 "));
        assertTrue(org.junit.jupiter.api.Assertions.assertThrows(IllegalArgumentException.class, () -> Precision.parse("fp8"))
                .getMessage().contains("expected fp32 or bf16"));
    }

    @Test
    void parsesCpuinfoFlags() {
        String info = "processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_tile\nbugs\t\t: none\nprocessor\t: 1\nflags\t\t: fpu\n";
        assertEquals(java.util.Set.of("fpu", "avx512f", "avx512_bf16", "amx_tile"), CpuFeatures.parseFlags(info));
        assertTrue(CpuFeatures.parseFlags("").isEmpty());
    }

    private static MemorySegment random(Arena arena, long n, SplittableRandom rnd) {
        MemorySegment s = arena.allocate(Math.max(1, n) * Float.BYTES, 64);
        for (long i = 0; i < n; i++) s.setAtIndex(FL, i, (float) (rnd.nextDouble() * 2 - 1));
        return s;
    }

    private static MemorySegment copy(Arena arena, MemorySegment s) {
        MemorySegment c = arena.allocate(s.byteSize(), 64);
        c.copyFrom(s);
        return c;
    }

    private static MemorySegment abs(Arena arena, MemorySegment s, long n) {
        MemorySegment c = copy(arena, s);
        for (long i = 0; i < n; i++) c.setAtIndex(FL, i, Math.abs(c.getAtIndex(FL, i)));
        return c;
    }

    private static MemorySegment rounded(Arena arena, MemorySegment s, long n, float scale) {
        MemorySegment c = copy(arena, s);
        for (long i = 0; i < n; i++) c.setAtIndex(FL, i, Bf16.toFloat(Bf16.fromFloat(scale * c.getAtIndex(FL, i))));
        return c;
    }
}
