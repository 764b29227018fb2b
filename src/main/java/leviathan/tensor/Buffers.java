package leviathan.tensor;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * One off-heap float32 block carved into named, 64-byte-aligned tensors. Parameters, gradients,
 * optimizer moments and activations are each one {@code Buffers}, so zeroing, optimizer steps and
 * checkpointing are flat passes over {@link #all()}. The block is zero-filled at allocation.
 * Use {@link Layout} to declare the slices, then {@link Layout#allocate(Arena)}.
 */
public final class Buffers {
    private final MemorySegment all;
    private final Map<String, Tensor> tensors;
    private final long floats;

    private Buffers(MemorySegment all, Map<String, Tensor> tensors, long floats) {
        this.all = all;
        this.tensors = tensors;
        this.floats = floats;
    }

    /** The whole block (padding between slices included; padding stays zero). */
    public MemorySegment all() { return all; }

    /** Floats in the block, padding included. */
    public long floatCount() { return floats; }

    public Tensor get(String name) {
        Tensor t = tensors.get(name);
        if (t == null) throw new IllegalArgumentException("no tensor named '" + name + "'");
        return t;
    }

    public boolean has(String name) { return tensors.containsKey(name); }

    /** Tensors in declaration order. */
    public Map<String, Tensor> tensors() { return tensors; }

    public void zero() { all.fill((byte) 0); }

    /** Declaration of named slices; sizes are fixed once allocated. */
    public static final class Layout {
        private final List<String> names = new ArrayList<>();
        private final List<int[]> shapes = new ArrayList<>();

        public Layout add(String name, int... shape) {
            if (names.contains(name)) throw new IllegalArgumentException("duplicate tensor name " + name);
            names.add(name);
            shapes.add(shape.clone());
            return this;
        }

        /** Bytes the block will take, padding included. */
        public long byteSize() {
            long bytes = 0;
            for (int[] s : shapes) bytes += Shapes.align64(Shapes.numel(s) * Float.BYTES);
            return Math.max(bytes, 64);
        }

        public Buffers allocate(Arena arena) {
            long bytes = byteSize();
            MemorySegment all = arena.allocate(bytes, 64);   // zero-filled by the arena
            Map<String, Tensor> map = new LinkedHashMap<>();
            long off = 0;
            for (int i = 0; i < names.size(); i++) {
                long n = Shapes.numel(shapes.get(i)) * Float.BYTES;
                map.put(names.get(i), Tensor.of(names.get(i), all.asSlice(off, n), shapes.get(i)));
                off += Shapes.align64(n);
            }
            return new Buffers(all, Collections.unmodifiableMap(map), bytes / Float.BYTES);
        }
    }
}
