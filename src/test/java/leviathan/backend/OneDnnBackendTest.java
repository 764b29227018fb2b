package leviathan.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import leviathan.kernel.Matmul;
import leviathan.testing.Close;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.CsvSource;

/** oneDNN's GEMM against the scalar reference and the Vector API GEMM; skipped where oneDNN cannot load. */
class OneDnnBackendTest {
    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    /** Every transpose combination, odd sizes, padded leading dimensions, and the engine's alpha/beta uses. */
    @ParameterizedTest(name = "{0}{1} {2}x{3}x{4} pad={5} alpha={6} beta={7}")
    @CsvSource({
        // tA,    tB,    M,   N,   K,  pad, alpha, beta
        "false, false,   1,   1,   1,   0,  1,     0",
        "false, true,    1,   1,   1,   0,  1,     0",
        "true,  false,   1,   1,   1,   0,  1,     0",
        "true,  true,    1,   1,   1,   0,  1,     0",
        "false, false,   3,   5,   7,   0,  1,     0",
        "false, true,    3,   5,   7,   0,  1,     1",
        "true,  false,   3,   5,   7,   0,  1,     1",
        "true,  true,    3,   5,   7,   0,  1,     0",
        "false, false,  17,  33,  65,   3,  1,     1",
        "false, true,   17,  33,  65,   3,  1,     0",
        "true,  false,  17,  33,  65,   3,  0.5,   1",
        "true,  true,   17,  33,  65,   3,  2,     0.25",
        "false, false,  63,  65,  31,   0,  1,     0",
        "false, true,  129,  65, 127,   0,  1,     0",   // logits-like: N = vocabulary 65
        "false, false, 129, 127,  65,   1,  1,     1",   // dinp += dout · W
        "true,  false,  65, 127, 129,   0,  1,     1",   // dW += doutᵀ · inp
        "false, true,  255, 385, 129,   0,  1,     0",
    })
    void matchesScalarAndVectorGemm(boolean tA, boolean tB, int M, int N, int K, int pad, float alpha, float beta) {
        check(OneDnnTesting.backendOrSkip(), tA, tB, M, N, K, pad, alpha, beta, 11L * M + 7L * N + K);
    }

    /** Two fixed threads, and the timed default, whose first calls alternate between one thread and all: all must be right. */
    @ParameterizedTest(name = "{0}{1} threads=2")
    @CsvSource({"false, false", "false, true", "true, false", "true, true"})
    void matchesWithTwoThreads(boolean tA, boolean tB) throws Exception {
        OneDnnTesting.backendOrSkip();
        OneDnnBackend two = OneDnnBackend.open(new OneDnnBackend.Options(OneDnnLoader.configuredPath(), 2, 0));
        assertTrue(two.mayUseThreads(1, 1, 1));
        assertEquals(2, two.settledThreads(tA, tB, 97, 131, 203));
        check(two, tA, tB, 97, 131, 203, 1, 1f, 1f, 5);
        OneDnnBackend timed = OneDnnBackend.open(new OneDnnBackend.Options(OneDnnLoader.configuredPath(), 0, 0));
        for (int i = 0; i < 10; i++) check(timed, tA, tB, 97, 131, 203, 1, 1f, 1f, 6 + i);
    }

