package leviathan.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Test;

class ParallelTest {
    private final int keep = Parallel.threads();

    @AfterEach
    void restore() { Parallel.setThreads(keep); }

    /** Runs forRange and checks that every index in [0, n) was handed out exactly once. */
    private static void assertCoversOnce(int n, int grain) {
        var hits = new AtomicIntegerArray(Math.max(n, 1));
        Parallel.forRange(n, grain, (from, to) -> {
            assertTrue(0 <= from && from < to && to <= n, "bad range [" + from + ", " + to + ") for n " + n);
            for (int i = from; i < to; i++) hits.incrementAndGet(i);
        });
        for (int i = 0; i < n; i++) {
            if (hits.get(i) != 1) fail("index " + i + " ran " + hits.get(i) + " times (n " + n + ", grain " + grain + ", threads " + Parallel.threads() + ")");
        }
    }

    @Test
    void coversEveryIndexExactlyOnce() {
        for (int threads : new int[] {1, 2, 3, 4, 7, 16}) {
            Parallel.setThreads(threads);
            for (int n : new int[] {0, 1, 2, 3, 5, 7, 16, 17, 100, 768, 1001, 65_537}) {
                for (int grain : new int[] {1, 3, 64, 1 << 20}) assertCoversOnce(n, grain);
            }
        }
    }

    @Test
    void manyCallsInARowStayCorrect() {
        // back-to-back calls: a worker that wakes late must not run a stale or repeated part
        Parallel.setThreads(4);
        for (int rep = 0; rep < 2000; rep++) assertCoversOnce(1 + rep % 37, 1);
    }

    @Test
    void usesSeveralThreadsForCoarseWork() {
        Parallel.setThreads(3);
        var names = java.util.concurrent.ConcurrentHashMap.<String>newKeySet();
        Parallel.forRange(3, (from, to) -> names.add(Thread.currentThread().getName()));
        assertEquals(3, names.size(), "threads seen: " + names);
    }

    @Test
    void grainLimitsTheNumberOfParts() {
        Parallel.setThreads(4);
        var parts = new AtomicInteger();
        Parallel.forRange(100, 50, (from, to) -> parts.incrementAndGet());
        assertEquals(2, parts.get());
    }

    @Test
    void nestedCallsRunSeriallyAndCoverEverything() {
        Parallel.setThreads(3);
        var hits = new AtomicIntegerArray(6 * 50);
        Parallel.forRange(6, (from, to) -> {
            for (int i = from; i < to; i++) {
                final int row = i;
                Parallel.forRange(50, (a, b) -> {
                    for (int j = a; j < b; j++) hits.incrementAndGet(row * 50 + j);
                });
            }
        });
        for (int i = 0; i < hits.length(); i++) assertEquals(1, hits.get(i), "index " + i);
    }

    @Test
    void propagatesExceptionsFromWorkersAndCaller() {
        Parallel.setThreads(4);
        var boom = new IllegalStateException("worker part");
        // the caller runs part 0; index 99 is in the last part, run by a worker
        var thrown = assertThrows(IllegalStateException.class, () -> Parallel.forRange(100, (from, to) -> {
            if (to == 100) throw boom;
        }));
        assertSame(boom, thrown);
        assertThrows(ArithmeticException.class, () -> Parallel.forRange(100, (from, to) -> {
            if (from == 0) throw new ArithmeticException("caller part");
        }));
        var error = assertThrows(AssertionError.class, () -> Parallel.forRange(100, (from, to) -> {
            if (to == 100) throw new AssertionError("an Error");
        }));
        assertEquals("an Error", error.getMessage());
        assertCoversOnce(1000, 1);                                  // the pool still works afterwards
    }

    @Test
    void changingTheThreadCountBetweenCalls() {
        for (int threads : new int[] {2, 5, 1, 3, 2}) {
            Parallel.setThreads(threads);
            assertEquals(threads, Parallel.threads());
            assertCoversOnce(997, 1);
        }
        assertThrows(IllegalArgumentException.class, () -> Parallel.setThreads(0));
    }

