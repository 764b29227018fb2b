package leviathan.model;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * The small JSON subset a safetensors header uses (objects, arrays, strings, integers), parsed
 * strictly, with a depth limit so that a hostile header cannot exhaust the stack and a limit on the
 * number of values so that it cannot exhaust the heap, and written back.
 * Values: {@code Map<String,Object>} (insertion order), {@code List<Object>}, {@code String},
 * {@code Long} (integers), {@code Double}, {@code Boolean}, {@code null}.
 */
public final class Json {
    private Json() {}

    private static final int MAX_DEPTH = 16;

    /**
     * Values one document may hold. A Leviathan header has about 8 per tensor (a few thousand in
     * all); 2^18 keeps the parsed tree of a hostile 16 MiB header to tens of MiB of heap, where
     * millions of empty objects would take hundreds.
     */
    static final int MAX_VALUES = 1 << 18;

    public static final class ParseException extends Exception {
        private final boolean outOfRange;

        ParseException(String message, int at) { this(message, at, false); }

        ParseException(String message, int at, boolean outOfRange) {
            super(message + " at character " + at);
            this.outOfRange = outOfRange;
        }

        /** Whether the text is valid JSON holding an integer beyond the 64-bit range (which this parser does not hold). */
        public boolean outOfRange() { return outOfRange; }
    }

    public static Object parse(String s) throws ParseException {
        Json.Parser p = new Json.Parser(s);
        p.ws();
        Object v = p.value(0);
        p.ws();
        if (p.i != s.length()) throw new ParseException("trailing characters after the JSON value", p.i);
        return v;
    }

    private static final class Parser {
        final String s;
        int i, values;

        Parser(String s) { this.s = s; }

        void ws() { while (i < s.length() && " \t\r\n".indexOf(s.charAt(i)) >= 0) i++; }

        char peek() throws ParseException {
            if (i >= s.length()) throw new ParseException("unexpected end of JSON", i);
            return s.charAt(i);
        }

        void expect(char c) throws ParseException {
            if (peek() != c) throw new ParseException("expected '" + c + "' but found '" + s.charAt(i) + "'", i);
            i++;
        }

        Object value(int depth) throws ParseException {
            if (depth > MAX_DEPTH) throw new ParseException("JSON nested deeper than " + MAX_DEPTH, i);
            if (++values > MAX_VALUES) throw new ParseException("more than " + MAX_VALUES + " JSON values", i);
            char c = peek();
            switch (c) {
                case '{': return object(depth);
                case '[': return array(depth);
                case '"': return string();
                case 't': literal("true"); return Boolean.TRUE;
                case 'f': literal("false"); return Boolean.FALSE;
                case 'n': literal("null"); return null;
                default:
                    if (c == '-' || (c >= '0' && c <= '9')) return number();
                    throw new ParseException("unexpected character '" + c + "'", i);
            }
        }

        void literal(String w) throws ParseException {
            if (!s.startsWith(w, i)) throw new ParseException("expected " + w, i);
            i += w.length();
        }

        Map<String, Object> object(int depth) throws ParseException {
            expect('{');
            Map<String, Object> m = new LinkedHashMap<>();
            ws();
            if (peek() == '}') { i++; return m; }
            while (true) {
                ws();
                int at = i;
                String k = string();
                ws();
                expect(':');
                ws();
                Object v = value(depth + 1);
                if (m.containsKey(k)) throw new ParseException("duplicate key \"" + k + "\"", at);
                m.put(k, v);
                ws();
                if (peek() == ',') { i++; continue; }
                expect('}');
                return m;
            }
        }

        List<Object> array(int depth) throws ParseException {
            expect('[');
            List<Object> a = new ArrayList<>();
            ws();
            if (peek() == ']') { i++; return a; }
            while (true) {
                ws();
                a.add(value(depth + 1));
                ws();
                if (peek() == ',') { i++; continue; }
                expect(']');
                return a;
            }
        }

        String string() throws ParseException {
            expect('"');
            StringBuilder sb = new StringBuilder();
            while (true) {
                char c = peek();
                i++;
                if (c == '"') return sb.toString();
                if (c < 0x20) throw new ParseException("control character in string", i - 1);
                if (c != '\\') { sb.append(c); continue; }
                char e = peek();
                i++;
                switch (e) {
                    case '"', '\\', '/' -> sb.append(e);
                    case 'b' -> sb.append('\b');
                    case 'f' -> sb.append('\f');
                    case 'n' -> sb.append('\n');
                    case 'r' -> sb.append('\r');
                    case 't' -> sb.append('\t');
                    case 'u' -> {
                        if (i + 4 > s.length()) throw new ParseException("truncated \\u escape", i);
                        int code = 0;
                        for (int k = 0; k < 4; k++) {                 // exactly four hex digits (parseInt would take a sign)
                            int digit = Character.digit(s.charAt(i + k), 16);
                            if (digit < 0 || s.charAt(i + k) > 'f') throw new ParseException("bad \\u escape", i);
                            code = code * 16 + digit;
                        }
                        sb.append((char) code);
                        i += 4;
                    }
                    default -> throw new ParseException("bad escape \\" + e, i - 1);
                }
            }
        }

        Object number() throws ParseException {
            int start = i;
            if (peek() == '-') i++;
            while (i < s.length() && "0123456789.eE+-".indexOf(s.charAt(i)) >= 0) i++;
            String t = s.substring(start, i);
            try {
                if (t.indexOf('.') < 0 && t.indexOf('e') < 0 && t.indexOf('E') < 0) return Long.parseLong(t);
                return Double.parseDouble(t);
            } catch (NumberFormatException e) {
                if (t.matches("-?(0|[1-9][0-9]*)")) throw new ParseException("the integer " + t + " is beyond the 64-bit range", start, true);
                throw new ParseException("bad number '" + t + "'", start);
            }
        }
    }

    /** Writes a JSON string literal (ASCII-safe: everything outside printable ASCII is escaped). */
    public static void quote(StringBuilder sb, String s) {
        sb.append('"');
        for (int k = 0; k < s.length(); k++) {
            char c = s.charAt(k);
            switch (c) {
                case '"' -> sb.append("\\\"");
                case '\\' -> sb.append("\\\\");
                case '\n' -> sb.append("\\n");
                case '\r' -> sb.append("\\r");
                case '\t' -> sb.append("\\t");
                default -> {
                    if (c < 0x20 || c > 0x7e) sb.append(String.format("\\u%04x", (int) c));
                    else sb.append(c);
                }
            }
        }
        sb.append('"');
    }
}
