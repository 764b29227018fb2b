package leviathan.distributed;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * The processes of one data-parallel job and the collectives the trainer needs: one code path for
 * one process ({@link SingleProcess}, where every collective is a no-op) and for N processes started
 * by {@code mpirun} ({@link MpiCommunicator}, Open MPI through FFM).
 *
 * <p>Buffers are native segments (the model's parameter and gradient buffers); counts are in
 * elements (floats) or bytes as each method says. The collectives are blocking unless named
 * {@code ...Start}, and every rank must call the same collectives in the same order with the same
 * counts, as in MPI. A rank that fails should call {@link #abort} so that the others do not wait
 * forever in a collective.
 */
public interface Communicator extends AutoCloseable {

    /**
     * The communicator for this process: MPI when it was started by {@code mpirun} ({@link Mpi#launched()}),
     * else a single process. Under {@code mpirun} without a usable Open MPI this fails with the reason
     * rather than silently training N independent copies.
     */
    static Communicator fromEnvironment() {
        return Mpi.launched() ? MpiCommunicator.init() : SingleProcess.INSTANCE;
    }

    /** This process's rank, 0 .. size()-1. */
    int rank();

    /** The number of processes in the job. */
    int size();

    /** Whether this is rank 0, the one that evaluates, prints, writes metrics and checkpoints. */
    default boolean isRoot() { return rank() == 0; }

    /** One line for logs, e.g. {@code "mpi: rank 0 of 2 (Open MPI v4.1.4)"} or {@code "single process"}. */
    String describe();

    /** floats[i] = Σ over ranks of floats[i], i in [0, count), in place on every rank. */
    void allreduceSum(MemorySegment floats, long count);

    /** floats[i] = (1/size)·Σ over ranks of floats[i], in place: the gradient average of data parallelism. */
    default void allreduceMean(MemorySegment floats, long count) {
        allreduceSum(floats, count);
        if (size() > 1) scale(floats, count, 1f / size());
    }

    /**
     * Starts {@code floats[i] = Σ over ranks} in place without waiting; the buffer must not be read or
     * written until the returned request completes. Open MPI advances the reduction only inside MPI
     * calls, so callers that overlap it with work should {@link Request#test()} now and then.
     */
    Request allreduceSumStart(MemorySegment floats, long count);

    /** Copies {@code byteCount} bytes of {@code bytes} from rank {@code root} to every other rank. */
    void broadcast(MemorySegment bytes, long byteCount, int root);

    /** Returns once every rank has called it. */
    void barrier();

    /**
     * Ends the whole job with exit status {@code code}: under MPI every rank is killed
     * ({@code MPI_Abort}); in a single process, {@link Runtime#halt}. Does not return.
     */
    void abort(int code);

    /** Ends this process's part in the job ({@code MPI_Finalize}); collectives fail afterwards. Idempotent. */
    @Override
    void close();

    /** A started non-blocking collective. */
    interface Request {
        /** Advances the collective; true once it has completed (then the buffer may be used). */
        boolean test();

        /** Waits until the collective has completed. */
        void await();
    }

    /** The rows of a global batch that one rank takes: {@code [first, first + rows)}. */
    record BatchShare(int first, int rows) {}

    /**
     * This rank's share of a global batch of {@code globalRows} rows drawn identically on every rank:
     * rows {@code [rank·globalRows/size, (rank+1)·globalRows/size)}, so the union over ranks is the
     * single-process batch. {@code globalRows} must divide by the rank count (one clear error otherwise).
     */
    default BatchShare batchShare(int globalRows) {
        int n = size();
        if (globalRows <= 0 || globalRows % n != 0) {
            throw new IllegalArgumentException("--batch-size " + globalRows + " is the global batch and must divide by the "
                    + n + " ranks; use a multiple of " + n + " (e.g. " + Math.max(n, globalRows / n * n) + ")");
        }
        int rows = globalRows / n;
        return new BatchShare(rank() * rows, rows);
    }

    /**
     * Checks that {@code bytes[0, byteCount)} is identical on every rank (a 64-bit hash compared with
     * rank 0's) and returns the local hash. On divergence every rank throws the same
     * {@link MpiException}, naming how many ranks differ, so the job stops consistently.
     */
    default long checkIdentical(MemorySegment bytes, long byteCount, String what) {
        long h = hash(bytes, byteCount);
        if (size() == 1) return h;
        try (var arena = java.lang.foreign.Arena.ofConfined()) {
            MemorySegment root = arena.allocate(ValueLayout.JAVA_LONG);
            root.set(ValueLayout.JAVA_LONG, 0, h);
            broadcast(root, Long.BYTES, 0);
            MemorySegment differ = arena.allocate(ValueLayout.JAVA_FLOAT);
            long rootHash = root.get(ValueLayout.JAVA_LONG, 0);
            differ.set(ValueLayout.JAVA_FLOAT, 0, rootHash == h ? 0f : 1f);
            allreduceSum(differ, 1);
            int n = Math.round(differ.get(ValueLayout.JAVA_FLOAT, 0));
            if (n > 0) {
                throw new MpiException(what + " differ across ranks: " + n + " of " + size() + " ranks disagree with rank 0 "
                        + (rank() == 0 ? String.format("(rank 0 hash %016x)", h)
                                : String.format("(rank %d hash %016x, rank 0 hash %016x)", rank(), h, rootHash))
                        + "; stopping, resume from the last checkpoint", 0);
            }
        }
        return h;
    }

    /** A 64-bit hash of {@code bytes[0, byteCount)} (multiply-xorshift over 8-byte words, then the tail bytes). */
    static long hash(MemorySegment bytes, long byteCount) {
        long h = 0x9E3779B97F4A7C15L ^ byteCount;
        long i = 0;
        for (; i + Long.BYTES <= byteCount; i += Long.BYTES) {
            h = (h ^ bytes.get(ValueLayout.JAVA_LONG_UNALIGNED, i)) * 0xBF58476D1CE4E5B9L;
            h ^= h >>> 31;
        }
        for (; i < byteCount; i++) {
            h = (h ^ (bytes.get(ValueLayout.JAVA_BYTE, i) & 0xFF)) * 0x94D049BB133111EBL;
            h ^= h >>> 29;
        }
        return h;
    }

    /** floats[i] *= factor, i in [0, count). */
    static void scale(MemorySegment floats, long count, float factor) {
        for (long i = 0; i < count; i++) {
            floats.setAtIndex(ValueLayout.JAVA_FLOAT, i, floats.getAtIndex(ValueLayout.JAVA_FLOAT, i) * factor);
        }
    }
}
