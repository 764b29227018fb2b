package leviathan.kernel;

import java.io.IOException;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.LinkedHashSet;
import java.util.Locale;
import java.util.Set;

/**
 * What the kernels need to know of the CPU they run on: its model name and instruction-set flags
 * (from {@code /proc/cpuinfo}; empty where there is none, i.e. not Linux), and how many vector
 * registers the JIT can give a kernel's accumulators.
 */
public final class Cpu {
    private Cpu() {}

    /** Overrides {@link #vectorRegisters()} (16 or 32): tests run the 16-register blocking on any machine. */
    public static final String REGISTERS_PROPERTY = "leviathan.vectorRegisters";

    private static String cpuinfo;

    private static synchronized String cpuinfo() {
        if (cpuinfo == null) {
            try {
                cpuinfo = Files.readString(Path.of("/proc/cpuinfo"));
            } catch (IOException | RuntimeException e) {
                cpuinfo = "";
            }
        }
        return cpuinfo;
    }

    /** The {@code flags} of the first processor; empty where there is no {@code /proc/cpuinfo}. */
    public static synchronized Set<String> flags() {
        if (flags == null) flags = java.util.Collections.unmodifiableSet(parseFlags(cpuinfo()));
        return flags;
    }

    private static Set<String> flags;

    /** The model name of the first processor ({@code os.arch} where cpuinfo has none). */
    public static String model() {
        String m = field(cpuinfo(), "model name");
        return m.isEmpty() ? System.getProperty("os.arch", "unknown") : m;
    }

    /** The flags of the first {@code flags : ...} line of a cpuinfo text. */
    public static Set<String> parseFlags(String cpuinfo) {
        Set<String> out = new LinkedHashSet<>();
        for (String f : field(cpuinfo, "flags").split("\\s+")) if (!f.isEmpty()) out.add(f);
        return out;
    }

    /** The value of the first {@code name : value} line of a cpuinfo text, or "". */
    static String field(String cpuinfo, String name) {
        for (String line : cpuinfo.split("\n")) {
            int colon = line.indexOf(':');
            if (colon > 0 && line.substring(0, colon).trim().equals(name)) return line.substring(colon + 1).trim();
        }
        return "";
    }

    private static int registers;

    /**
     * Vector registers available to a kernel's accumulators at the species width {@link Simd#F}:
     * 32 with AVX-512 (zmm0-31, and ymm16-31 at 256 bits when the JVM runs with
     * {@code -XX:UseAVX=3}), 32 on AArch64 (NEON and SVE), 16 with AVX2, AVX or SSE (including an
     * AVX-512 CPU run with {@code -XX:UseAVX=2} or lower). Unknown architectures get 16, the
     * smaller budget, which is slower at worst, never wrong.
     */
    public static synchronized int vectorRegisters() {
        if (registers == 0) registers = detectRegisters();
        return registers;
    }

    private static int detectRegisters() {
        String p = System.getProperty(REGISTERS_PROPERTY);
        if (p != null && !p.isBlank()) {
            if (!p.trim().equals("16") && !p.trim().equals("32")) {
                throw new IllegalArgumentException(REGISTERS_PROPERTY + " must be 16 or 32, got '" + p + "'");
            }
            return Integer.parseInt(p.trim());
        }
        String arch = System.getProperty("os.arch", "").toLowerCase(Locale.ROOT);
        if (arch.equals("aarch64") || arch.equals("arm64")) return 32;
        if (!arch.equals("amd64") && !arch.equals("x86_64")) return 16;
        if (Simd.F.vectorBitSize() >= 512) return 32;
        // narrower vectors on an AVX-512 CPU: the upper 16 registers only where the JVM uses AVX-512
        // encodings (UseAVX=3). Asked of the VM only there, so that AVX2 machines load no management classes.
        if (!flags().contains("avx512vl")) return 16;
        return useAvx() >= 3 ? 32 : 16;
    }

    /** The JVM's {@code -XX:UseAVX} level (its default is the CPU's highest), or 0 when it cannot be read. */
    static int useAvx() {
        try {
            var bean = ManagementFactory.getPlatformMXBean(com.sun.management.HotSpotDiagnosticMXBean.class);
            return Integer.parseInt(bean.getVMOption("UseAVX").getValue());
        } catch (RuntimeException | LinkageError e) {
            return 0;
        }
    }
}
