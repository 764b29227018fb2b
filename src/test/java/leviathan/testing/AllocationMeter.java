package leviathan.testing;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadInfo;
import java.util.Arrays;

/**
 * Heap bytes allocated by the threads that run the engine's work: the calling thread and the
 * kernel workers of {@code leviathan.kernel.Parallel} (threads named {@code leviathan-kernel-*}).
 * {@link #start} looks the threads up (that allocates, before the window opens); inside the window
 * only their counters are read, one thread at a time, which allocates nothing, so an empty window
 * measures exactly 0. Threads started after {@link #start} are not counted: warm up first.
 */
public final class AllocationMeter {
    private static final com.sun.management.ThreadMXBean MX = (com.sun.management.ThreadMXBean) ManagementFactory.getThreadMXBean();

    private long[] ids = new long[0];
    private long start;

    /** Opens a window: finds the caller and the kernel workers, then reads their counters. */
    public AllocationMeter start() {
        long self = Thread.currentThread().threadId();
        long[] all = MX.getAllThreadIds();
        ThreadInfo[] infos = MX.getThreadInfo(all);
        long[] mine = new long[all.length];
        int n = 0;
        for (int i = 0; i < all.length; i++) {
            if (all[i] == self || (infos[i] != null && infos[i].getThreadName().startsWith("leviathan-kernel-"))) mine[n++] = all[i];
        }
        ids = Arrays.copyOf(mine, n);
        start = read();
        return this;
    }

    /** Bytes the threads allocated since {@link #start}. */
    public long bytes() { return read() - start; }

    /** The threads counted: the caller and the kernel workers alive at {@link #start}. */
    public int threads() { return ids.length; }

    private long read() {
        long sum = 0;
        for (long id : ids) {
            long b = MX.getThreadAllocatedBytes(id);       // one id: no array, no allocation
            if (b > 0) sum += b;
        }
        return sum;
    }
}
