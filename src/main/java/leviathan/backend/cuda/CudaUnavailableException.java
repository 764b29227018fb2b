package leviathan.backend.cuda;

/** No usable GPU or CUDA libraries; the message is the one-line reason (what is missing, where it looked, the fix). */
public final class CudaUnavailableException extends CudaException {
    public CudaUnavailableException(String reason) { super(reason); }
}
