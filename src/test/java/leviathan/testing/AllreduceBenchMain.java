package leviathan.testing;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import leviathan.distributed.Communicator;

/**
 * Allreduce latency and bandwidth against message size, run by every rank under {@code mpirun}
 * ({@code benchmarks/mpi-allreduce.sh} starts it). For each size, after a barrier and warm-up
 * calls, rank 0 times each in-place float-sum {@code allreduceSum} and prints one Markdown table
 * row: median and 10th/90th percentile time per call, algorithm bandwidth (bytes / time) and bus
 * bandwidth (2·(N−1)/N · bytes / time, the bytes each rank sends in a ring allreduce, as
 * nccl-tests reports it).
 *
 * <pre>{@code
 * AllreduceBenchMain [--sizes 1,256,65536] [--seconds 0.5] [--max-iters 1000]
 * }</pre>
 * Sizes are in floats; each size runs until {@code --seconds} have passed or {@code --max-iters}
 * calls, at least 5 calls. Rank 0 decides the iteration count and broadcasts it, so every rank
 * makes the same calls.
 */
public final class AllreduceBenchMain {
    private AllreduceBenchMain() {}

    public static void main(String[] args) {
        long[] sizes = {1, 16, 256, 4096, 65_536, 262_144, 1 << 20, 4 << 20, 16 << 20};
        double seconds = 0.5;
        int maxIters = 1000;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--sizes" -> sizes = Arrays.stream(args[++i].split(",")).mapToLong(s -> Long.parseLong(s.trim())).toArray();
                case "--seconds" -> seconds = Double.parseDouble(args[++i]);
                case "--max-iters" -> maxIters = Integer.parseInt(args[++i]);
                default -> {
                    System.err.println("AllreduceBenchMain: unknown option " + args[i] + " (--sizes a,b,c --seconds S --max-iters N)");
                    System.exit(2);
                }
            }
        }
        Communicator comm = Communicator.fromEnvironment();
        int n = comm.size();
        if (comm.isRoot()) {
            System.out.println("| floats | bytes | calls | median µs | p10 µs | p90 µs | algbw GB/s | busbw GB/s |");
            System.out.println("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        }
        long max = Arrays.stream(sizes).max().orElse(1);
        try (Arena arena = Arena.ofShared()) {
            MemorySegment buf = arena.allocate(max * Float.BYTES, 64);
            MemorySegment iters = arena.allocate(ValueLayout.JAVA_INT);
            for (long count : sizes) {
                for (long i = 0; i < count; i++) buf.setAtIndex(ValueLayout.JAVA_FLOAT, i, 1f / n);
                for (int w = 0; w < 3; w++) comm.allreduceSum(buf, count);
                // rank 0 estimates the calls that fit the time budget; every rank uses its count
                comm.barrier();
                long t0 = System.nanoTime();
                comm.allreduceSum(buf, count);
                double one = (System.nanoTime() - t0) * 1e-9;
                iters.set(ValueLayout.JAVA_INT, 0, (int) Math.clamp(Math.round(seconds / Math.max(one, 1e-7)), 5, maxIters));
                comm.broadcast(iters, Integer.BYTES, 0);
                int calls = iters.get(ValueLayout.JAVA_INT, 0);
                comm.barrier();
                List<Long> ns = new ArrayList<>(calls);
                for (int c = 0; c < calls; c++) {
                    long a = System.nanoTime();
                    comm.allreduceSum(buf, count);
                    ns.add(System.nanoTime() - a);
                }
                if (comm.isRoot()) {
                    long[] sorted = ns.stream().mapToLong(Long::longValue).sorted().toArray();
                    double med = sorted[sorted.length / 2] * 1e-3, p10 = sorted[sorted.length / 10] * 1e-3,
                            p90 = sorted[Math.min(sorted.length - 1, sorted.length * 9 / 10)] * 1e-3;
                    long bytes = count * Float.BYTES;
                    double alg = bytes / (med * 1e-6) / 1e9;
                    System.out.println(String.format(Locale.ROOT, "| %d | %d | %d | %.1f | %.1f | %.1f | %.3f | %.3f |",
                            count, bytes, calls, med, p10, p90, alg, alg * 2.0 * (n - 1) / n));
                }
            }
        }
        comm.barrier();
        comm.close();
    }
}
