package leviathan.server;

import leviathan.model.Json;

/** JSON writing helpers on top of {@link Json#quote}: null-safe strings and plain numbers. */
final class Jsons {
    private Jsons() {}

    /** A string literal, or {@code null}. */
    static void quote(StringBuilder sb, String s) {
        if (s == null) sb.append("null");
        else Json.quote(sb, s);
    }
}