    @Test
    void theThreadCountIsBounded() {
        int max = Parallel.maxThreads();
        assertTrue(max >= Parallel.MIN_THREAD_CAP && max >= Parallel.MAX_THREADS_PER_CORE * Runtime.getRuntime().availableProcessors());
        int before = Parallel.threads();
        var e = assertThrows(IllegalArgumentException.class, () -> Parallel.setThreads(100_000));
        assertTrue(e.getMessage().startsWith("threads must be at most " + max + " ("), e.getMessage());
        assertThrows(IllegalArgumentException.class, () -> Parallel.setThreads(max + 1));
        assertEquals(before, Parallel.threads(), "a refused count changes nothing");
        Parallel.setThreads(max);                                   // the bound itself is allowed (threads start lazily)
        assertEquals(max, Parallel.threads());
    }

    /** The distinct threads that ran a part of a 64-index loop called from here. */
    private static java.util.Set<Thread> threadsOfALoop() {
        var seen = java.util.concurrent.ConcurrentHashMap.<Thread>newKeySet();
        Parallel.forRange(64, (from, to) -> seen.add(Thread.currentThread()));
        return seen;
    }

    @Test
    void aBoundPoolKeepsItsOwnCountWhateverTheDefault() {
        Parallel.setThreads(3);
        try (Parallel.Workers two = new Parallel.Workers(2)) {
            assertEquals(2, two.call(Parallel::threads));
            assertEquals(2, two.call(ParallelTest::threadsOfALoop).size(), "the loop ran on the bound pool's two threads");
            Parallel.setThreads(1);                                  // the default changes; the bound pool does not
            assertEquals(2, two.call(ParallelTest::threadsOfALoop).size());
            assertEquals(1, threadsOfALoop().size(), "outside the binding the default pool (1 thread) runs it");
            // a body on a worker sees the pool it runs on
            var inside = java.util.concurrent.ConcurrentHashMap.<Integer>newKeySet();
            two.run(() -> Parallel.forRange(2, (from, to) -> inside.add(Parallel.threads())));
            assertEquals(java.util.Set.of(2), inside);
        }
    }

    @Test
    void twoPoolsUsedAtOnceFromTwoThreadsKeepTheirCounts() throws Exception {
        try (Parallel.Workers three = new Parallel.Workers(3); Parallel.Workers two = new Parallel.Workers(2)) {
            var start = new java.util.concurrent.CyclicBarrier(2);
            java.util.concurrent.Callable<java.util.Set<Integer>> a = () -> counts(three, start), b = () -> counts(two, start);
            try (var pool = java.util.concurrent.Executors.newFixedThreadPool(2)) {
                var fa = pool.submit(a);
                var fb = pool.submit(b);
                assertEquals(java.util.Set.of(3), fa.get(60, java.util.concurrent.TimeUnit.SECONDS));
                assertEquals(java.util.Set.of(2), fb.get(60, java.util.concurrent.TimeUnit.SECONDS));
            }
        }
    }

    /** The distinct-thread counts of 200 loops on {@code w}, started together with another caller. */
    private static java.util.Set<Integer> counts(Parallel.Workers w, java.util.concurrent.CyclicBarrier start) throws Exception {
        start.await(30, java.util.concurrent.TimeUnit.SECONDS);
        return w.call(() -> {
            var sizes = new java.util.HashSet<Integer>();
            for (int i = 0; i < 200; i++) sizes.add(threadsOfALoop().size());
            return sizes;
        });
    }

    @Test
    void closingAPoolEndsItsWorkersAndLaterLoopsRunOnTheCaller() throws Exception {
        Parallel.Workers w = new Parallel.Workers(3);
        var seen = w.call(ParallelTest::threadsOfALoop);
        assertEquals(3, seen.size());
        w.close();
        for (Thread t : seen) {
            if (t != Thread.currentThread()) {
                t.join(10_000);
                assertTrue(!t.isAlive(), t.getName() + " ended after close");
            }
        }
        assertEquals(java.util.Set.of(Thread.currentThread()), w.call(ParallelTest::threadsOfALoop));
        assertThrows(IllegalArgumentException.class, () -> new Parallel.Workers(0));
    }
}
