package leviathan.distributed;

/** An MPI call failed, or ranks disagree; the message names the call, the MPI error code and Open MPI's text for it. */
public class MpiException extends RuntimeException {
    private final int code;

    /** A failure with MPI error code {@code code} (0 when the failure is not an MPI return code). */
    public MpiException(String message, int code) {
        super(message);
        this.code = code;
    }

    /** The MPI error code ({@code MPI_ERR_*}), or 0 when the failure did not come from an MPI return code. */
    public int code() { return code; }
}
