package leviathan.backend.cuda;

import static java.lang.foreign.ValueLayout.JAVA_INT;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import leviathan.ffi.cufft.cufft_h;

/**
 * A batched 1-D real cuFFT plan of length {@code n} on contiguous signals: R2C reads
 * {@code batch × n} floats and writes {@code batch × (n/2+1)} complex values, C2R the reverse
 * (unnormalised; cuFFT may overwrite a C2R input). {@link #close()} destroys the plan.
 */
public final class CufftPlan implements AutoCloseable {
    private final int handle;
    public final int n, batch;
    public final boolean r2c;
    private boolean closed;

    /** Plans {@code batch} transforms of length {@code n}, R2C ({@code r2c}) or C2R, on {@code cuda}'s stream. */
    public CufftPlan(Cuda cuda, int n, int batch, boolean r2c) {
        this.n = n;
        this.batch = batch;
        this.r2c = r2c;
        int bins = n / 2 + 1;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment h = a.allocate(JAVA_INT), len = a.allocateFrom(JAVA_INT, n);
            MemorySegment real = a.allocateFrom(JAVA_INT, n), cplx = a.allocateFrom(JAVA_INT, bins);
            Cuda.checkCufft(cufft_h.cufftPlanMany(h, 1, len, r2c ? real : cplx, 1, r2c ? n : bins, r2c ? cplx : real, 1,
                    r2c ? bins : n, r2c ? cufft_h.CUFFT_R2C() : cufft_h.CUFFT_C2R(), batch),
                    "cufftPlanMany(n=" + n + ", batch=" + batch + (r2c ? ", R2C)" : ", C2R)"));
            handle = h.get(JAVA_INT, 0);
        }
        try {
            Cuda.checkCufft(cufft_h.cufftSetStream(handle, cuda.stream()), "cufftSetStream");
        } catch (CudaException e) {
            close();
            throw e;
        }
    }

    /** Runs the plan from device address {@code in} to {@code out} (asynchronous, on the stream). */
    public void exec(long in, long out) {
        MemorySegment i = MemorySegment.ofAddress(in), o = MemorySegment.ofAddress(out);
        if (r2c) Cuda.checkCufft(cufft_h.cufftExecR2C(handle, i, o), "cufftExecR2C(batch=" + batch + ")");
        else Cuda.checkCufft(cufft_h.cufftExecC2R(handle, i, o), "cufftExecC2R(batch=" + batch + ")");
    }

    @Override
    public synchronized void close() {
        if (closed) return;
        closed = true;
        Cuda.checkCufft(cufft_h.cufftDestroy(handle), "cufftDestroy");
    }
}
