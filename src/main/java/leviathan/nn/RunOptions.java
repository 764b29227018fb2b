package leviathan.nn;

import java.util.Map;
import java.util.TreeMap;

/**
 * Settings that steer how parts run without changing what they compute or store: the kernel
 * implementation ({@code impl=auto|scalar|direct|gemm|fft}), initialisation knobs
 * ({@code lag_bias_init}) and training-only loss weights. Every part reads the keys it knows
 * and ignores the rest, so one map can travel from the command line to every layer.
 */
public record RunOptions(Map<String, String> values) {
    public static final RunOptions DEFAULTS = new RunOptions(Map.of());

    public RunOptions {
        values = java.util.Collections.unmodifiableMap(new TreeMap<>(values == null ? Map.of() : values));
    }

    public static RunOptions of(String... keyValues) {
        if (keyValues.length % 2 != 0) throw new IllegalArgumentException("key/value pairs expected");
        Map<String, String> m = new TreeMap<>();
        for (int i = 0; i < keyValues.length; i += 2) m.put(keyValues[i], keyValues[i + 1]);
        return new RunOptions(m);
    }

    /** A copy with {@code key} set to {@code value}. */
    public RunOptions with(String key, String value) {
        Map<String, String> m = new TreeMap<>(values);
        m.put(key, value);
        return new RunOptions(m);
    }

    public String string(String key, String fallback) { return values.getOrDefault(key, fallback); }

    /** The number option {@code o}: its value here, or its declared default. */
    public float number(PartOption o) {
        return floatValue(o.key(), Float.parseFloat(o.defaultValue()));
    }

    /** The float option {@code key}, or {@code fallback} when absent; a malformed value is an error. */
    public float floatValue(String key, float fallback) {
        String v = values.get(key);
        if (v == null) return fallback;
        try {
            return Float.parseFloat(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException("option '" + key + "' must be a number, got '" + v + "'");
        }
    }

    /**
     * The correlation implementation asked for ({@code impl}): the flag's value, where {@code auto} (or
     * absent) leaves the {@code leviathan.correlation} property to fill in ({@link CorrelationAttention.Impl#fromFlag}).
     */
    public CorrelationAttention.Impl impl() {
        return CorrelationAttention.Impl.fromFlag(values.getOrDefault(CorrelationMixer.IMPL.key(), CorrelationMixer.IMPL.defaultValue()));
    }
}
