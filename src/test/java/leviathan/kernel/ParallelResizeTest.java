package leviathan.kernel;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import org.junit.jupiter.api.Test;

/** Changing the thread count while another thread runs parallel loops neither deadlocks nor loses work. */
class ParallelResizeTest {

    @Test
    void resizingUnderLoadIsSafe() throws Exception {
        int before = Parallel.threads();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicLong covered = new AtomicLong(), expected = new AtomicLong();
        Thread worker = new Thread(() -> {
            while (!stop.get()) {
                int n = 1000;
                Parallel.forRange(n, 10, (a, b) -> covered.addAndGet(b - a));
                expected.addAndGet(n);
            }
        });
        worker.start();
        long end = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(500);
        int k = 0;
        while (System.nanoTime() < end) {
            Parallel.setThreads(2 + (k++ % 2));
            Parallel.forRange(100, 1, (a, b) -> { });    // builds the new pool while the other thread is mid-loop
        }
        stop.set(true);
        worker.join(10_000);
        Parallel.setThreads(before);
        assertTrue(!worker.isAlive(), "the looping thread finished (no deadlock)");
        assertEquals(expected.get(), covered.get(), "every index ran exactly once");
    }
}
