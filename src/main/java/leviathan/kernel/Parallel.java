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

    /**
     * Kernel threads per available core at most: more only adds switching, and an unbounded count
     * (100,000) exhausts the machine. At least {@link #MIN_THREAD_CAP} are always allowed, so that
     * tests and small containers can still oversubscribe a little.
     */
    public static final int MAX_THREADS_PER_CORE = 8, MIN_THREAD_CAP = 64;

    /** The largest thread count {@link #setThreads} accepts: max(64, 8 × available cores). */
    public static int maxThreads() {
        return Math.max(MIN_THREAD_CAP, MAX_THREADS_PER_CORE * Runtime.getRuntime().availableProcessors());
    }

    /** Null if {@code n} is a usable thread count, else why not (one line, naming the bound). */
    public static String checkThreads(long n) {
        if (n < 1) return "must be >= 1, got " + n;
        int cpus = Runtime.getRuntime().availableProcessors();
        if (n > maxThreads()) {
            return "must be at most " + maxThreads() + " (the larger of " + MIN_THREAD_CAP + " and " + MAX_THREADS_PER_CORE
                    + " per core; this machine has " + cpus + " cores), got " + n;
        }
        return null;
    }

    private static int defaultThreads() {
        String p = System.getProperty("leviathan.threads");
        int cpus = Runtime.getRuntime().availableProcessors();
        if (p == null || p.isBlank()) return cpus;
        int t;
        try {
            t = Integer.parseInt(p.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("leviathan.threads must be a positive integer, got '" + p + "'");
        }
        String bad = checkThreads(t);
        if (bad != null) throw new IllegalArgumentException("leviathan.threads " + bad);
        return t;
    }

    /** Threads used by kernels, the calling thread included. */
    public static int threads() { return threads; }

    /** Sets the kernel thread count (1 to {@link #maxThreads()}); takes effect at the next call. */
    public static synchronized void setThreads(int n) {
        String bad = checkThreads(n);
        if (bad != null) throw new IllegalArgumentException("threads " + bad);
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

    /**
     * Static split into {@code chunks} contiguous parts; the caller takes part 0.
     *
     * <p>Each call publishes one immutable {@link Job} through a single volatile write, so a worker
     * that wakes late (a spurious or left-over unpark) sees either a whole old job or a whole new
     * one, never the new range with the old generation: it runs each job's part at most once.
     */
    private static final class Pool {
        /** One call of {@link #run}: everything a worker reads about it. */
        private record Job(long generation, int n, int chunks, Range body) {}

        private static final Job IDLE = new Job(0, 0, 0, null);

        final int size;
        final Thread[] workers;
        volatile boolean stop;
        volatile Job job = IDLE;
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
            long seen = 0;
            INSIDE.set(true);
            while (true) {
                Job j = job;
                if (j.generation == seen) {
                    if (stop) return;          // only once no published job is left unrun
                    LockSupport.park(this);
                    continue;
                }
                seen = j.generation;
                if (part < j.chunks) {
                    try {
                        runPart(j, part);
                    } catch (Throwable e) {
                        failure = e;
                    }
                    if (pending.decrementAndGet() == 0) LockSupport.unpark(caller);
                }
            }
        }

        private static void runPart(Job j, int part) {
            int from = (int) ((long) j.n * part / j.chunks), to = (int) ((long) j.n * (part + 1) / j.chunks);
            if (from < to) j.body.run(from, to);
        }

        synchronized void run(int n, int chunks, Range body) {
            if (stop) {                       // replaced by setThreads after the caller fetched it
                body.run(0, n);
                return;
            }
            Job j = new Job(job.generation + 1, n, chunks, body);
            this.failure = null;
            this.caller = Thread.currentThread();
            pending.set(chunks - 1);
            job = j;                                                   // publish: workers may start now
            for (int w = 0; w < chunks - 1; w++) LockSupport.unpark(workers[w]);
            INSIDE.set(true);
            try {
                runPart(j, 0);
            } finally {
                INSIDE.set(false);
                while (pending.get() > 0) LockSupport.park(this);
                job = new Job(j.generation, 0, 0, null);               // drop the body, keep the generation
            }
            Throwable f = failure;
            if (f instanceof RuntimeException re) throw re;
            if (f instanceof Error er) throw er;
            if (f != null) throw new RuntimeException(f);
        }

        /** Stops the workers once any call in progress has finished (synchronized with {@link #run}). */
        synchronized void shutdown() {
            stop = true;
            for (Thread w : workers) LockSupport.unpark(w);
        }
    }
}
