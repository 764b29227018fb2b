package leviathan.testing;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import leviathan.distributed.Communicator;
import leviathan.distributed.GradientBuckets;
import leviathan.distributed.MpiException;

/**
 * What each rank runs under {@code mpirun} for {@code leviathan.distributed.MpiRunTest}:
 * <ul>
 * <li>{@code collectives N}: broadcast, in-place allreduce (blocking and started) of awkward sizes,
 *     the mean, gradient buckets, the identical-parameters check, batch shares and a barrier,
 *     each checked exactly; prints {@code rank R ok} and exits 0, or {@code rank R FAIL ...} and
 *     aborts the job with status 1.</li>
 * <li>{@code die}: after a barrier rank 1 halts with status 3 while rank 0 keeps reducing; mpirun
 *     must end the job (rank 0 would otherwise wait forever in the collective).</li>
 * </ul>
 * Every value is a small integer, so float sums are exact whatever the summation order.
 */
public final class MpiCheckMain {
    private MpiCheckMain() {}

    static final long[] SIZES = {0, 1, 3, 7, 8, 9, 15, 16, 17, 1000, 4099, 65537};

    public static void main(String[] args) {
        Communicator comm = Communicator.fromEnvironment();
        try {
            switch (args.length > 0 ? args[0] : "") {
                case "collectives" -> collectives(comm, Integer.parseInt(args[1]));
                case "die" -> die(comm);
                default -> throw new IllegalArgumentException("usage: MpiCheckMain collectives <ranks> | die");
            }
        } catch (Throwable t) {
            System.out.println("rank " + comm.rank() + " FAIL " + t);
            t.printStackTrace(System.out);
            comm.abort(1);
        }
        comm.close();
    }

    static void collectives(Communicator comm, int expectedSize) {
        int r = comm.rank(), n = comm.size();
        check(n == expectedSize, "size " + n + ", expected " + expectedSize);
        try (Arena arena = Arena.ofShared()) {                // shared: the buckets' communication thread reads it too
            // broadcast from the first and the last rank, byte sizes that are not multiples of anything
            for (int root : new int[] {0, n - 1}) {
                for (long size : SIZES) {
                    MemorySegment b = arena.allocate(Math.max(1, size));
                    for (long i = 0; i < size; i++) b.set(ValueLayout.JAVA_BYTE, i, r == root ? (byte) (i * 31 + root + 1) : 0);
                    comm.broadcast(b, size, root);
                    for (long i = 0; i < size; i++) {
                        check(b.get(ValueLayout.JAVA_BYTE, i) == (byte) (i * 31 + root + 1), "broadcast from " + root + " of " + size + " bytes, byte " + i);
                    }
                }
            }
            // blocking and started in-place sums, and the mean; a guard float after the count stays untouched
            for (long size : SIZES) {
                MemorySegment a = floats(arena, size + 1, r);
                a.setAtIndex(ValueLayout.JAVA_FLOAT, size, -7f);
                comm.allreduceSum(a, size);
                expectSum(a, size, n, 1f, "allreduceSum");
                check(a.getAtIndex(ValueLayout.JAVA_FLOAT, size) == -7f, "allreduceSum wrote past count " + size);

                MemorySegment s = floats(arena, size, r);
                Communicator.Request req = comm.allreduceSumStart(s, size);
                while (!req.test()) Thread.onSpinWait();
                req.await();
                expectSum(s, size, n, 1f, "allreduceSumStart");

                MemorySegment m = floats(arena, size, r);
                comm.allreduceMean(m, size);
                expectSum(m, size, n, 1f / n, "allreduceMean");
            }
            buckets(comm, arena);
            // identical parameters pass, a difference on one rank stops every rank
            MemorySegment p = floats(arena, 1001, 0);
            long h = comm.checkIdentical(p, p.byteSize(), "parameters");
            check(h == Communicator.hash(p, p.byteSize()), "checkIdentical returns the local hash");
            if (r == n - 1) p.setAtIndex(ValueLayout.JAVA_FLOAT, 500, 0.25f);
            try {
                comm.checkIdentical(p, p.byteSize(), "parameters");
                check(false, "a rank with different parameters passed checkIdentical");
            } catch (MpiException e) {
                check(e.getMessage().contains("1 of " + n + " ranks disagree"), "divergence message: " + e.getMessage());
            }
        }
        var share = comm.batchShare(12 * n);
        check(share.first() == 12 * r && share.rows() == 12, "batch share " + share);
        if (n > 1) {
            try {
                comm.batchShare(12 * n + 1);
                check(false, "an indivisible global batch was accepted");
            } catch (IllegalArgumentException e) {
                check(e.getMessage().contains("must divide by the " + n + " ranks"), e.getMessage());
            }
        }
        comm.barrier();
        System.out.println("rank " + r + " ok");
    }

