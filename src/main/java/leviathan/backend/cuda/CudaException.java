package leviathan.backend.cuda;

/** A CUDA, driver or cuFFT call that did not succeed, or a CUDA setup that is unusable; the message names the call and the code. */
public class CudaException extends RuntimeException {
    public CudaException(String message) { super(message); }
}
