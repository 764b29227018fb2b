package leviathan.backend;

import java.util.function.Consumer;
import leviathan.kernel.Parallel;

/**
 * How a model runs: its kernel threads, its GEMM backend and that backend's precision. A model
 * ({@code LanguageModel}) or a training run owns one, and runs every call that reaches the kernels
 * inside {@link #call}/{@link #run}, so that two models in one JVM keep their own settings instead of
 * overriding a process-wide one.
 *
 * <p>Threads: a positive count gives the engine a kernel pool of its own ({@link Parallel.Workers});
 * 0 shares the process's default pool ({@code -Dleviathan.threads}, else all cores, changed by
 * {@link Parallel#setThreads}). The kernels find the pool through the calling thread, which
 * {@link #call} binds for the duration of the call (a {@link ScopedValue}, so nothing outlives it).
 * The backend is chosen when it is first asked for ({@link #backend()}), so that its log line comes
 * where the caller needs it, and is closed with the engine.
 */
public final class Engine implements AutoCloseable {
    private final Parallel.Workers workers;
    private final boolean ownWorkers;
    private final String backendName;
    private final Precision precision;
    private final Consumer<String> log;
    private Backend backend;                      // chosen on first use; guarded by this
    private boolean closed;                       // guarded by this

    /**
     * An engine with {@code threads} kernel threads (0 = the process default pool), the backend
     * {@code backend} ({@code auto|java|onednn|cuda}, null = auto or {@code -Dleviathan.backend}) at
     * {@code precision}; {@code log} gets the backend's line.
     */
    public Engine(int threads, String backend, Precision precision, Consumer<String> log) {
        if (threads < 0) throw new IllegalArgumentException("threads must be >= 0, got " + threads);
        this.workers = threads == 0 ? null : new Parallel.Workers(threads);
        this.ownWorkers = threads > 0;
        this.backendName = backend;
        this.precision = precision;
        this.log = log;
    }

    /** Kernel threads that calls inside this engine use, the calling thread included. */
    public int threads() { return workers().threads(); }

    /** The kernel pool calls inside this engine run on. */
    public Parallel.Workers workers() { return workers != null ? workers : Parallel.current(); }

    /** Whether the engine has a kernel pool of its own (a positive thread count). */
    public boolean ownsThreads() { return ownWorkers; }

    /** The precision asked for (the backend says what it runs: {@link Backend#precision()}). */
    public Precision precision() { return precision; }

    /** The GEMM backend, chosen on the first call (a failure to load one asked for explicitly is an error). */
    public synchronized Backend backend() {
        if (closed) throw new IllegalStateException("the engine is closed");
        if (backend == null) backend = Backends.select(backendName, precision, log);
        return backend;
    }

    /** Runs {@code op} with this engine's kernel threads bound to the calling thread. */
    public <R, X extends Throwable> R call(ScopedValue.CallableOp<R, X> op) throws X {
        return workers != null ? workers.call(op) : op.call();
    }

    /** {@link #call} without a result. */
    public void run(Runnable op) {
        if (workers != null) workers.run(op);
        else op.run();
    }

    /** Closes the backend and stops the engine's own kernel threads. */
    @Override
    public void close() {
        Backend b;
        synchronized (this) {
            closed = true;
            b = backend;
            backend = null;
        }
        try {
            if (b != null) b.close();
        } finally {
            if (workers != null) workers.close();
        }
    }
}
