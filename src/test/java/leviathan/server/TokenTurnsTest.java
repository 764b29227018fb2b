package leviathan.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.List;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;

/** The server's token scheduler: width, first tokens ahead, first come first served, interrupts. */
@Timeout(30)
class TokenTurnsTest {

    /** Starts a thread that waits for a turn, records its name when granted, and leaves once released. */
    private static Thread waiter(TokenTurns turns, boolean first, String name, List<String> order, CountDownLatch release) {
        Thread t = Thread.ofVirtual().unstarted(() -> {
            try {
                turns.enter(first);
                order.add(name);
                release.await();
                turns.leave();
            } catch (InterruptedException e) {
                order.add(name + " interrupted");
            }
        });
        t.start();
        return t;
    }

    private static void awaitWaiting(TokenTurns turns, int n) throws InterruptedException {
        long end = System.nanoTime() + TimeUnit.SECONDS.toNanos(10);
        while (turns.waiting() != n) {
            assertTrue(System.nanoTime() < end, "expected " + n + " waiting, have " + turns.waiting());
            Thread.sleep(1);
        }
    }

    @Test
    void widthTurnsComputeAtOnceWithoutWaiting() throws InterruptedException {
        TokenTurns turns = new TokenTurns(2);
        turns.enter(false);
        turns.enter(true);                       // both granted at once
        assertEquals(0, turns.waiting());
        List<String> order = new CopyOnWriteArrayList<>();
        Thread third = waiter(turns, false, "third", order, new CountDownLatch(0));
        awaitWaiting(turns, 1);
        assertTrue(order.isEmpty(), "a third turn must wait while two are held");
        turns.leave();
        third.join();
        assertEquals(List.of("third"), order);
        turns.leave();
        turns.enter(false);                      // both free again: no waiting
        turns.enter(false);
        turns.leave();
        turns.leave();
    }

    @Test
    void aFirstTokenGoesAheadOfNextTokensWhichAreServedInOrder() throws InterruptedException {
        TokenTurns turns = new TokenTurns(1);
        turns.enter(false);                      // a running generation holds the only turn
        List<String> order = new CopyOnWriteArrayList<>();
        CountDownLatch release = new CountDownLatch(0);
        Thread n1 = waiter(turns, false, "next-1", order, release);
        awaitWaiting(turns, 1);
        Thread n2 = waiter(turns, false, "next-2", order, release);
        awaitWaiting(turns, 2);
        Thread f = waiter(turns, true, "first", order, release);
        awaitWaiting(turns, 3);
        turns.leave();
        n1.join();
        n2.join();
        f.join();
        assertEquals(List.of("first", "next-1", "next-2"), order);
        turns.enter(false);                      // everything was handed back
        turns.leave();
    }

    @Test
    void anInterruptedWaiterLeavesTheQueueAndTakesNoTurn() throws InterruptedException {
        TokenTurns turns = new TokenTurns(1);
        turns.enter(false);
        List<String> order = new CopyOnWriteArrayList<>();
        Thread gone = waiter(turns, true, "gone", order, new CountDownLatch(0));
        awaitWaiting(turns, 1);
        gone.interrupt();
        gone.join();
        assertEquals(List.of("gone interrupted"), order);
        assertEquals(0, turns.waiting());
        Thread next = waiter(turns, false, "next", order, new CountDownLatch(0));
        awaitWaiting(turns, 1);
        turns.leave();
        next.join();
        assertEquals(List.of("gone interrupted", "next"), order);
        turns.enter(false);
        turns.leave();
        assertFalse(Thread.currentThread().isInterrupted());
    }

    @Test
    void widthMustBePositive() {
        assertThrows(IllegalArgumentException.class, () -> new TokenTurns(0));
    }
}
