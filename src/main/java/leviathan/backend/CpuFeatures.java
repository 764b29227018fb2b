package leviathan.backend;

import java.util.ArrayList;
import java.util.List;
import java.util.Set;
import leviathan.ffi.onednn.dnnl_h;
import leviathan.kernel.Cpu;

/**
 * What the CPU offers for bf16: the instruction-set flags Linux reports in {@code /proc/cpuinfo}
 * and, when oneDNN is loaded, the ISA oneDNN dispatches to ({@code dnnl_get_effective_cpu_isa}).
 */
public final class CpuFeatures {
    private CpuFeatures() {}

    /** The cpuinfo flags that mean hardware bf16 arithmetic. */
    static final List<String> BF16_FLAGS = List.of("avx512_bf16", "amx_bf16");

    /** The {@code flags} of the first processor in {@code /proc/cpuinfo}; empty where there is none (not Linux). */
    public static Set<String> flags() { return Cpu.flags(); }

    /** The flags of the first {@code flags : ...} line of a cpuinfo text. */
    static Set<String> parseFlags(String cpuinfo) { return Cpu.parseFlags(cpuinfo); }

    /** The bf16 flags this CPU has, in {@link #BF16_FLAGS} order. */
    public static List<String> bf16Flags() {
        List<String> out = new ArrayList<>();
        for (String f : BF16_FLAGS) if (flags().contains(f)) out.add(f);
        return out;
    }

    /** oneDNN's effective CPU ISA as a {@code dnnl_cpu_isa_t} bit mask; oneDNN must be loaded. */
    static int onednnIsa() {
        return dnnl_h.dnnl_get_effective_cpu_isa();
    }

    /** True if a {@code dnnl_cpu_isa_t} mask includes the bf16 instructions (AVX512_BF16; AMX masks include them). */
    static boolean isaHasBf16(int isa) {
        int bf16 = dnnl_h.dnnl_cpu_isa_avx512_core_bf16();
        return (isa & bf16) == bf16;
    }

    /** The name of a {@code dnnl_cpu_isa_t} mask: the widest known ISA it contains. */
    static String isaName(int isa) {
        if (has(isa, dnnl_h.dnnl_cpu_isa_avx512_core_amx())) return "avx512_core_amx";
        if (has(isa, dnnl_h.dnnl_cpu_isa_avx512_core_bf16())) return "avx512_core_bf16";
        if (has(isa, dnnl_h.dnnl_cpu_isa_avx512_core())) return "avx512_core";
        if (has(isa, 0x7)) return "avx2";
        return "0x" + Integer.toHexString(isa);
    }

    private static boolean has(int isa, int mask) { return (isa & mask) == mask; }

    /**
     * One line for {@code info}: whether bf16 GEMMs are accelerated here, with the evidence
     * (oneDNN's ISA when {@code onednnLoaded}, and the cpuinfo flags).
     */
    public static String bf16Summary(boolean onednnLoaded) {
        List<String> f = bf16Flags();
        String cpu = "cpu flags: " + (f.isEmpty() ? "none of " + String.join(", ", BF16_FLAGS) : String.join(", ", f));
        if (onednnLoaded) {
            int isa = onednnIsa();
            return (isaHasBf16(isa) ? "accelerated" : "not accelerated") + " (oneDNN ISA " + isaName(isa) + "; " + cpu
                    + "); use with train --precision bf16 (any command: -D" + Precision.PROPERTY + "=bf16)";
        }
        return (f.isEmpty() ? "not accelerated" : "CPU has bf16, but oneDNN is not loaded") + " (" + cpu + ")";
    }
}
