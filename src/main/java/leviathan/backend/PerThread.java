package leviathan.backend;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.function.Consumer;
import java.util.function.Supplier;

/**
 * Native state kept per calling thread (a oneDNN stream with its cached primitives), released when
 * its thread has ended: a server runs each request on a new virtual thread, so state kept until
 * {@link #close} would grow with every request. A thread finds its own state without a lock and
 * without allocating ({@link ThreadLocal}); when a thread asks for the first time, the states of
 * the threads that have ended since are released, so at most one state per live thread (plus the
 * ones that ended after the last new thread came) is held at any time. A state is only ever used by
 * its own thread, so one of an ended thread can be released safely.
 */
final class PerThread<S> implements AutoCloseable {
    private record Owned<S>(Thread owner, S state) { }

    private final Supplier<S> make;
    private final Consumer<S> release;
    private final List<Owned<S>> held = new ArrayList<>();           // guarded by this
    private final ThreadLocal<Owned<S>> mine = ThreadLocal.withInitial(this::create);
    private boolean closed;                                           // guarded by this

    /** {@code make} creates a thread's state, {@code release} frees one (called under this object's lock). */
    PerThread(Supplier<S> make, Consumer<S> release) {
        this.make = make;
        this.release = release;
    }

    /** The calling thread's state, created on its first call. */
    S get() { return mine.get().state(); }

    private synchronized Owned<S> create() {
        if (closed) throw new IllegalStateException("backend is closed");
        releaseEnded();
        Owned<S> o = new Owned<>(Thread.currentThread(), make.get());
        held.add(o);
        return o;
    }

    /** Releases the states of threads that have ended; returns how many. */
    synchronized int releaseEnded() {
        int n = 0;
        for (Iterator<Owned<S>> it = held.iterator(); it.hasNext(); ) {
            Owned<S> o = it.next();
            if (!o.owner().isAlive()) {
                it.remove();
                release.accept(o.state());
                n++;
            }
        }
        return n;
    }

    /** States held now (one per thread that has used this and had not ended at the last release). */
    synchronized int held() { return held.size(); }

    /** Releases every state; later calls of {@link #get} from a new thread fail. */
    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        for (Owned<S> o : held) release.accept(o.state());
        held.clear();
    }
}
