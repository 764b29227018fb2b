package leviathan.distributed;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.LinkedBlockingQueue;
import java.util.concurrent.ThreadPoolExecutor;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.Future;

/**
 * Averages a list of gradient tensors over the ranks in buckets, so that the reduction of the
 * tensors that backward finishes first (the last layers) runs while backward still computes the
 * earlier ones, as PyTorch's DDP does.
 *
 * <p>The tensors (native float segments) are given in the order they become final. Consecutive
 * tensors are grouped into buckets of about {@code bucketBytes}; a tensor larger than that is a
 * bucket of its own. A bucket whose tensors are adjacent in memory (slices of one gradient
 * buffer, in either order) is reduced in place; any other bucket is packed into a staging buffer,
 * reduced, and unpacked. Use per step:
 * <pre>{@code
 * for each tensor t as backward finishes it:  buckets.ready(t);   // starts full buckets
 * buckets.finish();                                                   // waits, unpacks, divides by size
 * }</pre>
 * or just {@link #allreduceMean()} after backward.
 *
 * <p>A started bucket is reduced by one communication thread, a blocking {@link Communicator#allreduceSum}
 * per bucket in the order the buckets were started, while the caller goes on computing. (A non-blocking
 * {@code MPI_Iallreduce} would advance only inside MPI calls, which backward does not make; the thread
 * sends while backward runs.) Every rank starts the buckets in the same order, so the collectives match.
 * Whether a bucket starts during backward or in {@link #finish} changes when it is reduced, never how: the
 * sums, and so the averaged gradients, are bitwise the same either way. Between the first {@link #ready}
 * that starts a bucket and the end of {@link #finish}, the caller must make no other collective on the
 * communicator (its order against the thread's would differ between ranks).
 *
 * <p>With one process every call is a no-op. Not thread-safe: call it from the thread that drives backward.
 */
public final class GradientBuckets implements AutoCloseable {
    private final Communicator comm;
    private final List<MemorySegment> tensors;
    private final List<Bucket> buckets = new ArrayList<>();
    private final int[] bucketOf;
    private final Arena arena = Arena.ofShared();
    private final ExecutorService sender;               // the communication thread; null with one process
    private long startedEarly;                          // buckets started by ready() rather than finish(), over all steps

    /** One group of tensors reduced by one collective. */
    private static final class Bucket {
        final int firstTensor, endTensor;             // tensors [firstTensor, endTensor)
        final MemorySegment buffer;                    // the tensors themselves when contiguous, else staging
        final boolean staged;
        int pending;                                   // tensors not yet ready this step
        Future<?> reduced;                             // the started reduction, null before

        Bucket(int firstTensor, int endTensor, MemorySegment buffer, boolean staged) {
            this.firstTensor = firstTensor;
            this.endTensor = endTensor;
            this.buffer = buffer;
            this.staged = staged;
            this.pending = endTensor - firstTensor;
        }

        long floats() { return buffer.byteSize() / Float.BYTES; }
    }

    /**
     * Plans the buckets for {@code tensors} (float segments that any thread may access, in the order backward finishes them)
     * with about {@code bucketBytes} per bucket (e.g. 25 MiB, PyTorch DDP's default).
     */
    public GradientBuckets(Communicator comm, List<MemorySegment> tensors, long bucketBytes) {
        if (bucketBytes <= 0) throw new IllegalArgumentException("bucket size must be positive, got " + bucketBytes + " bytes");
        this.comm = comm;
        this.tensors = List.copyOf(tensors);
        this.bucketOf = new int[this.tensors.size()];
        Thread other = comm.size() > 1 ? Thread.ofPlatform().unstarted(() -> {}) : null;   // stands for the communication thread
        for (MemorySegment t : this.tensors) {
            Checks.nativeSegment(t);
            if (other != null && !t.isAccessibleBy(other)) {
                throw new IllegalArgumentException("gradients are reduced on a communication thread, which cannot reach a segment "
                        + "confined to one thread; allocate them from a shared, global or automatic arena");
            }
            if (t.byteSize() % Float.BYTES != 0) throw new IllegalArgumentException("a gradient of " + t.byteSize() + " bytes is not whole floats");
        }
        int start = 0;
        long bytes = 0;
        for (int i = 0; i < this.tensors.size(); i++) {
            long b = this.tensors.get(i).byteSize();
            if (i > start && bytes + b > bucketBytes) {
                addBucket(start, i);
                start = i;
                bytes = 0;
            }
            bytes += b;
        }
        if (start < this.tensors.size()) addBucket(start, this.tensors.size());
        // at most one thread, in submission order; it ends after a minute without work, so an unclosed instance leaks none
        this.sender = comm.size() > 1 ? new ThreadPoolExecutor(0, 1, 60, TimeUnit.SECONDS, new LinkedBlockingQueue<>(), r -> {
            Thread t = new Thread(r, "leviathan-allreduce");
            t.setDaemon(true);                            // a job that ends on an error does not wait for it
            return t;
        }) : null;
    }

