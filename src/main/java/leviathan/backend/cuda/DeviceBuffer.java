package leviathan.backend.cuda;

import static leviathan.ffi.cudart.cuda_runtime_api_h.cudaFree;

import java.lang.foreign.MemorySegment;

/**
 * A block of device memory ({@code cudaMalloc}); {@link #close()} frees it ({@code cudaFree}),
 * once. Use with try-with-resources so that every path releases it.
 */
public final class DeviceBuffer implements AutoCloseable {
    private final long address, bytes;
    private boolean closed;

    DeviceBuffer(long address, long bytes) {
        this.address = address;
        this.bytes = bytes;
    }

    /** The device address (0 for an empty buffer). */
    public long address() { return address; }

    /** The device address {@code offset} bytes in, checked against the size. */
    public long at(long offset) {
        if (offset < 0 || offset > bytes) throw new IndexOutOfBoundsException("offset " + offset + " outside a device buffer of " + bytes + " bytes");
        return address + offset;
    }

    public long bytes() { return bytes; }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        if (address != 0) Cuda.check(cudaFree(MemorySegment.ofAddress(address)), "cudaFree");
    }
}
