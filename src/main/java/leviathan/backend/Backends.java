package leviathan.backend;

import java.util.Locale;
import java.util.function.Consumer;
import leviathan.profile.Profiler;

/**
 * Chooses the GEMM backend: {@code auto} tries oneDNN then falls back to Java with one log line;
 * an explicit {@code onednn} that cannot load is an error.
 */
public final class Backends {
    private Backends() {}

    /** Property giving the backend when the caller passes null: {@code auto} (default), {@code java}, {@code onednn}. */
    public static final String PROPERTY = "leviathan.backend";

    /**
     * Opens the requested backend ({@code auto}, {@code java}, {@code onednn}; null reads {@link #PROPERTY})
     * at the precision of {@link Precision#PROPERTY} (default fp32); {@code log} gets one line, and
     * one more when bf16 was asked for and cannot run.
     */
    public static Backend select(String requested, Consumer<String> log) {
        return select(requested, Precision.fromSystem(), log);
    }

    /** {@link #select(String, Consumer)} at an explicit GEMM operand precision ({@code --precision}). */
    public static Backend select(String requested, Precision precision, Consumer<String> log) {
        Backend b = select(requested, OneDnnBackend.Options.fromSystem(), log);
        if (precision != b.precision()) {
            Backend p = b.withPrecision(precision, log);
            if (p != b) {
                b.close();
                log.accept("precision: " + p.precision().label() + " GEMM operands (" + p.describe() + ")");
            }
            b = p;
        }
        if (b.precision() == Precision.FP32 && Tuning.enabledBySystem()) {   // -Dleviathan.tune=false: the defaults
            b = new TunedBackend(b, Tuning.global(log));
        }
        return Profiler.ENABLED ? new ProfiledBackend(b) : b;   // -Dleviathan.profile=true: time every GEMM
    }

    /**
     * Starts loading oneDNN on a background daemon thread (extracting or checking the cached
     * library, dlopen, symbol lookup), so that a command's start-up overlaps it with parsing its
     * options and reading its checkpoint; a later {@link #select} takes the loaded library, or
     * waits for the load to finish. Failures are left for {@code select} to report.
     */
    public static void prefetch() {
        Thread.ofPlatform().daemon().name("onednn-prefetch").start(() -> {
            try {
                OneDnnLoader.load(OneDnnBackend.Options.fromSystem().path());
            } catch (OneDnnLoader.UnavailableException | RuntimeException e) {
                // select() tries again and says what went wrong, in its own words
            }
        });
    }

    /** Opens the requested backend with explicit oneDNN options (path, threads), at fp32. */
    public static Backend select(String requested, OneDnnBackend.Options onednn, Consumer<String> log) {
        if (requested == null) requested = System.getProperty(PROPERTY, "auto");
        String r = requested.trim().toLowerCase(Locale.ROOT);
        switch (r) {
            case "java": {
                Backend j = new JavaBackend();
                log.accept("backend: " + j.describe());
                return j;
            }
            case "onednn", "auto": {
                try {
                    Backend b = OneDnnBackend.open(onednn);
                    log.accept("backend: " + b.describe());
                    return b;
                } catch (OneDnnLoader.UnavailableException e) {
                    if (r.equals("onednn")) {
                        throw new IllegalArgumentException("backend onednn was requested but oneDNN cannot be loaded: "
                                + e.getMessage() + "; " + OneDnnLoader.HINT + ", or choose the java backend");
                    }
                    Backend j = new JavaBackend();
                    log.accept("backend: " + j.name() + " (oneDNN not found: " + e.getMessage() + "; " + OneDnnLoader.HINT + ")");
                    return j;
                }
            }
            default:
                throw new IllegalArgumentException("unknown backend '" + requested + "': expected auto, java or onednn");
        }
    }
}
