package leviathan.tensor;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;

/**
 * A float32 tensor: an off-heap {@link MemorySegment} in native byte order, a shape and
 * row-major strides (in elements). Views and slices share the segment; nothing is copied.
 * Element access by index ({@link #get}, {@link #set}) is bounds-checked and meant for tests
 * and glue code: kernels take the {@link #segment()} directly.
 */
public final class Tensor {
    private static final ValueLayout.OfFloat F32 = ValueLayout.JAVA_FLOAT;

    private final String name;
    private final MemorySegment segment;
    private final int[] shape;
    private final long[] strides;

    private Tensor(String name, MemorySegment segment, int[] shape, long[] strides) {
        this.name = name;
        this.segment = segment;
        this.shape = shape;
        this.strides = strides;
    }

    /** Wraps {@code segment} (exactly numel·4 bytes or more) as a contiguous tensor of {@code shape}. */
    public static Tensor of(String name, MemorySegment segment, int... shape) {
        long n = Shapes.numel(shape);
        if (segment.byteSize() < n * Float.BYTES) {
            throw new IllegalArgumentException(name + ": segment holds " + segment.byteSize() / Float.BYTES
                    + " floats, shape " + Arrays.toString(shape) + " needs " + n);
        }
        return new Tensor(name, segment.asSlice(0, n * Float.BYTES), shape.clone(), Shapes.rowMajorStrides(shape));
    }

    public String name() { return name; }

    /** The backing memory, exactly {@code numel()·4} bytes for a contiguous tensor. */
    public MemorySegment segment() { return segment; }

    public int[] shape() { return shape.clone(); }

    public int dim(int axis) { return shape[axis < 0 ? shape.length + axis : axis]; }

    public int rank() { return shape.length; }

    public long[] strides() { return strides.clone(); }

    public long numel() { return Shapes.numel(shape); }

    /** A view with another shape over the same elements (contiguous tensors only). */
    public Tensor view(int... newShape) {
        if (Shapes.numel(newShape) != numel()) {
            throw new IllegalArgumentException(name + ": cannot view " + Arrays.toString(shape) + " as "
                    + Arrays.toString(newShape));
        }
        return new Tensor(name, segment, newShape.clone(), Shapes.rowMajorStrides(newShape));
    }

    /** Rows {@code [from, to)} of the leading axis, sharing memory. */
    public Tensor slice(int from, int to) {
        if (from < 0 || to > shape[0] || from > to) {
            throw new IndexOutOfBoundsException(name + ": slice [" + from + ", " + to + ") of leading size " + shape[0]);
        }
        int[] s = shape.clone();
        s[0] = to - from;
        long row = strides[0] * Float.BYTES;
        return new Tensor(name, segment.asSlice(from * row, (long) (to - from) * row), s, strides.clone());
    }

    /** Element {@code index} of the leading axis with that axis dropped (a sub-tensor view). */
    public Tensor at(int index) {
        Tensor t = slice(index, index + 1);
        int[] s = Arrays.copyOfRange(shape, 1, shape.length);
        return new Tensor(name, t.segment, s, Shapes.rowMajorStrides(s));
    }

    private long offset(int... index) {
        if (index.length != shape.length) {
            throw new IllegalArgumentException(name + ": index rank " + index.length + " for shape " + Arrays.toString(shape));
        }
        long off = 0;
        for (int i = 0; i < index.length; i++) {
            if (index[i] < 0 || index[i] >= shape[i]) {
                throw new IndexOutOfBoundsException(name + ": index " + Arrays.toString(index) + " outside " + Arrays.toString(shape));
            }
            off += index[i] * strides[i];
        }
        return off;
    }

    public float get(int... index) { return segment.getAtIndex(F32, offset(index)); }

    public void set(float value, int... index) { segment.setAtIndex(F32, offset(index), value); }

    /** Flat element {@code i} (bounds-checked by the segment). */
    public float getFlat(long i) { return segment.getAtIndex(F32, i); }

    public void setFlat(long i, float value) { segment.setAtIndex(F32, i, value); }

    public void fill(float value) {
        if (value == 0f) segment.fill((byte) 0);
        else for (long i = 0, n = numel(); i < n; i++) segment.setAtIndex(F32, i, value);
    }

    public void copyFrom(float[] values) {
        if (values.length != numel()) throw new IllegalArgumentException(name + ": " + values.length + " values for " + numel() + " elements");
        MemorySegment.copy(values, 0, segment, F32, 0, values.length);
    }

    public float[] toArray() { return segment.toArray(F32); }

    @Override
    public String toString() { return name + Arrays.toString(shape); }
}
