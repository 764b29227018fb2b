package leviathan.data;

/**
 * The generator of {@link java.util.SplittableRandom#SplittableRandom(long)} (SplitMix64 with the
 * golden gamma), as a reusable mutable object: {@link #reset} replaces {@code new
 * SplittableRandom(seed)}, so a caller that reseeds every step allocates nothing. For any seed,
 * the sequence of {@link #nextInt(int)}, {@link #nextLong(long)} and {@link #nextDouble()} values equals the JDK's
 * (a test checks it), so batches drawn with it equal those drawn with {@code SplittableRandom}.
 */
public final class SplitMix {
    private static final long GOLDEN_GAMMA = 0x9e3779b97f4a7c15L;
    private long seed;

    /** A generator in the state of {@code new SplittableRandom(seed)}. */
    public SplitMix(long seed) { this.seed = seed; }

    /** Puts the generator in the state of {@code new SplittableRandom(seed)}. */
    public SplitMix reset(long seed) {
        this.seed = seed;
        return this;
    }

    /** {@code SplittableRandom.nextInt()}: the high 32 bits of Stafford's variant 4 mix. */
    public int nextInt() {
        long z = seed += GOLDEN_GAMMA;
        z = (z ^ (z >>> 33)) * 0x62a9d9ed799705f5L;
        return (int) (((z ^ (z >>> 28)) * 0xcb24d0a5c88c35b3L) >>> 32);
    }

    /** {@code SplittableRandom.nextLong()}: Stafford's variant 13 mix. */
    public long nextLong() {
        long z = seed += GOLDEN_GAMMA;
        z = (z ^ (z >>> 30)) * 0xbf58476d1ce4e5b9L;
        z = (z ^ (z >>> 27)) * 0x94d049bb133111ebL;
        return z ^ (z >>> 31);
    }

    /** {@code SplittableRandom.nextDouble()}: the top 53 bits of {@link #nextLong()}, scaled into {@code [0, 1)}. */
    public double nextDouble() { return (nextLong() >>> 11) * 0x1.0p-53; }

    /** {@code SplittableRandom.nextInt(bound)}: uniform in {@code [0, bound)}, by rejection as the JDK does. */
    public int nextInt(int bound) {
        if (bound <= 0) throw new IllegalArgumentException("bound must be positive, got " + bound);
        int m = bound - 1, r = nextInt();
        if ((bound & m) == 0) return r & m;                           // a power of two
        for (int u = r >>> 1; u + m - (r = u % bound) < 0; u = nextInt() >>> 1) {
            // reject the over-represented candidates
        }
        return r;
    }

    /** {@code SplittableRandom.nextLong(bound)}: uniform in {@code [0, bound)}, by rejection as the JDK does. */
    public long nextLong(long bound) {
        if (bound <= 0) throw new IllegalArgumentException("bound must be positive, got " + bound);
        long m = bound - 1, r = nextLong();
        if ((bound & m) == 0L) return r & m;
        for (long u = r >>> 1; u + m - (r = u % bound) < 0L; u = nextLong() >>> 1) {
            // reject the over-represented candidates
        }
        return r;
    }
}
