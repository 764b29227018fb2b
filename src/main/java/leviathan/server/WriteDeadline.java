package leviathan.server;

import com.sun.net.httpserver.HttpExchange;
import java.io.IOException;
import java.time.Duration;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.Executors;
import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.LongAdder;

/**
 * A deadline on every write to a client: a client that stops reading (its receive window full)
 * blocks the writing thread, and with it a generation slot, for as long as it likes. A timer aborts
 * the connection of a write that has not completed within the deadline ({@link HttpAccess#abort}:
 * the HTTP layer closes it), so the blocked write fails at once; it then throws {@link Expired}, the
 * generation stops and its slot is freed. {@link #closes()} counts the connections closed this way.
 */
final class WriteDeadline implements AutoCloseable {
    /** A write that did not complete within the deadline; its connection is closed. */
    static final class Expired extends IOException {
        private static final long serialVersionUID = 1L;

        Expired(Duration d) { super("the client read nothing for " + d.toMillis() / 1000.0 + " s (the write deadline): connection closed"); }
    }

    /** One blocking write (or header send) to a client. */
    @FunctionalInterface
    interface Write {
        void run() throws IOException;
    }

    /** A write in progress: when it is due, and the exchange whose connection to abort then. */
    private record Pending(long due, HttpExchange exchange) {}

    private final Duration deadline;
    private final ScheduledExecutorService timer;
    private final Map<Thread, Pending> writing = new ConcurrentHashMap<>();
    private final Set<Thread> expired = ConcurrentHashMap.newKeySet();
    private final LongAdder closes = new LongAdder();
    /** Set on an exchange's thread when one of its writes expired (each exchange has its own virtual thread). */
    private final ThreadLocal<Expired> expiredHere = new ThreadLocal<>();

    WriteDeadline(Duration deadline) {
        this.deadline = deadline;
        this.timer = Executors.newSingleThreadScheduledExecutor(r -> Thread.ofPlatform().daemon().name("leviathan-write-deadline").unstarted(r));
        long period = Math.clamp(deadline.toMillis() / 4, 10, 250);
        timer.scheduleAtFixedRate(this::expire, period, period, TimeUnit.MILLISECONDS);
    }

    /** Runs {@code w}, a write to {@code ex}'s client; throws {@link Expired} when it outlived the deadline (the connection is then closed). */
    void write(HttpExchange ex, Write w) throws IOException {
        Thread t = Thread.currentThread();
        writing.put(t, new Pending(System.nanoTime() + deadline.toNanos(), ex));
        IOException failed = null;
        try {
            w.run();
        } catch (IOException e) {
            failed = e;
        }
        boolean late;
        synchronized (this) {
            writing.remove(t);
            late = expired.remove(t);
        }
        if (late) {
            Expired e = new Expired(deadline);
            expiredHere.set(e);
            throw e;
        }
        if (failed != null) throw failed;
    }

    private synchronized void expire() {
        long now = System.nanoTime();
        for (var e : writing.entrySet()) {
            if (now - e.getValue().due() > 0) {
                writing.remove(e.getKey());
                expired.add(e.getKey());
                closes.increment();
                HttpAccess.abort(e.getValue().exchange());    // the blocked write fails at once
            }
        }
    }
    /** The expiry of a write of this thread's exchange, or null; clears it. */
    Expired takeExpired() {
        Expired e = expiredHere.get();
        expiredHere.remove();
        return e;
    }

    /** Connections closed because a write outlived the deadline. */
    long closes() { return closes.sum(); }

    @Override
    public void close() { timer.shutdownNow(); }
}
