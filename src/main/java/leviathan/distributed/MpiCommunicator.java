package leviathan.distributed;

import static leviathan.ffi.mpi.mpi_h.MPI_IN_PLACE;
import static leviathan.ffi.mpi.mpi_h.MPI_STATUS_IGNORE;
import static leviathan.ffi.mpi.mpi_h.MPI_SUCCESS;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import leviathan.ffi.mpi.Predefined;
import leviathan.ffi.mpi.mpi_h;

/**
 * The ranks of {@code MPI_COMM_WORLD}, through Open MPI's C API ({@code leviathan.ffi.mpi}).
 *
 * <p>MPI is initialised once per process, with {@code MPI_THREAD_SERIALIZED}: any thread may call,
 * one at a time, which the methods here guarantee by synchronising on the communicator. Errors
 * return to the caller ({@code MPI_ERRORS_RETURN} on the world communicator) and become an
 * {@link MpiException} with Open MPI's text; a rank that dies is handled by {@code mpirun},
 * which ends the job. Counts above {@code Integer.MAX_VALUE} (MPI's {@code int} count) are split
 * into several calls.
 */
public final class MpiCommunicator implements Communicator {
    /** Elements per MPI call: MPI counts are C ints. */
    static final int CHUNK = 1 << 30;

    private static MpiCommunicator instance;

    private final int rank, size;
    private final String version;
    private volatile boolean finalized;

    private MpiCommunicator(int rank, int size, String version) {
        this.rank = rank;
        this.size = size;
        this.version = version;
    }

