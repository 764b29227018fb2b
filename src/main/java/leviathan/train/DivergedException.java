package leviathan.train;

/** Training stopped because a loss, gradient, weight or evaluation was not finite; the message names the last good checkpoint. */
public final class DivergedException extends RuntimeException {
    private static final long serialVersionUID = 1L;

    DivergedException(String m) { super(m); }
}
