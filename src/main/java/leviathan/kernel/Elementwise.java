package leviathan.kernel;

import static leviathan.kernel.Simd.F;
import static leviathan.kernel.Simd.NATIVE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;

/**
 * How the elementwise and row kernels split work over the kernel threads.
 *
 * <p>Flat ranges (GELU, residual, AdamW) go in blocks of {@link #BLOCK} floats, a multiple of every
 * lane count, so every block but the last runs whole vectors and only the very end of the range
 * reaches the scalar tail: the result is the same for any thread count. Row kernels split rows, and
 * their shared-gradient passes split channels, which is deterministic by construction.
 *
 * <p>The two reusable task shapes live here: {@link Blocks} for a flat range ({@link #forBlocks})
 * and {@link Rows} for a range of rows ({@link #forRows}). A kernel subclasses one with a field per
 * argument, keeps it in a {@link Parallel.Tasks} (one per calling thread), sets the fields and calls
 * the matching {@code for…}, so a call allocates nothing.
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

    /**
     * The body of a flat split, reusable call after call ({@link Parallel.Task}): handles floats
     * {@code [from, to)} of the range {@link #forBlocks} was given.
     */
    abstract static class Blocks extends Parallel.Task {
        private long from, to;

        /** Floats {@code [from, to)}. */
        abstract void range(long from, long to);

        @Override
        public final void run(int b0, int b1) {
            range(from + b0 * (long) BLOCK, Math.min(to, from + b1 * (long) BLOCK));
        }
    }

    /**
     * Runs {@code body} over floats {@code [from, to)} in {@link #BLOCK}-float blocks counted from
     * {@code from}, at least {@code minFloats} floats per task; a range of at most {@code minFloats}
     * floats is one call on this thread.
     */
    static void forBlocks(long from, long to, int minFloats, Blocks body) {
        body.from = from;
        body.to = to;
        // minFloats is a multiple of BLOCK, so a range of at most minFloats floats has at most one grain of blocks: one call
        Parallel.forRange(Math.toIntExact((to - from + BLOCK - 1) / BLOCK), grain(minFloats, BLOCK), body);
    }

    /**
     * The body of a row split, reusable call after call ({@link Parallel.Task}): handles rows
     * {@code [r0, r1)} of the range {@link #forRows} was given, as indices into the whole tensors
     * (so a kernel on the new rows of incremental decoding needs no slices).
     */
    abstract static class Rows extends Parallel.Task {
        private int from;

        /** Rows {@code [r0, r1)}. */
        abstract void rows(int r0, int r1);

        @Override
        public final void run(int r0, int r1) { rows(from + r0, from + r1); }
    }

    /** Runs {@code body} over rows {@code [from, to)}, at least {@code grain} rows per task. */
    static void forRows(int from, int to, int grain, Rows body) {
        body.from = from;
        Parallel.forRange(to - from, grain, body);
    }

    /** Floats {@code [from, to)} of {@code s} set to 0, with no slice made (serial: for a part of a tensor). */
    static void zero(MemorySegment s, long from, long to) {
        long i = from;
        if (Simd.ENABLED) {
            var zero = FloatVector.zero(F);
            for (long bound = from + F.loopBound(to - from); i < bound; i += F.length()) zero.intoMemorySegment(s, i * Float.BYTES, NATIVE);
        }
        for (; i < to; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, 0f);
    }
}
