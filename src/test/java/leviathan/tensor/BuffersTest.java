package leviathan.tensor;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.util.List;
import org.junit.jupiter.api.Test;

class BuffersTest {
    private static Buffers.Layout layout() {
        return new Buffers.Layout().add("wte", 65, 128).add("bias", 3).add("ln", 2, 5).add("empty", 0);
    }

    @Test
    void slicesAreNamedAlignedZeroedAndInOrder() {
        try (Arena arena = Arena.ofConfined()) {
            Buffers b = layout().allocate(arena);
            assertEquals(List.of("wte", "bias", "ln", "empty"), List.copyOf(b.tensors().keySet()));
            assertArrayEquals(new int[] {65, 128}, b.get("wte").shape());
            long base = b.all().address();
            for (Tensor t : b.tensors().values()) {
                assertEquals(0, (t.segment().address() - base) % 64, t.name() + " is not 64-byte aligned");
                for (long i = 0; i < t.numel(); i++) assertEquals(0f, t.getFlat(i));
            }
            // 65·128 floats, then 3 floats padded to 16, then 10 padded to 16
            assertEquals(65 * 128 + 16 + 16, b.floatCount());
            assertEquals(b.floatCount() * Float.BYTES, b.all().byteSize());
            assertTrue(b.has("ln"));
            assertFalse(b.has("nope"));
        }
    }

    @Test
    void slicesShareTheBlockWithoutOverlapping() {
        try (Arena arena = Arena.ofConfined()) {
            Buffers b = layout().allocate(arena);
            b.get("bias").fill(7f);
            b.get("ln").fill(3f);
            assertEquals(0f, b.get("wte").getFlat(65 * 128 - 1));
            long biasOffset = b.get("bias").segment().address() - b.all().address();
            assertEquals(7f, b.all().get(java.lang.foreign.ValueLayout.JAVA_FLOAT, biasOffset + 8));
            assertEquals(0f, b.all().get(java.lang.foreign.ValueLayout.JAVA_FLOAT, biasOffset + 12), "padding stays zero");
            assertEquals(3f, b.get("ln").get(1, 4));
            b.zero();
            assertEquals(0f, b.get("ln").get(1, 4));
        }
    }

    @Test
    void rejectsDuplicatesAndUnknownNames() {
        assertThrows(IllegalArgumentException.class, () -> new Buffers.Layout().add("a", 2).add("a", 3));
        try (Arena arena = Arena.ofConfined()) {
            Buffers b = layout().allocate(arena);
            var e = assertThrows(IllegalArgumentException.class, () -> b.get("missing"));
            assertTrue(e.getMessage().contains("missing"));
            assertThrows(UnsupportedOperationException.class, () -> b.tensors().clear());
        }
    }

    @Test
    void emptyLayoutStillAllocates() {
        try (Arena arena = Arena.ofConfined()) {
            Buffers b = new Buffers.Layout().allocate(arena);
            assertEquals(64, new Buffers.Layout().byteSize());
            assertEquals(16, b.floatCount());
            assertTrue(b.tensors().isEmpty());
        }
    }

    @Test
    void shapesArithmetic() {
        assertEquals(24, Shapes.numel(2, 3, 4));
        assertEquals(1, Shapes.numel());
        assertEquals(0, Shapes.numel(3, 0));
        assertThrows(IllegalArgumentException.class, () -> Shapes.numel(2, -1));
        assertThrows(ArithmeticException.class, () -> Shapes.numel(Integer.MAX_VALUE, Integer.MAX_VALUE, Integer.MAX_VALUE));
        assertEquals(0, Shapes.align64(0));
        assertEquals(64, Shapes.align64(1));
        assertEquals(64, Shapes.align64(64));
        assertEquals(128, Shapes.align64(65));
    }
}
