package leviathan.tensor;

/** Shape arithmetic shared by tensors and buffers. */
public final class Shapes {
    private Shapes() {}

    public static long numel(int... shape) {
        long n = 1;
        for (int d : shape) {
            if (d < 0) throw new IllegalArgumentException("negative dimension " + d);
            n = Math.multiplyExact(n, d);
        }
        return n;
    }

    public static long[] rowMajorStrides(int... shape) {
        long[] s = new long[shape.length];
        long acc = 1;
        for (int i = shape.length - 1; i >= 0; i--) {
            s[i] = acc;
            acc *= shape[i];
        }
        return s;
    }

    /** Rounds a byte count up to the 64-byte alignment every slice keeps. */
    public static long align64(long bytes) { return (bytes + 63) & ~63L; }
}
