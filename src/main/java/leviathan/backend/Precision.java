package leviathan.backend;

import java.util.Locale;

/**
 * The number format of GEMM inputs. Master weights, optimizer state, activations, reductions and
 * GEMM outputs stay float32 either way; only the two operands of a product may be rounded.
 */
public enum Precision {
    /** float32 operands: the reference. */
    FP32,
    /** bfloat16 operands (float32 accumulation and output), where the CPU has bf16 instructions. */
    BF16;

    /** Property choosing the precision where the caller passes none: {@code fp32} (default) or {@code bf16}. */
    public static final String PROPERTY = "leviathan.precision";

    /** Lower-case name, as on the command line. */
    public String label() { return name().toLowerCase(Locale.ROOT); }

    /** {@code fp32} or {@code bf16} (case-insensitive); anything else is one clear error. */
    public static Precision parse(String s) {
        String v = s == null ? "" : s.trim().toLowerCase(Locale.ROOT);
        return switch (v) {
            case "fp32", "f32", "float32" -> FP32;
            case "bf16", "bfloat16" -> BF16;
            default -> throw new IllegalArgumentException("unknown precision '" + s + "': expected fp32 or bf16");
        };
    }

    /** {@link #PROPERTY}, or fp32 when unset. */
    public static Precision fromSystem() {
        String p = System.getProperty(PROPERTY);
        if (p == null || p.isBlank()) return FP32;
        try {
            return parse(p);
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException("-D" + PROPERTY + "=" + p + ": " + e.getMessage());
        }
    }
}
