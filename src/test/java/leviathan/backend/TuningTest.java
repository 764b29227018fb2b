package leviathan.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.SequencedMap;
import java.util.concurrent.atomic.AtomicInteger;
import leviathan.kernel.Correlation;
import leviathan.kernel.Matmul;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TuningTest {
    private static final MachineKey KEY = new MachineKey("Test CPU", "f00d", "25+1", 8, 16, "abc");

    @TempDir
    Path dir;

    private final List<String> log = new ArrayList<>();

    private Tuning open(MachineKey key, boolean enabled, long budgetMs) {
        return new Tuning(dir, key, enabled, budgetMs, log::add);
    }

    /** "slow" sleeps a millisecond and a half per run, "fast" does nothing; both count their runs. */
    private static SequencedMap<String, Runnable> slowFirst(AtomicInteger runs) {
        SequencedMap<String, Runnable> c = new LinkedHashMap<>();
        c.put("slow", () -> {
            runs.incrementAndGet();
            try {
                Thread.sleep(1, 500_000);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        c.put("fast", runs::incrementAndGet);
        return c;
    }

    @Test
    void theFasterCandidateIsCachedAndReusedWithoutTiming() {
        AtomicInteger runs = new AtomicInteger();
        assertEquals("fast", open(KEY, true, 10_000).choose("shape", slowFirst(runs)));
        assertTrue(runs.get() > 0);
        runs.set(0);
        Tuning again = open(KEY, true, 10_000);
        assertEquals(1, again.entries().size());
        assertEquals("fast", again.choose("shape", slowFirst(runs)));
        assertEquals(0, runs.get(), "a cached choice is not timed again");
        assertTrue(log.isEmpty(), log.toString());
    }

    @Test
    void everyFieldOfTheKeyNamesAnotherFile() {
        List<MachineKey> keys = List.of(KEY,
                new MachineKey("Other CPU", "f00d", "25+1", 8, 16, "abc"), new MachineKey("Test CPU", "beef", "25+1", 8, 16, "abc"),
                new MachineKey("Test CPU", "f00d", "26+1", 8, 16, "abc"), new MachineKey("Test CPU", "f00d", "25+1", 4, 16, "abc"),
                new MachineKey("Test CPU", "f00d", "25+1", 8, 32, "abc"), new MachineKey("Test CPU", "f00d", "25+1", 8, 16, "abd"));
        assertEquals(keys.size(), keys.stream().map(MachineKey::id).distinct().count());
        assertEquals(KEY.id(), new MachineKey("Test CPU", "f00d", "25+1", 8, 16, "abc").id());
        open(KEY, true, 10_000).choose("shape", slowFirst(new AtomicInteger()));
        AtomicInteger runs = new AtomicInteger();
        Tuning otherJdk = open(keys.get(3), true, 10_000);
        assertTrue(otherJdk.entries().isEmpty(), "another JDK starts with no choices");
        otherJdk.choose("shape", slowFirst(runs));
        assertTrue(runs.get() > 0, "and times them again");
        assertNotEquals(otherJdk.file(), open(KEY, true, 10_000).file());
    }

    @Test
    void aDamagedCacheCostsOneLineAndIsRebuilt() throws IOException {
        Tuning first = open(KEY, true, 10_000);
        first.choose("shape", slowFirst(new AtomicInteger()));
        List<String> good = Files.readAllLines(first.file());
        List<List<String>> damaged = List.of(
                List.of("garbage"),
                good.subList(0, good.size() - 1),                                  // truncated: no end line
                List.of(good.get(0), good.get(1), "shape only-two-fields", "end\t1"),
                List.of(good.get(0), good.get(1).replace("Test CPU", "Other CPU"), "end\t0"));
        for (List<String> bad : damaged) {
            Files.write(first.file(), bad);
            log.clear();
            AtomicInteger runs = new AtomicInteger();
            Tuning t = open(KEY, true, 10_000);
            assertEquals(1, log.size(), bad + ": " + log);
            assertTrue(log.get(0).contains("damaged") && log.get(0).contains(t.file().toString()), log.get(0));
            assertEquals("fast", t.choose("shape", slowFirst(runs)));
            assertTrue(runs.get() > 0, "timed again");
            log.clear();
            assertEquals(1, open(KEY, true, 10_000).entries().size(), "rebuilt");
            assertTrue(log.isEmpty(), log.toString());
        }
    }

    @Test
    void tuneFalseRunsTheDefaultsAndWritesNothing() {
        AtomicInteger runs = new AtomicInteger();
        Tuning off = open(KEY, false, 10_000);
        assertEquals("slow", off.choose("shape", slowFirst(runs)));
        assertEquals(0, runs.get());
        assertFalse(Files.exists(off.file()));
        int tile = Correlation.tileVectors();
        assertEquals("direct", off.correlation(2, 16, 32, 2, 4, "direct"));
        assertEquals(tile, Correlation.tileVectors());
    }

    @Test
    void aSpentBudgetLeavesTheDefaultUncached() {
        Tuning none = open(KEY, true, 0);
        AtomicInteger runs = new AtomicInteger();
        assertEquals("slow", none.choose("a", slowFirst(runs)));
        assertEquals("slow", none.choose("b", slowFirst(runs)));
        assertEquals(0, runs.get());
        assertEquals(1, log.size(), "one line for the whole run: " + log);
        assertTrue(none.entries().isEmpty());
        assertFalse(Files.exists(none.file()));
    }

    @Test
    void correlationChoiceIsAnImplementationAndSetsATile() {
        int saved = Correlation.tileVectors();
        try {
            Tuning t = open(KEY, true, 10_000);
            String impl = t.correlation(2, 12, 16, 2, 4, "direct");
            assertTrue(impl.equals("direct") || impl.equals("fft"), impl);
            Tuning.Entry e = t.entries().get(0);
            assertTrue(e.name().startsWith("correlation C16 H2 N4 T12"), e.name());
            if (impl.equals("direct")) assertEquals(e.choice(), "direct/" + Correlation.tileVectors());
            Correlation.setTileVectors(1);
            Tuning again = open(KEY, true, 10_000);
            assertEquals(impl, again.correlation(2, 12, 16, 2, 4, "direct"), "the cached choice");
            assertEquals(t.entries(), again.entries(), "read, not timed again");
            if (impl.equals("direct")) assertEquals(e.choice(), "direct/" + Correlation.tileVectors(), "and its tile set");
        } finally {
            Correlation.setTileVectors(saved);
        }
    }

    @Test
    void tunedGemmMatchesTheJavaGemmAndIsCachedPerShape() {
        int rows = Matmul.tileRows();
        try (Arena arena = Arena.ofShared(); TunedBackend b = new TunedBackend(new JavaBackend(), open(KEY, true, 10_000))) {
            int M = 70, N = 130, K = 60;                                        // 1.1 MFLOP: tuned
            MemorySegment x = arena.allocate((long) M * K * 4), w = arena.allocate((long) N * K * 4);
            MemorySegment y = arena.allocate((long) M * N * 4), ref = arena.allocate((long) M * N * 4);
            Tuning.fill(x);
            Tuning.fill(w);
            for (int i = 0; i < Tuning.WARM_CALLS; i++) {
                assertTrue(open(KEY, true, 10_000).entries().isEmpty(), "chosen at call " + Tuning.WARM_CALLS + ", not at call " + (i + 1));
                b.sgemm(false, true, M, N, K, 1f, x, K, w, K, 0f, y, N);
            }
            Matmul.gemm(false, true, M, N, K, 1f, x, K, w, K, 0f, ref, N);
            assertEquals(-1, y.mismatch(ref), "the Java GEMM gives the same bits on any thread count");
            List<String> names = open(KEY, true, 10_000).entries().stream().map(Tuning.Entry::name).toList();
            assertEquals(2, names.size(), names.toString());
            assertEquals(Tuning.GEMM_TILE, names.get(1), "the tile height is timed with the first shape");
            assertTrue(names.get(0).startsWith("gemm NT 70x130x60 threads ") && names.get(0).endsWith(" java"), names.get(0));
            for (int i = 0; i < 2 * Tuning.WARM_CALLS; i++) b.sgemm(false, true, 2, 3, 4, 1f, x, K, w, K, 0f, y, N);   // small: not tuned
            assertEquals(2, open(KEY, true, 10_000).entries().size());
        } finally {
            Matmul.setTileRows(rows);
        }
    }

    /**
     * A cached choice is what runs, untimed, from the shape's {@link Tuning#WARM_CALLS}th call on,
     * and two runs over one cache give the same bits call by call (the Java and oneDNN GEMMs round
     * differently, so running the other engine would show).
     */
    @Test
    void aCachedEngineChoiceRunsAndRepeatsBitForBit() throws IOException {
        OneDnnBackend onednn = OneDnnTesting.backendOrSkip();
        int M = 96, N = 120, K = 100;
        for (String engine : List.of("java/1", "onednn/1")) {
            String name = new TunedBackend(onednn, open(KEY, false, 0)).entryName(false, true, M, N, K);
            Path file = open(KEY, false, 0).file();
            Files.write(file, List.of(Tuning.HEADER, KEY.line(), name + "\t" + engine + "\twritten by the test",
                    Tuning.GEMM_TILE + "\t" + Matmul.defaultTileRows() + "\twritten by the test", "end\t2"));
            List<float[]> runs = new ArrayList<>();
            try (Arena arena = Arena.ofShared()) {
                MemorySegment x = arena.allocate((long) M * K * 4), w = arena.allocate((long) N * K * 4), y = arena.allocate((long) M * N * 4);
                MemorySegment ref = arena.allocate((long) M * N * 4);
                Tuning.fill(x);
                for (long i = 0; i < N * K; i++) w.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, (float) Math.sin(i));
                if (engine.startsWith("java")) Matmul.gemm(false, true, M, N, K, 1f, x, K, w, K, 0f, ref, N);
                else onednn.sgemmOn(1, false, true, M, N, K, 1f, x, 0, K, w, 0, K, 0f, ref, 0, N);
                for (int run = 0; run < 2; run++) {
                    Tuning t = open(KEY, true, 10_000);
                    TunedBackend b = new TunedBackend(onednn, t);
                    for (int call = 1; call <= Tuning.WARM_CALLS + 1; call++) {
                        b.sgemm(false, true, M, N, K, 1f, x, K, w, K, 0f, y, N);
                        runs.add(y.toArray(java.lang.foreign.ValueLayout.JAVA_FLOAT));
                        if (call >= Tuning.WARM_CALLS) assertEquals(-1, y.mismatch(ref), engine + ", call " + call + ": not the cached engine's bits");
                    }
                    assertEquals("written by the test", t.entries().stream().filter(e -> e.name().equals(name)).findFirst().orElseThrow().timings(),
                            "a cached choice is not timed again");
                }
            }
            int calls = runs.size() / 2;
            for (int i = 0; i < calls; i++) {
                assertTrue(java.util.Arrays.equals(runs.get(i), runs.get(calls + i)), engine + ": call " + (i + 1) + " differs between two runs");
            }
            Files.delete(file);
        }
    }
}
