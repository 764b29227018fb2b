package leviathan.distributed;

/** Open MPI cannot be used here; the message is the one-line reason with the fix (how to install it, or which path to set). */
public final class MpiUnavailableException extends MpiException {
    /** The one-line reason. */
    public MpiUnavailableException(String reason) { super(reason, 0); }
}