    private void addBucket(int from, int to) {
        for (int i = from; i < to; i++) bucketOf[i] = buckets.size();
        MemorySegment range = contiguousRange(from, to);
        if (range != null) {
            buckets.add(new Bucket(from, to, range, false));
        } else {
            long bytes = 0;
            for (int i = from; i < to; i++) bytes += tensors.get(i).byteSize();
            buckets.add(new Bucket(from, to, arena.allocate(bytes, 64), true));
        }
    }

    /** The memory the tensors [from, to) cover when they tile one range with no gap, in any order; else null. */
    private MemorySegment contiguousRange(int from, int to) {
        MemorySegment first = tensors.get(from);
        long lo = first.address(), hi = lo + first.byteSize();
        for (int i = from + 1; i < to; i++) {
            MemorySegment t = tensors.get(i);
            if (t.address() == hi) hi += t.byteSize();
            else if (t.address() + t.byteSize() == lo) lo = t.address();
            else return null;
        }
        if (to - from == 1) return first;
        // all tensors are slices of the caller's buffer, which outlives this object; view their union
        return MemorySegment.ofAddress(lo).reinterpret(hi - lo);
    }

    /** The number of buckets. */
    public int bucketCount() { return buckets.size(); }

    /** The bucket that tensor {@code tensor} belongs to. */
    public int bucketOf(int tensor) { return bucketOf[tensor]; }

    /** Whether bucket {@code b} is reduced in place (its tensors are adjacent) rather than through a staging copy. */
    public boolean inPlace(int b) { return !buckets.get(b).staged; }

    /** How many bucket reductions {@link #ready} started (during backward) rather than {@link #finish}, over all steps. */
    public long startedEarly() { return startedEarly; }

    /**
     * Marks tensor {@code tensor} (its index in the list given at construction) as final for this
     * step; when it completes its bucket, that bucket's reduction starts on the communication thread.
     */
    public void ready(int tensor) {
        if (comm.size() == 1) return;
        Bucket b = buckets.get(bucketOf[tensor]);
        if (b.pending <= 0) throw new IllegalStateException("tensor " + tensor + " marked ready twice in one step");
        if (--b.pending == 0) {
            start(b);
            startedEarly++;
        }
    }

    private void start(Bucket b) {
        if (b.staged) {
            long off = 0;
            for (int i = b.firstTensor; i < b.endTensor; i++) {
                MemorySegment t = tensors.get(i);
                MemorySegment.copy(t, 0, b.buffer, off, t.byteSize());
                off += t.byteSize();
            }
        }
        b.reduced = sender.submit(() -> comm.allreduceSum(b.buffer, b.floats()));
    }

    /**
     * Starts the buckets not started yet, waits for all, copies staged results back and divides
     * every gradient by the rank count; afterwards every tensor holds the mean over the ranks and
     * the next step may begin. A failed reduction is rethrown here (an {@link MpiException}).
     */
    public void finish() {
        if (comm.size() == 1) return;
        for (Bucket b : buckets) if (b.reduced == null) start(b);
        float inv = 1f / comm.size();
        for (Bucket b : buckets) {
            await(b.reduced);
            b.reduced = null;
            b.pending = b.endTensor - b.firstTensor;
            Communicator.scale(b.buffer, b.floats(), inv);
            if (b.staged) {
                long off = 0;
                for (int i = b.firstTensor; i < b.endTensor; i++) {
                    MemorySegment t = tensors.get(i);
                    MemorySegment.copy(b.buffer, off, t, 0, t.byteSize());
                    off += t.byteSize();
                }
            }
        }
    }

    /** Waits for one reduction; its failure is thrown as it was thrown on the communication thread. */
    private static void await(Future<?> reduced) {
        boolean interrupted = false;
        try {
            while (true) {
                try {
                    reduced.get();
                    return;
                } catch (InterruptedException e) {
                    interrupted = true;                   // the reduction is in MPI and cannot be left half done
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof RuntimeException r) throw r;
                    if (e.getCause() instanceof Error err) throw err;
                    throw new IllegalStateException(e.getCause());
                }
            }
        } finally {
            if (interrupted) Thread.currentThread().interrupt();
        }
    }

    /** Averages every tensor over the ranks now (all buckets started at once), for a trainer that does not overlap. */
    public void allreduceMean() { finish(); }

    /** Ends the communication thread and frees the staging buffers (after {@link #finish}: nothing may be in flight). */
    @Override
    public void close() {
        if (sender != null) sender.shutdown();
        arena.close();
    }
}
