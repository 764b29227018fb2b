package leviathan.dist;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;

/**
 * Averages a list of gradient tensors over the ranks in buckets, so that the reduction of the
 * tensors that backward finishes first (the last layers) can start while it still runs.
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
 * or just {@link #allreduceMean()} after backward. With one process every call is a no-op.
 * Not thread-safe: call it from the thread that drives backward.
 */
public final class GradientBuckets implements AutoCloseable {
    private final Communicator comm;
    private final List<MemorySegment> tensors;
    private final List<Bucket> buckets = new ArrayList<>();
    private final int[] bucketOf;
    private final Arena arena = Arena.ofShared();

    /** One group of tensors reduced by one collective. */
    private static final class Bucket {
        final int firstTensor, endTensor;             // tensors [firstTensor, endTensor)
        final MemorySegment buffer;                    // the tensors themselves when contiguous, else staging
        final boolean staged;
        int pending;                                   // tensors not yet ready this step
        Communicator.Request request;

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
     * Plans the buckets for {@code tensors} (float segments, in the order backward finishes them)
     * with about {@code bucketBytes} per bucket (e.g. 25 MiB, PyTorch DDP's default).
     */
    public GradientBuckets(Communicator comm, List<MemorySegment> tensors, long bucketBytes) {
        if (bucketBytes <= 0) throw new IllegalArgumentException("bucket size must be positive, got " + bucketBytes + " bytes");
        this.comm = comm;
        this.tensors = List.copyOf(tensors);
        this.bucketOf = new int[this.tensors.size()];
        for (MemorySegment t : this.tensors) {
            Checks.nativeSegment(t);
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

    /**
     * Marks tensor {@code tensor} (its index in the list given at construction) as final for this
     * step; when it completes its bucket, that bucket's allreduce starts. Also advances the
     * reductions already started.
     */
    public void ready(int tensor) {
        if (comm.size() == 1) return;
        Bucket b = buckets.get(bucketOf[tensor]);
        if (b.pending <= 0) throw new IllegalStateException("tensor " + tensor + " marked ready twice in one step");
        if (--b.pending == 0) start(b);
        for (Bucket o : buckets) if (o.request != null) o.request.test();
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
        b.request = comm.allreduceSumStart(b.buffer, b.floats());
    }

    /**
     * Starts the buckets not started yet, waits for all, copies staged results back and divides
     * every gradient by the rank count; afterwards every tensor holds the mean over the ranks and
     * the next step may begin.
     */
    public void finish() {
        if (comm.size() == 1) return;
        for (Bucket b : buckets) if (b.request == null) start(b);
        float inv = 1f / comm.size();
        for (Bucket b : buckets) {
            b.request.await();
            b.request = null;
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

    /** Averages every tensor over the ranks now (all buckets started at once), for a trainer that does not overlap. */
    public void allreduceMean() { finish(); }

    /** Frees the staging buffers. */
    @Override
    public void close() { arena.close(); }
}
