package leviathan.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.lang.foreign.Arena;
import org.junit.jupiter.api.Test;

class TensorTest {
    private static Tensor counting(Arena arena, int... shape) {
        Tensor t = Tensor.of("t", arena.allocate(Shapes.numel(shape) * Float.BYTES, 64), shape);
        for (long i = 0; i < t.numel(); i++) t.setFlat(i, i);
        return t;
    }

    @Test
    void shapeStridesAndRowMajorAccess() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = counting(arena, 2, 3, 4);
            assertArrayEquals(new int[] {2, 3, 4}, t.shape());
            assertArrayEquals(new long[] {12, 4, 1}, t.strides());
            assertEquals(24, t.numel());
            assertEquals(3, t.rank());
            assertEquals(4, t.dim(-1));
            assertEquals(1 * 12 + 2 * 4 + 3, t.get(1, 2, 3));
            assertEquals(24 * Float.BYTES, t.segment().byteSize());
        }
    }

    @Test
    void viewsSliceAndAtShareMemory() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = counting(arena, 4, 6);
            Tensor v = t.view(2, 12);
            Tensor s = t.slice(1, 3);
            Tensor row = t.at(2);
            assertArrayEquals(new int[] {2, 6}, s.shape());
            assertArrayEquals(new int[] {6}, row.shape());
            assertEquals(t.get(1, 0), s.get(0, 0));
            assertEquals(t.get(2, 5), row.get(5));
            assertEquals(t.get(3, 1), v.get(1, 7));

            s.set(-1f, 1, 2);                                         // row 2 of t
            assertEquals(-1f, t.get(2, 2));
            assertEquals(-1f, row.get(2));
            assertEquals(-1f, v.get(1, 2 * 6 + 2 - 12));
            v.set(-2f, 0, 0);
            assertEquals(-2f, t.get(0, 0));
            t.fill(5f);
            assertEquals(5f, s.get(0, 3));
            t.fill(0f);
            assertEquals(0f, row.get(4));
        }
    }

    @Test
    void boundsAreChecked() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = counting(arena, 3, 4);
            assertThrows(IndexOutOfBoundsException.class, () -> t.get(3, 0));
            assertThrows(IndexOutOfBoundsException.class, () -> t.get(0, 4));
            assertThrows(IndexOutOfBoundsException.class, () -> t.get(-1, 0));
            assertThrows(IndexOutOfBoundsException.class, () -> t.set(1f, 0, -1));
            assertThrows(IllegalArgumentException.class, () -> t.get(1));            // wrong rank
            assertThrows(IndexOutOfBoundsException.class, () -> t.getFlat(12));
            assertThrows(IndexOutOfBoundsException.class, () -> t.slice(2, 4));
            assertThrows(IndexOutOfBoundsException.class, () -> t.slice(2, 1));
            assertThrows(IndexOutOfBoundsException.class, () -> t.at(3));
            assertThrows(IllegalArgumentException.class, () -> t.view(5, 2));
            Tensor s = t.slice(1, 2);                                                 // a slice cannot reach its neighbours
            assertThrows(IndexOutOfBoundsException.class, () -> s.get(1, 0));
            assertThrows(IndexOutOfBoundsException.class, () -> s.getFlat(4));
            assertThrows(IllegalArgumentException.class, () -> Tensor.of("small", arena.allocate(8), 3));
            assertThrows(IllegalArgumentException.class, () -> Tensor.of("neg", arena.allocate(8), -1));
        }
    }

    @Test
    void copyInAndOut() {
        try (Arena arena = Arena.ofConfined()) {
            Tensor t = counting(arena, 2, 2);
            t.copyFrom(new float[] {1, 2, 3, 4});
            assertArrayEquals(new float[] {1, 2, 3, 4}, t.toArray());
            assertThrows(IllegalArgumentException.class, () -> t.copyFrom(new float[3]));
            assertEquals("t[2, 2]", t.toString());
        }
    }
}
