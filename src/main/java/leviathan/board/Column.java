package leviathan.board;

import java.util.Arrays;

/** A growable column of floats (a metric over the rows of a run); NaN marks a row without a value. */
final class Column {
    private float[] values = new float[64];
    private int size;

    void add(double v) {
        if (size == values.length) values = Arrays.copyOf(values, size * 2);
        values[size++] = (float) v;
    }

    /** Pads with NaN up to {@code n} rows (a key that appears only in later rows). */
    void padTo(int n) { while (size < n) add(Double.NaN); }

    int size() { return size; }

    void clear() { size = 0; }

    float get(int i) { return values[i]; }

    /** The last value, or NaN when empty. */
    float last() { return size == 0 ? Float.NaN : values[size - 1]; }
}
