package leviathan.data;

/**
 * A read-only sequence of token ids addressed by {@code long} positions: an {@code int[]} in
 * memory ({@link #of(int[])}) or a split of a memory-mapped {@link TokenFile}. What the batch
 * sampler and the evaluator read, so that a corpus larger than 2^31 tokens needs no heap copy.
 */
public interface Tokens {
    /** Number of tokens. */
    long length();

    /** The token at {@code i}, {@code 0 <= i < length()}. */
    int get(long i);

    /**
     * Lets go of the memory this sequence's reads have made resident, where that is possible: a
     * memory-mapped file's pages leave the process's resident set (they stay in the OS page cache
     * and come back on the next read, with the same values). Random windows of a large mapped file
     * would otherwise map ever more of it (the kernel maps the neighbours of each page read), so
     * that the resident set grew with the text. A no-op for tokens on the heap.
     */
    default void release() { }

    /** Tokens {@code [from, to)} of this sequence, without a copy. */
    default Tokens slice(long from, long to) {
        if (from < 0 || to < from || to > length()) {
            throw new IndexOutOfBoundsException("slice [" + from + ", " + to + ") of " + length() + " tokens");
        }
        Tokens base = this;
        return new Tokens() {
            @Override public long length() { return to - from; }

            @Override public int get(long i) { return base.get(from + i); }

            @Override public void release() { base.release(); }
        };
    }

    /** A view of {@code ids} (not copied). */
    static Tokens of(int[] ids) {
        return new Tokens() {
            @Override public long length() { return ids.length; }

            @Override public int get(long i) { return ids[(int) i]; }
        };
    }
}
