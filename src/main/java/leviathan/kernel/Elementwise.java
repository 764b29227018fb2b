package leviathan.kernel;

/**
 * Parallel split of a flat range of floats for the elementwise kernels (GELU, residual, AdamW):
 * blocks of a fixed size that is a multiple of every lane count, so every block but the last runs
 * whole vectors and only the very end of the range reaches the scalar tail. The result is then the
 * same for any thread count.
 */
final class Elementwise {
    private Elementwise() {}

    /** Floats per parallel task: 128 KiB, a multiple of any vector length. */
    static final int BLOCK = 1 << 15;

    /** The body of a split: handles floats {@code [from, to)}. */
    @FunctionalInterface
    interface LongRange {
        void run(long from, long to);
    }

    /** Runs {@code body} over {@code [0, n)} in {@link #BLOCK}-float blocks spread over the kernel threads. */
    static void forBlocks(long n, LongRange body) {
        if (n <= BLOCK) {                     // one block: no task to hand out
            body.run(0, n);
            return;
        }
        int blocks = Math.toIntExact((n + BLOCK - 1) / BLOCK);
        Parallel.forRange(blocks, (b0, b1) -> body.run(b0 * (long) BLOCK, Math.min(n, b1 * (long) BLOCK)));
    }
}
