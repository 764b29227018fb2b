package leviathan.nn;

import java.util.Map;
import java.util.TreeMap;

/**
 * Which part fills a slot of the block, and the options that shape its parameters: the kind as
 * the command line and the checkpoint metadata name it ({@code correlation}, {@code dot},
 * {@code dense}, ...) and its model options, keyed by their metadata names ({@code lags=4}).
 * Options that only steer a run (kernel choice, initialisation, loss weights) are not part of a
 * spec: they travel as {@link RunOptions}. Two specs are equal when kind and options are.
 *
 * @param kind    the registered name ({@link Parts})
 * @param options model options by metadata key, as strings (sorted, immutable)
 */
public record PartSpec(String kind, Map<String, String> options) {
    public PartSpec {
        if (kind == null || kind.isBlank()) throw new IllegalArgumentException("a part needs a kind");
        options = java.util.Collections.unmodifiableMap(new TreeMap<>(options == null ? Map.of() : options));
    }

    public static PartSpec of(String kind) { return new PartSpec(kind, Map.of()); }

    /** The integer option {@code key}; a missing or malformed value is an error naming both. */
    public int intOption(String key) {
        String v = options.get(key);
        if (v == null) throw new IllegalArgumentException(kind + " needs the option '" + key + "'");
        try {
            return Integer.parseInt(v.trim());
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(kind + " option '" + key + "' must be an integer, got '" + v + "'");
        }
    }

    @Override
    public String toString() { return options.isEmpty() ? kind : kind + options; }
}
