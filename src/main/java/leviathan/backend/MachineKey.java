package leviathan.backend;

import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.HexFormat;
import java.util.List;
import leviathan.kernel.Cpu;
import leviathan.kernel.Simd;

/**
 * What {@link Tuning}'s cached choices depend on: the CPU model, a hash of its flags, the JDK, the
 * vector width, the register budget and the engine version (a hash of the tuned kernels' class
 * files). A cache file holds the choices of one key and is named by its hash.
 */
public record MachineKey(String cpu, String flags, String jdk, int lanes, int registers, String engine) {
    /** The kernel classes whose code the cached choices are about: their bytes are the engine version. */
    private static final List<String> TUNED_CLASSES = List.of("leviathan/kernel/MatmulKernel.class", "leviathan/kernel/MatmulBlocked.class",
            "leviathan/kernel/CorrelationTiles.class", "leviathan/kernel/Correlation.class",
            "leviathan/kernel/CorrelationWorkspace.class", "leviathan/kernel/CorrelationFft.class", "leviathan/kernel/CorrelationFftWork.class",
            "leviathan/kernel/Fft.class", "leviathan/backend/OneDnnBackend.class", "leviathan/backend/TunedBackend.class",
            "leviathan/backend/Tuning.class", "leviathan/backend/MachineKey.class");

    /** This JVM on this machine. */
    public static MachineKey current() {
        return new MachineKey(Cpu.model(), sha(String.join(" ", Cpu.flags())), Runtime.version().toString(),
                Simd.lanes(), Simd.registers(), engineVersion());
    }

    /** The file name: a hash of every field. */
    String id() { return sha(line()); }

    /** The key as the file's second line records it. */
    String line() {
        return "key\tcpu=" + cpu + "\tflags=" + flags + "\tjdk=" + jdk + "\tlanes=" + lanes + "\tregisters=" + registers + "\tengine=" + engine;
    }

    /** For {@code info} and {@code tune}. */
    public String describe() {
        return cpu + ", " + lanes + " float lanes, " + registers + " vector registers, JDK " + jdk + ", engine " + engine;
    }

    /** The first 8 bytes of a SHA-256, in hex. */
    static String sha(String s) {
        try {
            return HexFormat.of().formatHex(MessageDigest.getInstance("SHA-256").digest(s.getBytes(StandardCharsets.UTF_8)), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError("every JDK has SHA-256", e);
        }
    }

    /** A hash of the tuned kernels' class files: a new engine build that changes them times again. */
    static String engineVersion() {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (String c : TUNED_CLASSES) {
                try (InputStream in = MachineKey.class.getModule().getResourceAsStream(c)) {
                    if (in != null) sha.update(in.readAllBytes());
                    else sha.update(c.getBytes(StandardCharsets.UTF_8));
                }
            }
            return HexFormat.of().formatHex(sha.digest(), 0, 6);
        } catch (IOException | NoSuchAlgorithmException e) {
            return "unknown";
        }
    }
}
