package leviathan.distributed;

import java.lang.foreign.MemorySegment;

/** Argument checks shared by the communicators, so both reject the same calls. */
final class Checks {
    private Checks() {}

    static void floats(MemorySegment floats, long count) {
        if (count < 0 || count > floats.byteSize() / Float.BYTES) {
            throw new IllegalArgumentException("count " + count + " floats does not fit a buffer of " + floats.byteSize() + " bytes");
        }
    }

    static void bytes(MemorySegment bytes, long byteCount) {
        if (byteCount < 0 || byteCount > bytes.byteSize()) {
            throw new IllegalArgumentException("byte count " + byteCount + " does not fit a buffer of " + bytes.byteSize() + " bytes");
        }
    }

    static void root(int root, int size) {
        if (root < 0 || root >= size) throw new IllegalArgumentException("root rank " + root + " is not in [0, " + size + ")");
    }

    static void nativeSegment(MemorySegment s) {
        if (!s.isNative()) throw new IllegalArgumentException("MPI buffers must be native memory segments (the model's buffers are), not heap arrays");
    }
}
