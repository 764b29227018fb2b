package leviathan.nn;

import java.util.List;
import java.util.Locale;
import java.util.function.UnaryOperator;

/**
 * One option of a block part, declared once by the part (its {@link PartType}): the key that the
 * checkpoint metadata and {@code config.json} use, whether it changes the stored model
 * ({@link Scope#MODEL}: written to the checkpoint) or only steers a run ({@link Scope#RUN}:
 * kernel choice, initialisation, loss weights), its type, default and bounds, and the command-line
 * flag with its help. The command lines of {@code train}, {@code sample}, {@code eval} and
 * {@code serve}, the checks of {@code config.json}, checkpoint metadata and {@code info} are all
 * derived from these declarations ({@link Parts}).
 *
 * <p>Bounds that depend on the model's dimensions (lags up to the head width, a window up to the
 * block size) are checked by the part's constructor, which sees the dimensions.
 *
 * @param key          metadata / config key ({@code lags})
 * @param scope        stored in the model, or a run setting
 * @param type         integer, number or one of {@code choices}
 * @param defaultValue the default as text, or null when the part computes it from the model
 *                     (then {@code defaultText} says how)
 * @param defaultText  the default as the help shows it
 * @param min          smallest accepted value (integers and numbers), or NaN
 * @param max          largest accepted value, or NaN
 * @param choices      the accepted values of a choice, in order
 * @param flag         the command-line flag ({@code --lags})
 * @param label        the flag's parameter label ({@code N})
 * @param help         one line of help, without the default
 * @param atInference  whether commands that only run a saved model ({@code sample}, {@code eval},
 *                     {@code serve}) take the flag too (a run option such as the kernel choice)
 * @param canonical    maps a valid value to the form that is recorded (trimmed, lower case, ...)
 */
public record PartOption(String key, Scope scope, Type type, String defaultValue, String defaultText, double min, double max,
                         List<String> choices, String flag, String label, String help, boolean atInference,
                         UnaryOperator<String> canonical) {

    /** Stored in the checkpoint (changes the model), or a setting of one run. */
    public enum Scope { MODEL, RUN }

    public enum Type { INTEGER, NUMBER, CHOICE }

    public PartOption {
        choices = List.copyOf(choices);
        if (canonical == null) canonical = String::trim;
    }

    /** An integer option; flag {@code --key-with-dashes} until {@link #flag} says otherwise. */
    public static PartOption integer(String key, Scope scope) {
        return new PartOption(key, scope, Type.INTEGER, null, null, Double.NaN, Double.NaN, List.of(), "--" + key.replace('_', '-'),
                "N", "", false, null);
    }

    /** A floating-point option. */
    public static PartOption number(String key, Scope scope) {
        return new PartOption(key, scope, Type.NUMBER, null, null, Double.NaN, Double.NaN, List.of(), "--" + key.replace('_', '-'),
                "X", "", false, null);
    }

    /** An option taking one of {@code choices} (case-insensitive). */
    public static PartOption choice(String key, Scope scope, String... choices) {
        return new PartOption(key, scope, Type.CHOICE, null, null, Double.NaN, Double.NaN, List.of(choices), "--" + key.replace('_', '-'),
                String.join("|", choices), "", false, s -> s.trim().toLowerCase(Locale.ROOT));
    }

    public PartOption byDefault(Object value) {
        String v = value.toString();
        return new PartOption(key, scope, type, v, v, min, max, choices, flag, label, help, atInference, canonical);
    }

    /** A default the part computes from the model's dimensions, described for the help. */
    public PartOption computedDefault(String description) {
        return new PartOption(key, scope, type, null, description, min, max, choices, flag, label, help, atInference, canonical);
    }

    public PartOption min(double v) {
        return new PartOption(key, scope, type, defaultValue, defaultText, v, max, choices, flag, label, help, atInference, canonical);
    }

    public PartOption max(double v) {
        return new PartOption(key, scope, type, defaultValue, defaultText, min, v, choices, flag, label, help, atInference, canonical);
    }

    public PartOption flag(String name, String paramLabel) {
        return new PartOption(key, scope, type, defaultValue, defaultText, min, max, choices, name, paramLabel, help, atInference, canonical);
    }

    public PartOption help(String text) {
        return new PartOption(key, scope, type, defaultValue, defaultText, min, max, choices, flag, label, text, atInference, canonical);
    }

    /** The flag is also taken by the commands that run a saved model. */
    public PartOption usedAtInference() {
        return new PartOption(key, scope, type, defaultValue, defaultText, min, max, choices, flag, label, help, true, canonical);
    }

    public PartOption canonical(UnaryOperator<String> form) {
        return new PartOption(key, scope, type, defaultValue, defaultText, min, max, choices, flag, label, help, atInference, form);
    }

    /** The help line as the command line shows it: the text, then the default. */
    public String description() {
        return help + (defaultText == null ? "" : " (default: " + defaultText + ")") + ".";
    }

    /**
     * {@code raw} checked against the type and bounds, in its recorded form.
     * @throws IllegalArgumentException naming the option and its flag, the rule and the value
     */
    public String check(String raw) {
        String name = key + " (" + flag + ")";
        if (raw == null) throw new IllegalArgumentException(name + " needs a value");
        String v = raw.trim();
        switch (type) {
            case INTEGER -> {
                long n;
                try {
                    n = Long.parseLong(v);
                } catch (NumberFormatException e) {
                    throw new IllegalArgumentException(name + " must be an integer" + range() + ", got '" + raw + "'");
                }
                if (n < Integer.MIN_VALUE || n > Integer.MAX_VALUE || (!Double.isNaN(min) && n < min) || (!Double.isNaN(max) && n > max)) {
                    throw new IllegalArgumentException(name + " must be an integer" + range() + ", got " + v);
                }
            }
            case NUMBER -> {
                double x;
                try {
                    x = Double.parseDouble(v);
                } catch (NumberFormatException e) {
                    x = Double.NaN;
                }
                if (!Double.isFinite(x) || (!Double.isNaN(min) && x < min) || (!Double.isNaN(max) && x > max)) {
                    throw new IllegalArgumentException(name + " must be a finite number" + range() + ", got '" + raw + "'");
                }
            }
            case CHOICE -> {
                if (!choices.contains(v.toLowerCase(Locale.ROOT))) {
                    throw new IllegalArgumentException(name + " must be one of " + String.join(", ", choices) + "; got '" + raw + "'");
                }
            }
        }
        return canonical.apply(v);
    }

    private String range() {
        boolean lo = !Double.isNaN(min), hi = !Double.isNaN(max);
        if (lo && hi) return " in [" + fmt(min) + ", " + fmt(max) + "]";
        if (lo) return " >= " + fmt(min);
        if (hi) return " <= " + fmt(max);
        return "";
    }

    private String fmt(double v) {
        return type == Type.INTEGER || v == Math.rint(v) ? Long.toString((long) v) : Double.toString(v);
    }
}
