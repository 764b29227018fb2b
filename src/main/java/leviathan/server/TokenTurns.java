package leviathan.server;

import java.util.ArrayDeque;
import java.util.concurrent.locks.Condition;
import java.util.concurrent.locks.ReentrantLock;
import leviathan.api.LanguageModel;

/**
 * The server's scheduler: at most {@code width} token steps compute at once (one per core by
 * default), and the generations in progress take turns token by token. A generation waiting for
 * its first token goes ahead of the next tokens of running ones; the rest are served first come,
 * first served. So a new request's first token waits for about one token step, not for other
 * requests' whole generations, and every running generation keeps moving. With no one waiting,
 * entering and leaving is a lock and a counter.
 */
final class TokenTurns implements LanguageModel.Turns {
    private final ReentrantLock lock = new ReentrantLock();
    private final ArrayDeque<Waiter> firsts = new ArrayDeque<>(), nexts = new ArrayDeque<>();
    private int free;

    private static final class Waiter {
        final Condition granted;
        boolean done;

        Waiter(Condition c) { granted = c; }
    }

    TokenTurns(int width) {
        if (width < 1) throw new IllegalArgumentException("turns must be >= 1, got " + width);
        this.free = width;
    }

    @Override
    public void enter(boolean first) throws InterruptedException {
        lock.lock();
        try {
            if (free > 0 && firsts.isEmpty() && nexts.isEmpty()) {
                free--;
                return;
            }
            Waiter w = new Waiter(lock.newCondition());
            (first ? firsts : nexts).add(w);
            try {
                while (!w.done) w.granted.await();
            } catch (InterruptedException e) {
                if (w.done) pass();                       // granted just before the interrupt: hand it on
                else (first ? firsts : nexts).remove(w);
                throw e;
            }
        } finally {
            lock.unlock();
        }
    }

    @Override
    public void leave() {
        lock.lock();
        try {
            pass();
        } finally {
            lock.unlock();
        }
    }

    /** Generations waiting for a turn (first tokens and next tokens). */
    int waiting() {
        lock.lock();
        try {
            return firsts.size() + nexts.size();
        } finally {
            lock.unlock();
        }
    }

    private void pass() {
        Waiter w = firsts.poll();
        if (w == null) w = nexts.poll();
        if (w == null) {
            free++;
            return;
        }
        w.done = true;
        w.granted.signal();
    }
}