    @Test
    void betaZeroIgnoresWhatCHeld() {
        OneDnnBackend b = OneDnnTesting.backendOrSkip();
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = random(arena, 4 * 6, 1), bm = random(arena, 6 * 5, 2);
            MemorySegment c = arena.allocate(FL, 4 * 5);
            for (int i = 0; i < 20; i++) c.setAtIndex(FL, i, Float.NaN);
            b.sgemm(false, false, 4, 5, 6, 1f, a, 6, bm, 5, 0f, c, 5);
            for (int i = 0; i < 20; i++) assertFalse(Float.isNaN(c.getAtIndex(FL, i)), "C[" + i + "] kept a NaN with beta = 0");
        }
    }

    @Test
    void emptyInnerDimensionScalesC() {
        OneDnnBackend b = OneDnnTesting.backendOrSkip();
        try (Arena arena = Arena.ofShared()) {
            MemorySegment c = random(arena, 6, 3), expected = copy(arena, c);
            for (int i = 0; i < 6; i++) expected.setAtIndex(FL, i, 0.5f * expected.getAtIndex(FL, i));
            b.sgemm(false, false, 2, 3, 0, 1f, MemorySegment.NULL, 0, MemorySegment.NULL, 3, 0.5f, c, 3);
            assertClose(expected, c, 2, 3, 3, 0);
            b.sgemm(false, false, 0, 3, 4, 1f, MemorySegment.NULL, 4, arena.allocate(FL, 12), 3, 0f, MemorySegment.NULL, 3);
        }
    }

    @Test
    void shapesAreCheckedBeforeTheDowncall() {
        OneDnnBackend b = OneDnnTesting.backendOrSkip();
        try (Arena arena = Arena.ofShared()) {
            MemorySegment small = arena.allocate(FL, 10), ok = arena.allocate(FL, 64);
            var e = assertThrows(IllegalArgumentException.class, () -> b.sgemm(false, false, 4, 4, 4, 1f, small, 4, ok, 4, 0f, ok, 4));
            assertTrue(e.getMessage().startsWith("A:"), e.getMessage());
            e = assertThrows(IllegalArgumentException.class, () -> b.sgemm(false, true, 4, 4, 4, 1f, ok, 4, ok, 3, 0f, ok, 4));
            assertTrue(e.getMessage().contains("leading dimension"), e.getMessage());
            MemorySegment heap = MemorySegment.ofArray(new float[16]);
            e = assertThrows(IllegalArgumentException.class, () -> b.sgemm(false, false, 4, 4, 4, 1f, ok, 4, ok, 4, 0f, heap, 4));
            assertTrue(e.getMessage().contains("off-heap"), e.getMessage());
        }
    }

    @Test
    void smallProductsRunOnOneThread() {
        OneDnnBackend b = OneDnnTesting.backendOrSkip();
        assertFalse(b.mayUseThreads(64, 64, 64));
        assertEquals(b.threads() > 1 && b.library().openMp(), b.mayUseThreads(1024, 1024, 1024));
        assertTrue(b.describe().startsWith("onednn (oneDNN " + b.library().version()), b.describe());
        assertTrue(b.library().major() >= 2, b.library().version());
    }

    /** The per-shape choice: warm-up, alternation, the faster count, and a probe of the other one. */
    @Test
    void timingPicksTheFasterThreadCount() {
        var t = new OneDnnBackend.Timing();
        assertTrue(t.nextIsMany());                 // warm-ups are not counted
        t.record(true, 50_000_000);
        assertFalse(t.nextIsMany());
        t.record(false, 50_000_000);
        for (int i = 3; i <= 12; i++) {
            boolean many = t.nextIsMany();
            assertEquals(i % 2 == 1, many);
            t.record(many, many ? 600_000 : 1_000_000);
        }
        assertTrue(t.prefersMany());
        int other = 0;
        for (int i = 13; i <= 12 + 2 * OneDnnBackend.PROBE_PERIOD; i++) {
            boolean many = t.nextIsMany();
            if (!many) other++;
            t.record(many, many ? 600_000 : 1_000_000);
        }
        assertEquals(2, other, "the other count is probed once per period");
        // one disturbed probe does not flip the choice
        t.record(false, 100);
        assertTrue(t.prefersMany());
        // the machine gets busy: several threads become slower than one, and the choice follows
        for (int i = 0; i < 6 * OneDnnBackend.PROBE_PERIOD; i++) {
            boolean many = t.nextIsMany();
            t.record(many, many ? 2_000_000 : 1_000_000);
        }
        assertFalse(t.prefersMany());
    }

    /** Runs oneDNN, the scalar reference and the Vector API GEMM on the same random inputs and compares. */
    static void check(Backend backend, boolean tA, boolean tB, int M, int N, int K, int pad, float alpha, float beta, long seed) {
        int aRows = tA ? K : M, aCols = tA ? M : K, bRows = tB ? N : K, bCols = tB ? K : N;
        int lda = aCols + pad, ldb = bCols + pad, ldc = N + pad;
        try (Arena arena = Arena.ofShared()) {
            MemorySegment a = random(arena, (long) aRows * lda, seed), b = random(arena, (long) bRows * ldb, seed + 1);
            MemorySegment c0 = random(arena, (long) M * ldc, seed + 2);
            MemorySegment ref = copy(arena, c0), vec = copy(arena, c0), got = copy(arena, c0);
            Matmul.gemmScalar(tA, tB, M, N, K, alpha, a, lda, b, ldb, beta, ref, ldc);
            Matmul.gemm(tA, tB, M, N, K, alpha, a, lda, b, ldb, beta, vec, ldc);
            backend.sgemm(tA, tB, M, N, K, alpha, a, lda, b, ldb, beta, got, ldc);
            assertClose(ref, got, M, N, ldc, K);
            assertClose(vec, got, M, N, ldc, K);
            // padding columns of C are not part of the product and stay as they were
            for (int i = 0; i < M; i++) {
                for (int j = N; j < ldc; j++) {
                    assertEquals(c0.getAtIndex(FL, (long) i * ldc + j), got.getAtIndex(FL, (long) i * ldc + j), "C padding changed");
                }
            }
        }
    }

    /** |got − want| ≤ atol + rtol·|want| on the used part of C, with atol growing like √K for the length of the dot products. */
    static void assertClose(MemorySegment want, MemorySegment got, int M, int N, int ld, int K) {
        Close.assertClose("C", got, want, M, N, ld, 1e-5 * Math.sqrt(Math.max(1, K)) * 4, 1e-5);
    }

    static MemorySegment random(Arena arena, long n, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        MemorySegment s = arena.allocate(FL, Math.max(1, n));
        for (long i = 0; i < n; i++) s.setAtIndex(FL, i, (float) (r.nextDouble() * 2 - 1));
        return s;
    }

    static MemorySegment copy(Arena arena, MemorySegment s) {
        return arena.allocate(s.byteSize(), 64).copyFrom(s);
    }
}
