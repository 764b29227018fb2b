package leviathan.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.Executors;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;

/**
 * The release logic of oneDNN's per-thread state ({@link PerThread}, used by {@link OneDnnMatmul}),
 * checked with counted stand-in states: a test through oneDNN itself needs a CPU with bf16
 * instructions (OneDnnMatmul runs only for bf16), which the machines this suite runs on may lack.
 */
class PerThreadTest {
    /** Counts states made and released, and which were released. */
    static final class Counted {
        final AtomicInteger made = new AtomicInteger();
        final Set<Integer> released = ConcurrentHashMap.newKeySet();
        final PerThread<Integer> perThread = new PerThread<>(made::incrementAndGet, s -> assertTrue(released.add(s), "released twice: " + s));
    }

    @Test
    void aThreadKeepsOneStateWhileItLives() throws Exception {
        Counted c = new Counted();
        int first = c.perThread.get();
        assertSame(first, c.perThread.get());
        Thread other = Thread.ofPlatform().start(c.perThread::get);
        other.join();
        assertEquals(2, c.made.get());
        assertEquals(1, c.perThread.releaseEnded(), "the ended thread's state alone is released");
        assertEquals(Set.of(2), c.released);
        assertEquals(first, c.perThread.get(), "the living thread's state is kept");
        c.perThread.close();
        assertEquals(Set.of(1, 2), c.released, "close releases the rest");
    }

    @Test
    void tenThousandRequestsOnVirtualThreadsHoldOnlyTheLiveThreadsStates() throws Exception {
        Counted c = new Counted();
        CountDownLatch end = new CountDownLatch(1), started = new CountDownLatch(1);
        int[] longLived = new int[1];
        Thread server = Thread.ofVirtual().start(() -> {         // a thread that lives through all the requests
            longLived[0] = c.perThread.get();
            started.countDown();
            try {
                end.await();
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        });
        started.await();
        int most = 0;
        try (var requests = Executors.newVirtualThreadPerTaskExecutor()) {
            for (int batch = 0; batch < 100; batch++) {
                var done = new java.util.ArrayList<java.util.concurrent.Future<?>>();
                for (int r = 0; r < 100; r++) done.add(requests.submit(() -> { c.perThread.get(); }));
                for (var f : done) f.get();
                most = Math.max(most, c.perThread.held());
            }
        }
        assertEquals(10_001, c.made.get(), "one state per request thread, plus the long-lived one");
        assertTrue(most <= 1 + 2 * 100, "held at most the live threads' states plus one batch of ended ones, held " + most);
        c.perThread.releaseEnded();
        assertEquals(1, c.perThread.held(), "after the requests only the living thread's state is left");
        assertTrue(!c.released.contains(longLived[0]), "a living thread's state is never released");
        end.countDown();
        server.join();
        c.perThread.releaseEnded();
        assertEquals(0, c.perThread.held());
        assertEquals(10_001, c.released.size(), "every state released exactly once");
    }

    @Test
    void aClosedOneRefusesNewThreads() throws Exception {
        Counted c = new Counted();
        c.perThread.close();
        var e = new java.util.concurrent.atomic.AtomicReference<Throwable>();
        Thread t = Thread.ofPlatform().start(() -> {
            try {
                c.perThread.get();
            } catch (Throwable x) {
                e.set(x);
            }
        });
        t.join();
        assertTrue(e.get() instanceof IllegalStateException, String.valueOf(e.get()));
        assertEquals(0, c.made.get());
    }
}
