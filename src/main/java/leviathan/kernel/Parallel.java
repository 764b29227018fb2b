package leviathan.kernel;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;

/**
 * A small fork-join over index ranges for the kernels: {@code forRange(n, body)} splits
 * {@code [0, n)} into chunks run by the calling thread and {@code threads() - 1} workers.
 *
 * <p>Workers park between calls instead of spinning: on machines whose vCPUs are hyperthreads or
 * shared (2 vCPUs that behave like less than two cores), a spin-waiting worker steals cycles from
 * the thread doing the work, which was measured to make parallel kernels slower than one thread.
 * Calls from inside a running body execute serially, so nested kernels are safe.
 *
 * <p>The thread count comes from {@code -Dleviathan.threads} (default: available processors) and
 * can be changed with {@link #setThreads(int)} between calls.
 */
public final class Parallel {
    private Parallel() {}

    /** The body of a parallel loop: handles indices {@code [from, to)}. */
    @FunctionalInterface
    public interface Range {
        void run(int from, int to);
    }

    private static volatile int threads = defaultThreads();
    private static Pool pool;
    private static final ThreadLocal<Boolean> INSIDE = ThreadLocal.withInitial(() -> false);

    private static int defaultThreads() {
        String p = System.getProperty("leviathan.threads");
        int cpus = Runtime.getRuntime().availableProcessors();
        if (p == null || p.isBlank()) return cpus;
        try {
            int t = Integer.parseInt(p.trim());
            if (t < 1) throw new NumberFormatException();
            return t;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("leviathan.threads must be a positive integer, got '" + p + "'");
        }
    }

    /** Threads used by kernels, the calling thread included. */
    public static int threads() { return threads; }

    /** Sets the kernel thread count (>= 1); takes effect at the next call. */
    public static synchronized void setThreads(int n) {
        if (n < 1) throw new IllegalArgumentException("threads must be >= 1, got " + n);
        threads = n;
    }

    /** Runs {@code body} over {@code [0, n)} in chunks of at least {@code grain} indices. */
    public static void forRange(int n, int grain, Range body) {
        if (n <= 0) return;
        int t = threads;
        int chunks = Math.min(t, Math.max(1, n / Math.max(1, grain)));
        if (chunks <= 1 || INSIDE.get()) {
            body.run(0, n);
            return;
        }
        pool(t).run(n, chunks, body);
    }

    /** {@link #forRange(int, int, Range)} with grain 1: for coarse work items (heads, rows). */
    public static void forRange(int n, Range body) { forRange(n, 1, body); }

    private static synchronized Pool pool(int t) {
        if (pool == null || pool.size != t) {
            Pool old = pool;
            pool = new Pool(t);
            if (old != null) {
                // waits for a loop that another thread is running on the old pool to finish
                synchronized (old) { old.shutdown(); }
            }
        }
        return pool;
    }

    /** Static split into {@code chunks} contiguous parts; the caller takes part 0. */
    private static final class Pool {
        final int size;
        final Thread[] workers;
        volatile int generation;
        volatile boolean stop;
        volatile Range body;
        volatile int n, chunks;
        final AtomicInteger pending = new AtomicInteger();
        volatile Thread caller;
        volatile Throwable failure;

        Pool(int size) {
            this.size = size;
            workers = new Thread[size - 1];
            for (int w = 0; w < workers.length; w++) {
                final int part = w + 1;
                Thread th = new Thread(() -> loop(part), "leviathan-kernel-" + part);
                th.setDaemon(true);
                workers[w] = th;
                th.start();
            }
        }

        private void loop(int part) {
            int seen = 0;
            INSIDE.set(true);
            while (!stop) {
                if (generation == seen) {
                    LockSupport.park(this);
                    continue;
                }
                seen = generation;
                if (part < chunks) {
                    try {
                        runPart(part);
                    } catch (Throwable e) {
                        failure = e;
                    }
                    if (pending.decrementAndGet() == 0) LockSupport.unpark(caller);
                }
            }
        }

        private void runPart(int part) {
            int from = (int) ((long) n * part / chunks), to = (int) ((long) n * (part + 1) / chunks);
            if (from < to) body.run(from, to);
        }

        synchronized void run(int n, int chunks, Range body) {
            if (stop) {                       // replaced by setThreads after the caller fetched it
                body.run(0, n);
                return;
            }
            this.n = n;
            this.chunks = chunks;
            this.body = body;
            this.failure = null;
            this.caller = Thread.currentThread();
            pending.set(chunks - 1);
            generation++;
            for (int w = 0; w < chunks - 1; w++) LockSupport.unpark(workers[w]);
            INSIDE.set(true);
            try {
                runPart(0);
            } finally {
                INSIDE.set(false);
                while (pending.get() > 0) LockSupport.park(this);
                this.body = null;
            }
            Throwable f = failure;
            if (f instanceof RuntimeException re) throw re;
            if (f instanceof Error er) throw er;
            if (f != null) throw new RuntimeException(f);
        }

        void shutdown() {
            stop = true;
            for (Thread w : workers) LockSupport.unpark(w);
        }
    }
}
