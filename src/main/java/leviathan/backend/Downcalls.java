package leviathan.backend;

import java.lang.foreign.AddressLayout;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;

/**
 * Downcalls that take some of their pointers as 64-bit addresses ({@code long}), which the C
 * calling conventions of the supported platforms pass exactly as they pass pointers. A pointer to
 * a matrix at an offset into a segment is then {@code segment.address() + offset}, with no slice
 * made: a GEMM on some rows of an activation allocates nothing. The caller checks the segments
 * (native, large enough) and keeps them alive for the call, as for every kernel's arguments.
 */
final class Downcalls {
    private Downcalls() {}

    /** {@code symbol} linked as {@code descriptor} says, with the arguments at {@code pointers} (each a pointer there) taken as {@code long}. */
    static MethodHandle withAddresses(MemorySegment symbol, FunctionDescriptor descriptor, int... pointers) {
        MemoryLayout[] args = descriptor.argumentLayouts().toArray(MemoryLayout[]::new);
        for (int i : pointers) {
            if (!(args[i] instanceof AddressLayout)) throw new IllegalStateException("argument " + i + " of " + descriptor + " is not a pointer");
            args[i] = ValueLayout.JAVA_LONG;
        }
        FunctionDescriptor d = descriptor.returnLayout().map(r -> FunctionDescriptor.of(r, args)).orElseGet(() -> FunctionDescriptor.ofVoid(args));
        return Linker.nativeLinker().downcallHandle(symbol, d);
    }
}
