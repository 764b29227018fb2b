package leviathan.train;

/** {@code --resume} of a run that has already done all its steps. */
public final class RunCompleteException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    RunCompleteException(String m) { super(m); }
}
