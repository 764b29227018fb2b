package leviathan.nn;

import java.lang.foreign.MemorySegment;

/** Row views of row-major float32 matrices. */
public final class Rows {
    private Rows() {}

    /** The rows from {@code row} on of a matrix {@code width} floats wide (the segment itself for row 0). */
    public static MemorySegment from(MemorySegment m, int row, int width) {
        return row == 0 ? m : m.asSlice((long) row * width * Float.BYTES);
    }
}
