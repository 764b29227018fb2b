package leviathan.kernel;

import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.Supplier;

/**
 * A small fork-join over index ranges for the kernels: {@code forRange(n, body)} splits
 * {@code [0, n)} into chunks run by the calling thread and {@code threads() - 1} workers.
 *
 * <p>Workers park between calls instead of spinning: on machines whose vCPUs are hyperthreads or
 * shared (2 vCPUs that behave like less than two cores), a spin-waiting worker steals cycles from
 * the thread doing the work, which was measured to make parallel kernels slower than one thread.
 * Calls from inside a running body execute serially, so nested kernels are safe.
 *
 * <p>Loops run on the {@link Workers} bound to the calling thread: an engine (a model, a training
 * run) owns a pool of its own and runs its calls inside {@link Workers#call}, so two models with
 * different thread counts in one JVM each keep theirs. A thread with no binding uses the process's
 * default pool, whose thread count comes from {@code -Dleviathan.threads} (default: available
 * processors) and can be changed with {@link #setThreads(int)} between calls. The binding is a
 * {@link ScopedValue}: it holds exactly for the duration of the bound call and is seen by the
 * pool's own workers too, so {@link #threads()} inside a loop body is the pool's count.
 */
public final class Parallel {
    private Parallel() {}

    /** The body of a parallel loop: handles indices {@code [from, to)}. */
    @FunctionalInterface
    public interface Range {
        void run(int from, int to);
    }

    private static final ThreadLocal<Boolean> INSIDE = ThreadLocal.withInitial(() -> false);
    /** The pool of the engine the calling thread works for; unbound: {@link #DEFAULT}. */
    private static final ScopedValue<Workers> CURRENT = ScopedValue.newInstance();
    /** The process's pool: for callers outside any engine (the CLI, tests, benchmarks). */
    private static final Workers DEFAULT = new Workers(defaultThreads(), "leviathan-kernel-");

    /**
     * A kernel thread pool of a given size, the calling thread included: {@code threads - 1} workers,
     * started on the first parallel loop and stopped by {@link #close()} (after any loop in progress).
     * Loops run on it while a thread is inside {@link #call} or {@link #run}.
     */
    public static final class Workers implements AutoCloseable {
        private static final AtomicInteger COUNT = new AtomicInteger();
        private final String name;
        private volatile int threads;
        private Pool pool;                              // written under this object's lock
        private boolean closed;

        /** A pool of {@code threads} (1 to {@link #maxThreads()}); no thread starts until a loop needs one. */
        public Workers(int threads) {
            this(checked(threads), "leviathan-kernel-e" + COUNT.incrementAndGet() + "-");     // leviathan-kernel-*: every kernel worker
        }

        private Workers(int threads, String name) {
            this.threads = threads;
            this.name = name;
        }

        private static int checked(int n) {
            String bad = checkThreads(n);
            if (bad != null) throw new IllegalArgumentException("threads " + bad);
            return n;
        }

        /** Threads of this pool, the calling thread included. */
        public int threads() { return threads; }

        /** Runs {@code op} with this pool bound to the calling thread: the kernels it calls run their loops here. */
        public <R, X extends Throwable> R call(ScopedValue.CallableOp<R, X> op) throws X {
            return CURRENT.isBound() && CURRENT.get() == this ? op.call() : ScopedValue.where(CURRENT, this).call(op);
        }

        /** {@link #call} without a result. */
        public void run(Runnable op) {
            if (CURRENT.isBound() && CURRENT.get() == this) op.run();
            else ScopedValue.where(CURRENT, this).run(op);
        }

        private synchronized void resize(int n) {
            threads = checked(n);
        }

        private synchronized Pool pool(int t) {
            if (closed) return null;
            if (pool == null || pool.size != t) {
                Pool old = pool;
                pool = new Pool(this, t);
                if (old != null) {
                    // waits for a loop that another thread is running on the old pool to finish
                    synchronized (old) { old.shutdown(); }
                }
            }
            return pool;
        }

        /**
         * Stops the workers once a loop in progress has finished; later loops run on the calling
         * thread alone. The process's default pool cannot be closed (this does nothing on it).
         */
        @Override
        public void close() {
            if (this == DEFAULT) return;
            Pool old;
            synchronized (this) {
                closed = true;
                old = pool;
                pool = null;
            }
            if (old != null) old.shutdown();
        }
    }

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

    /** The pool that loops called from this thread run on: its engine's, else the process's default. */
    public static Workers current() { return CURRENT.orElse(DEFAULT); }

    /** Threads used by kernels called from this thread (its engine's, else the default), the calling thread included. */
    public static int threads() { return current().threads; }

    /**
     * Sets the thread count of the process's default pool (1 to {@link #maxThreads()}); takes effect
     * at the next call. Engines with a pool of their own ({@link Workers}) are not affected.
     */
    public static void setThreads(int n) { DEFAULT.resize(n); }

    /** Runs {@code body} over {@code [0, n)} in chunks of at least {@code grain} indices. */
    public static void forRange(int n, int grain, Range body) {
        if (n <= 0) return;
        Workers w = current();
        int t = w.threads;
        int chunks = Math.min(t, Math.max(1, n / Math.max(1, grain)));
        if (chunks <= 1 || INSIDE.get()) {
            body.run(0, n);
            return;
        }
        Pool p = w.pool(t);
        if (p == null) body.run(0, n);                  // the pool was closed: the calling thread does it all
        else p.run(n, chunks, body);
    }

