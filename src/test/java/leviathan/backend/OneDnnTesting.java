package leviathan.backend;

import static org.junit.jupiter.api.Assertions.fail;

import java.util.Locale;
import org.junit.jupiter.api.Assumptions;

/** Opens oneDNN for the tests, or skips them with the reason; on CI for linux-x86_64 a failure to load fails. */
public final class OneDnnTesting {
    private OneDnnTesting() {}

    private static OneDnnBackend backend;
    private static String reason;

    /** The backend with default options, or a skip ("oneDNN not found: ..."). */
    public static synchronized OneDnnBackend backendOrSkip() {
        if (backend == null && reason == null) {
            try {
                backend = OneDnnBackend.open(OneDnnBackend.Options.fromSystem());
            } catch (OneDnnLoader.UnavailableException e) {
                reason = e.getMessage();
            }
        }
        if (backend == null) {
            // The jar is linux-x86_64: on such a CI machine the bundled library must load, so a skip would hide a bug.
            if ("true".equals(System.getenv("CI")) && bundledPlatform()) {
                fail("oneDNN must load on CI (linux-x86_64) but did not: " + reason);
            }
            Assumptions.assumeTrue(false, "oneDNN not found: " + reason);
        }
        return backend;
    }

    static boolean bundledPlatform() {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT);
        String arch = System.getProperty("os.arch", "");
        return os.contains("linux") && (arch.equals("amd64") || arch.equals("x86_64"));
    }
}
