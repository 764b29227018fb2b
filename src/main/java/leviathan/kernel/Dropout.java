package leviathan.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Inverted dropout with masks from a counter-based generator (LEVIATHAN.md, "Training-only
 * regularisation: dropout"): element {@code i} of a site is kept when a hash of
 * {@code (key, i)} clears the drop probability, and a kept element is scaled by {@code 1/(1 - p)}.
 * The key stands for (seed, step, micro-batch, site) ({@link #key}); the index counts over the
 * global batch, so the mask of an element is the same whatever the thread count, the rank count
 * or the order of the work, and the backward recomputes it instead of storing it.
 *
 * <p>The hash is SplitMix64's finaliser of {@code key + (i + 1)·γ} (γ the golden-ratio increment);
 * its top 24 bits compared with {@code round(p·2^24)} give {@code P(drop) = round(p·2^24)/2^24}.
 */
public final class Dropout {
    private Dropout() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;
    private static final long GAMMA = 0x9E3779B97F4A7C15L;

    /** The key of one site of one micro-batch of one step of a run seeded {@code seed}. */
    public static long key(long seed, long step, long micro, long site) {
        long h = mix(seed + GAMMA);
        h = mix(h ^ (step + GAMMA));
        h = mix(h ^ (micro + 2 * GAMMA));
        return mix(h ^ (site + 3 * GAMMA));
    }

    static long mix(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    /** The drop threshold on 24 bits for probability {@code p}. */
    public static int threshold(float p) {
        if (!(p >= 0 && p < 1)) throw new IllegalArgumentException("dropout must be in [0, 1), got " + p);
        return Math.round(p * (1 << 24));
    }

    /** Whether element {@code index} of the site keyed {@code key} is kept. */
    public static boolean kept(long key, long index, int threshold) {
        return (mix(key + (index + 1) * GAMMA) >>> 40) >= threshold;
    }

    /**
     * {@code x[i] *= mask(base + i)/(1 - p)} for i in {@code [from, to)}: the forward of a site,
     * and, on the gradient with the same key and base, its backward. Split in fixed blocks over
     * the kernel threads; every element's value depends only on its own index.
     */
    public static void apply(MemorySegment x, long key, float p, long base, long from, long to) {
        Apply k = APPLY.get();
        k.x = x;
        k.key = key;
        k.threshold = threshold(p);
        k.scale = 1f / (1f - p);
        k.base = base;
        Elementwise.forBlocks(from, to, Elementwise.EXP_TASK, k);
    }

    /**
     * The mask of one site for kernels that drop inside their own loops (the mixers' weights):
     * mutable and reused, so arming it for a step allocates nothing. {@code firstRow} is the first
     * sequence of this rank's share of the global batch; a kernel numbers its elements over the
     * global batch from it, so the masks do not depend on the rank count.
     */
    public static final class Mask {
        private long key;
        private int threshold, firstRow;
        private float scale;

        /** Arms the mask for the site keyed {@code key} at probability {@code p}. */
        public Mask set(long key, float p, int firstRow) {
            this.threshold = threshold(p);
            this.key = key;
            this.scale = 1f / (1f - p);
            this.firstRow = firstRow;
            return this;
        }

        public int firstRow() { return firstRow; }

        /** {@code 1/(1 - p)} for a kept element {@code index}, 0 for a dropped one. */
        public float factor(long index) { return kept(key, index, threshold) ? scale : 0f; }
    }

    private static final class Apply extends Elementwise.Blocks {
        MemorySegment x;
        long key, base;
        int threshold;
        float scale;

        @Override
        void range(long from, long to) { applyRange(x, key, threshold, scale, base, from, to); }
    }

    private static final Parallel.Tasks<Apply> APPLY = new Parallel.Tasks<>(Apply::new);

    private static void applyRange(MemorySegment x, long key, int threshold, float scale, long base, long from, long to) {
        for (long i = from; i < to; i++) {
            float v = x.getAtIndex(FL, i);
            x.setAtIndex(FL, i, kept(key, base + i, threshold) ? v * scale : 0f);
        }
    }
}