    /**
     * Initialises MPI (once per process; later calls return the same communicator until it is
     * closed) and returns the world communicator.
     *
     * @throws MpiUnavailableException when Open MPI cannot be opened (the message says how to install it)
     */
    public static synchronized MpiCommunicator init() {
        if (instance != null) {
            if (instance.finalized) throw new IllegalStateException("MPI was finalized; it cannot be initialised twice in one process");
            return instance;
        }
        Mpi.Library lib = Mpi.library();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment flag = a.allocate(ValueLayout.JAVA_INT);
            check(mpi_h.MPI_Initialized(flag), "MPI_Initialized");
            if (flag.get(ValueLayout.JAVA_INT, 0) == 0) {
                MemorySegment provided = a.allocate(ValueLayout.JAVA_INT);
                check(mpi_h.MPI_Init_thread(MemorySegment.NULL, MemorySegment.NULL, mpi_h.MPI_THREAD_SERIALIZED(), provided),
                        "MPI_Init_thread");
                int p = provided.get(ValueLayout.JAVA_INT, 0);
                if (p < mpi_h.MPI_THREAD_SERIALIZED()) {
                    throw new MpiException("MPI_Init_thread gave thread level " + p + ", below MPI_THREAD_SERIALIZED ("
                            + mpi_h.MPI_THREAD_SERIALIZED() + ") that the engine needs; use an Open MPI built with thread support", 0);
                }
            }
            MemorySegment world = Predefined.MPI_COMM_WORLD();
            check(mpi_h.MPI_Comm_set_errhandler(world, Predefined.MPI_ERRORS_RETURN()), "MPI_Comm_set_errhandler");
            MemorySegment out = a.allocate(ValueLayout.JAVA_INT);
            check(mpi_h.MPI_Comm_rank(world, out), "MPI_Comm_rank");
            int r = out.get(ValueLayout.JAVA_INT, 0);
            check(mpi_h.MPI_Comm_size(world, out), "MPI_Comm_size");
            int s = out.get(ValueLayout.JAVA_INT, 0);
            instance = new MpiCommunicator(r, s, lib.version());
            return instance;
        }
    }

    @Override public int rank() { return rank; }
    @Override public int size() { return size; }

    @Override
    public String describe() { return "mpi: rank " + rank + " of " + size + " (" + version + ")"; }

    @Override
    public synchronized void allreduceSum(MemorySegment floats, long count) {
        Checks.floats(floats, count);
        Checks.nativeSegment(floats);
        live();
        for (long i = 0; i < count; i += CHUNK) {
            int n = (int) Math.min(CHUNK, count - i);
            check(mpi_h.MPI_Allreduce(MPI_IN_PLACE(), floats.asSlice(i * Float.BYTES), n,
                    Predefined.MPI_FLOAT(), Predefined.MPI_SUM(), Predefined.MPI_COMM_WORLD()), "MPI_Allreduce");
        }
    }

    @Override
    public synchronized Request allreduceSumStart(MemorySegment floats, long count) {
        Checks.floats(floats, count);
        Checks.nativeSegment(floats);
        live();
        int calls = (int) ((count + CHUNK - 1) / CHUNK);
        Arena arena = Arena.ofShared();
        MemorySegment handles = arena.allocate(ValueLayout.ADDRESS, Math.max(1, calls));
        try {
            for (int c = 0; c < calls; c++) {
                long i = (long) c * CHUNK;
                int n = (int) Math.min(CHUNK, count - i);
                check(mpi_h.MPI_Iallreduce(MPI_IN_PLACE(), floats.asSlice(i * Float.BYTES), n, Predefined.MPI_FLOAT(),
                        Predefined.MPI_SUM(), Predefined.MPI_COMM_WORLD(), handles.asSlice((long) c * ValueLayout.ADDRESS.byteSize())),
                        "MPI_Iallreduce");
            }
        } catch (RuntimeException e) {
            arena.close();
            throw e;
        }
        return new MpiRequest(arena, handles, calls);
    }

    /** The handles of one started allreduce (one per chunk); the arena holds them until completion. */
    private final class MpiRequest implements Request {
        private final Arena arena;
        private final MemorySegment handles;
        private final int calls;
        private int done;                      // handles [0, done) have completed

        MpiRequest(Arena arena, MemorySegment handles, int calls) {
            this.arena = arena;
            this.handles = handles;
            this.calls = calls;
        }

        @Override
        public boolean test() {
            synchronized (MpiCommunicator.this) {
                if (done == calls) return true;
                live();
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment flag = a.allocate(ValueLayout.JAVA_INT);
                    while (done < calls) {
                        check(mpi_h.MPI_Test(handle(done), flag, MPI_STATUS_IGNORE()), "MPI_Test");
                        if (flag.get(ValueLayout.JAVA_INT, 0) == 0) return false;
                        done++;
                    }
                }
                arena.close();
                return true;
            }
        }

        @Override
        public void await() {
            synchronized (MpiCommunicator.this) {
                if (done == calls) return;
                live();
                while (done < calls) {
                    check(mpi_h.MPI_Wait(handle(done), MPI_STATUS_IGNORE()), "MPI_Wait");
                    done++;
                }
                arena.close();
            }
        }

        private MemorySegment handle(int c) { return handles.asSlice((long) c * ValueLayout.ADDRESS.byteSize()); }
    }

    @Override
    public synchronized void broadcast(MemorySegment bytes, long byteCount, int root) {
        Checks.bytes(bytes, byteCount);
        Checks.root(root, size);
        Checks.nativeSegment(bytes);
        live();
        for (long i = 0; i < byteCount; i += CHUNK) {
            int n = (int) Math.min(CHUNK, byteCount - i);
            check(mpi_h.MPI_Bcast(bytes.asSlice(i), n, Predefined.MPI_BYTE(), root, Predefined.MPI_COMM_WORLD()), "MPI_Bcast");
        }
    }

    @Override
    public synchronized void barrier() {
        live();
        check(mpi_h.MPI_Barrier(Predefined.MPI_COMM_WORLD()), "MPI_Barrier");
    }

    @Override
    public void abort(int code) {
        System.out.flush();
        System.err.flush();
        // not synchronized: abort must work while another thread is blocked in a collective
        if (!finalized) mpi_h.MPI_Abort(Predefined.MPI_COMM_WORLD(), code);
        Runtime.getRuntime().halt(code);     // MPI_Abort does not return; this covers a finalized MPI
    }

    @Override
    public synchronized void close() {
        if (finalized) return;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment flag = a.allocate(ValueLayout.JAVA_INT);
            check(mpi_h.MPI_Finalized(flag), "MPI_Finalized");
            if (flag.get(ValueLayout.JAVA_INT, 0) == 0) check(mpi_h.MPI_Finalize(), "MPI_Finalize");
        }
        finalized = true;
    }

    private void live() {
        if (finalized) throw new IllegalStateException("MPI was finalized (the communicator is closed)");
    }

    /** Turns an MPI return code into an exception with Open MPI's text for it. */
    static void check(int rc, String call) {
        if (rc != MPI_SUCCESS()) throw new MpiException(call + " failed: " + errorString(rc) + " (MPI error " + rc + ")", rc);
    }

    /** {@code MPI_Error_string} of {@code code}, or a fallback if that fails too. */
    static String errorString(int code) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(mpi_h.MPI_MAX_ERROR_STRING() + 1L);
            MemorySegment len = a.allocate(ValueLayout.JAVA_INT);
            if (mpi_h.MPI_Error_string(code, buf, len) != MPI_SUCCESS()) return "unknown MPI error";
            int n = Math.clamp(len.get(ValueLayout.JAVA_INT, 0), 0, mpi_h.MPI_MAX_ERROR_STRING());
            byte[] b = buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
            return new String(b, java.nio.charset.StandardCharsets.UTF_8).strip();
        }
    }
}