    /** Tensors in backward order: reversed slices of one flat buffer (in place) and separate segments (staged). */
    static void buckets(Communicator comm, Arena arena) {
        int r = comm.rank(), n = comm.size();
        long[] sizes = {5, 17, 1, 64, 33, 1000, 3};
        long total = 0;
        for (long s : sizes) total += s;
        MemorySegment flat = arena.allocate(total * Float.BYTES, 64);
        List<MemorySegment> tensors = new ArrayList<>();
        long off = total;
        for (long s : sizes) {                       // last slice first, as backward produces them
            off -= s;
            tensors.add(flat.asSlice(off * Float.BYTES, s * Float.BYTES));
        }
        for (long s : new long[] {7, 9, 2}) tensors.add(arena.allocate(s * Float.BYTES, 64));
        try (Arena confined = Arena.ofConfined()) {           // the communication thread could not read it: refused up front
            new GradientBuckets(comm, List.of(confined.allocate(16, 64)), 64).close();
            check(false, "a confined gradient segment was accepted");
        } catch (IllegalArgumentException e) {
            check(e.getMessage().contains("shared, global or automatic arena"), "unexpected message: " + e.getMessage());
        }
        try (GradientBuckets b = new GradientBuckets(comm, tensors, 100 * Float.BYTES)) {
            check(b.bucketCount() >= 3, "expected several buckets, got " + b.bucketCount());
            boolean sawInPlace = false, sawStaged = false;
            for (int k = 0; k < b.bucketCount(); k++) {
                if (b.inPlace(k)) sawInPlace = true; else sawStaged = true;
            }
            check(sawInPlace && sawStaged, "expected in-place and staged buckets");
            for (int step = 0; step < 2; step++) {
                for (int t = 0; t < tensors.size(); t++) fill(tensors.get(t), r + step + t);
                for (int t = 0; t < tensors.size(); t++) b.ready(t);
                b.finish();
                for (int t = 0; t < tensors.size(); t++) {
                    MemorySegment x = tensors.get(t);
                    for (long i = 0; i < x.byteSize() / Float.BYTES; i++) {
                        float want = 0;
                        for (int q = 0; q < n; q++) want += value(q + step + t, i);
                        want /= n;
                        float got = x.getAtIndex(ValueLayout.JAVA_FLOAT, i);
                        check(Math.abs(got - want) <= 1e-6f * Math.abs(want), "bucketed mean, step " + step + " tensor " + t + " [" + i + "]: " + got + " != " + want);
                    }
                }
            }
        }
    }

    static float value(int seed, long i) { return (float) ((seed * 7 + i * 13) % 101 - 50); }

    static void fill(MemorySegment s, int seed) {
        for (long i = 0; i < s.byteSize() / Float.BYTES; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, value(seed, i));
    }

    static MemorySegment floats(Arena arena, long count, int rank) {
        MemorySegment s = arena.allocate(Math.max(1, count) * Float.BYTES, 64);
        fill(s.asSlice(0, count * Float.BYTES), rank);
        return s;
    }

    static void expectSum(MemorySegment s, long count, int n, float factor, String what) {
        for (long i = 0; i < count; i++) {
            float want = 0;
            for (int q = 0; q < n; q++) want += value(q, i);
            want *= factor;
            float got = s.getAtIndex(ValueLayout.JAVA_FLOAT, i);
            check(Math.abs(got - want) <= 1e-6f * Math.abs(want), what + " of " + count + " floats, [" + i + "]: " + got + " != " + want);
        }
    }

    static void die(Communicator comm) throws InterruptedException {
        comm.barrier();
        if (comm.rank() == 1) {
            System.out.println("rank 1 halting");
            System.out.flush();
            Runtime.getRuntime().halt(3);
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment a = arena.allocate(1024 * Float.BYTES, 64);
            long end = System.nanoTime() + 120_000_000_000L;
            while (System.nanoTime() < end) comm.allreduceSum(a, 1024);   // blocks once rank 1 is gone
        }
        System.out.println("rank 0 still running after 120 s: mpirun did not stop the job");
    }

    static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }
}
