package leviathan.kernel;

/**
 * How the elementwise and row kernels split work over the kernel threads.
 *
 * <p>Flat ranges (GELU, residual, AdamW) go in blocks of {@link #BLOCK} floats, a multiple of every
 * lane count, so every block but the last runs whole vectors and only the very end of the range
 * reaches the scalar tail: the result is the same for any thread count. Row kernels split rows, and
 * their shared-gradient passes split channels, which is deterministic by construction.
 *
 * <p>A task must be big enough to pay for handing it to another thread. On the 2-vCPU development
 * machine (shared with other work) a hand-off cost ~5 µs when the second vCPU was idle and up to
 * ~50 µs when it was busy, and JMH showed no gain from a second thread for kernels under ~100 µs at
 * the default config (LayerNorm 32 µs, AdamW 37 µs, cross-entropy 91 µs, all slower on 2 threads),
 * and ~20% for GELU on 768×512 (210 → 170 µs). Hence the minimum task sizes below: at the default
 * config only GELU and the attention softmax split; larger models split more.
 */
final class Elementwise {
    private Elementwise() {}

    /** Floats per block of a flat range: 128 KiB, a multiple of any vector length. */
    static final int BLOCK = 1 << 15;

    /** Minimum floats per task for light, memory-bound kernels (~0.1–0.2 ns a float). */
    static final int LIGHT_TASK = 1 << 18;

    /** Minimum floats per task for kernels with an exp per float (~0.5 ns a float). */
    static final int EXP_TASK = 1 << 16;

    /** Items per task so that a task covers at least {@code minFloats} floats at {@code floatsPerItem} each. */
    static int grain(int minFloats, long floatsPerItem) {
        return (int) Math.max(1, minFloats / Math.max(1, floatsPerItem));
    }

    /** The body of a split: handles floats {@code [from, to)}. */
    @FunctionalInterface
    interface LongRange {
        void run(long from, long to);
    }

    /** Runs {@code body} over {@code [0, n)} in {@link #BLOCK}-float blocks, at least {@code minFloats} floats per task. */
    static void forBlocks(long n, int minFloats, LongRange body) {
        if (n <= minFloats || n <= BLOCK) {   // one task: call directly
            body.run(0, n);
            return;
        }
        int blocks = Math.toIntExact((n + BLOCK - 1) / BLOCK);
        Parallel.forRange(blocks, grain(minFloats, BLOCK), (b0, b1) -> body.run(b0 * (long) BLOCK, Math.min(n, b1 * (long) BLOCK)));
    }
}
