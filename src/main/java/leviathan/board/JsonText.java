package leviathan.board;

import java.util.List;
import java.util.Map;
import leviathan.model.Json;

/** Writing the board's JSON: strings (null-safe), numbers (a non-finite one is null), columns and parsed values. */
final class JsonText {
    private JsonText() {}

    static void string(StringBuilder sb, String s) {
        if (s == null) sb.append("null");
        else Json.quote(sb, s);
    }

    static void number(StringBuilder sb, double v) {
        if (!Double.isFinite(v)) sb.append("null");
        else if (v == Math.rint(v) && Math.abs(v) < 1e15) sb.append((long) v);
        else sb.append((float) v);
    }

    static void numbers(StringBuilder sb, Column c) {
        sb.append('[');
        for (int i = 0; i < c.size(); i++) {
            if (i > 0) sb.append(',');
            number(sb, c.get(i));
        }
        sb.append(']');
    }

    /** A value as {@link Json#parse} returns them (maps, lists, strings, numbers, booleans, null). */
    static void value(StringBuilder sb, Object v) {
        switch (v) {
            case null -> sb.append("null");
            case String s -> Json.quote(sb, s);
            case Number n -> number(sb, n.doubleValue());
            case Boolean b -> sb.append(b);
            case Map<?, ?> m -> {
                sb.append('{');
                boolean first = true;
                for (var e : m.entrySet()) {
                    if (!first) sb.append(',');
                    first = false;
                    Json.quote(sb, String.valueOf(e.getKey()));
                    sb.append(':');
                    value(sb, e.getValue());
                }
                sb.append('}');
            }
            case List<?> l -> {
                sb.append('[');
                for (int i = 0; i < l.size(); i++) {
                    if (i > 0) sb.append(',');
                    value(sb, l.get(i));
                }
                sb.append(']');
            }
            default -> Json.quote(sb, v.toString());
        }
    }
}