    /** {@link #forRange(int, int, Range)} with grain 1: for coarse work items (heads, rows). */
    public static void forRange(int n, Range body) { forRange(n, 1, body); }

    /**
     * A loop body that keeps its arguments in fields, for kernels that must not allocate per call
     * (a capturing lambda is a new object at every call). A kernel keeps one per calling thread in
     * a {@link Tasks}, sets the fields, and runs it with {@link #forRange(int, int, Task)}; the
     * workers read the fields after the pool publishes the call (a volatile write), and the task
     * keeps its last arguments until the next call.
     */
    public abstract static class Task implements Range {
        private boolean running;
    }

    /**
     * One {@link Task} per calling thread, reused call after call. {@link #get} hands out a fresh
     * task instead while this thread's is running (a kernel reached again from inside its own
     * body), so nesting stays correct, at the cost of one allocation.
     */
    public static final class Tasks<T extends Task> {
        private final Supplier<T> make;
        private final ThreadLocal<T> perThread;

        public Tasks(Supplier<T> make) {
            this.make = make;
            this.perThread = ThreadLocal.withInitial(make);
        }

        /** This thread's task, or a new one while that one is running. */
        public T get() {
            T t = perThread.get();
            return ((Task) t).running ? make.get() : t;
        }
    }

    /** {@link #forRange(int, int, Range)} for a reusable task: marked running until the loop is done. */
    public static void forRange(int n, int grain, Task task) {
        task.running = true;
        try {
            forRange(n, grain, (Range) task);
        } finally {
            task.running = false;
        }
    }

    /**
     * Static split into {@code chunks} contiguous parts; the caller takes part 0.
     *
     * <p>Each worker has a mailbox of its own ({@link Slot}): a call writes the range and the body
     * of every worker that takes part, then the slot's generation (a volatile write), and unparks
     * it. A worker runs a slot when its generation changes, and the caller waits until every worker
     * that took part is done before it returns, so a slot is written again only after its worker
     * has finished reading it: a late (spurious or left-over) wake-up finds either its last
     * generation (and parks) or a whole new assignment, and runs each at most once. Slots are made
     * with the pool and reused, so a call allocates nothing.
     */
    private static final class Pool {
        /** One worker's assignment: {@code body} over {@code [from, to)}, valid once {@code generation} changes. */
        private static final class Slot {
            volatile long generation;
            int from, to;
            Range body;
        }

        final int size;
        final Thread[] workers;
        final Slot[] slots;
        volatile boolean stop;
        final AtomicInteger pending = new AtomicInteger();
        volatile Thread caller;
        volatile Throwable failure;
        private long generation;                    // of the last call; written under the pool's lock

        Pool(Workers owner, int size) {
            this.size = size;
            workers = new Thread[size - 1];
            slots = new Slot[size - 1];
            for (int w = 0; w < workers.length; w++) {
                Slot slot = slots[w] = new Slot();
                // bound to the owner, so that threads() inside a body on a worker is the owner's count
                Thread th = new Thread(() -> ScopedValue.where(CURRENT, owner).run(() -> loop(slot)), owner.name + (w + 1));
                th.setDaemon(true);
                workers[w] = th;
                th.start();
            }
        }

        private void loop(Slot slot) {
            long seen = 0;
            INSIDE.set(true);
            while (true) {
                long g = slot.generation;
                if (g == seen) {
                    if (stop) return;          // only once no published assignment is left unrun
                    LockSupport.park(this);
                    continue;
                }
                seen = g;
                try {
                    slot.body.run(slot.from, slot.to);
                } catch (Throwable e) {
                    failure = e;
                }
                if (pending.decrementAndGet() == 0) LockSupport.unpark(caller);
            }
        }

        synchronized void run(int n, int chunks, Range body) {
            if (stop) {                       // replaced by setThreads or closed after the caller fetched it
                body.run(0, n);
                return;
            }
            this.failure = null;
            this.caller = Thread.currentThread();
            int busy = 0;                              // workers given a non-empty part
            for (int part = 1; part < chunks; part++) if (from(n, chunks, part) < from(n, chunks, part + 1)) busy++;
            pending.set(busy);
            long g = ++generation;
            for (int part = 1, w = 0; part < chunks; part++) {
                int from = from(n, chunks, part), to = from(n, chunks, part + 1);
                if (from >= to) continue;
                Slot slot = slots[w];
                slot.from = from;
                slot.to = to;
                slot.body = body;
                slot.generation = g;                                   // publish: the worker may start now
                LockSupport.unpark(workers[w++]);
            }
            INSIDE.set(true);
            try {
                int to = from(n, chunks, 1);
                if (to > 0) body.run(0, to);
            } finally {
                INSIDE.set(false);
                while (pending.get() > 0) LockSupport.park(this);
                for (Slot slot : slots) slot.body = null;              // keep no body reachable between calls
            }
            Throwable f = failure;
            if (f instanceof RuntimeException re) throw re;
            if (f instanceof Error er) throw er;
            if (f != null) throw new RuntimeException(f);
        }

        /** Start of part {@code part} of {@code chunks} near-equal parts of {@code [0, n)}. */
        private static int from(int n, int chunks, int part) { return (int) ((long) n * part / chunks); }

        /** Stops the workers once any call in progress has finished (synchronized with {@link #run}). */
        synchronized void shutdown() {
            stop = true;
            for (Thread w : workers) LockSupport.unpark(w);
        }
    }
}
