package leviathan.data;

import java.util.Arrays;

/**
 * Character tokenizer (LEVIATHAN.md, "Tokenizer"): the vocabulary is the sorted set of distinct
 * Unicode code points of the training text, and a token id is the index in that order.
 */
public final class CharTokenizer {
    private final int[] codePoints;      // sorted, distinct

    private CharTokenizer(int[] codePoints) { this.codePoints = codePoints; }

    /** The vocabulary of {@code text}: its distinct code points, sorted. */
    public static CharTokenizer fromText(String text) {
        int[] cps = text.codePoints().distinct().sorted().toArray();
        if (cps.length == 0) throw new IllegalArgumentException("cannot build a vocabulary from empty text");
        return new CharTokenizer(cps);
    }

    /**
     * The vocabulary stored in a checkpoint: its characters concatenated in token order. Must be
     * non-empty, strictly increasing code points (sorted, no duplicates).
     */
    public static CharTokenizer fromVocab(String vocab) {
        int[] cps = vocab.codePoints().toArray();
        if (cps.length == 0) throw new IllegalArgumentException("vocabulary is empty");
        for (int i = 1; i < cps.length; i++) {
            if (cps[i] <= cps[i - 1]) {
                throw new IllegalArgumentException("vocabulary is not sorted and distinct at position " + i
                        + " (" + describe(cps[i - 1]) + " then " + describe(cps[i]) + ")");
            }
        }
        return new CharTokenizer(cps);
    }

    public int vocabSize() { return codePoints.length; }

    /** The vocabulary as one string, characters in token order (the checkpoint's {@code vocab}). */
    public String vocab() { return new String(codePoints, 0, codePoints.length); }

    /** The token of a code point, or -1 if it is not in the vocabulary. */
    public int tokenOf(int codePoint) {
        int i = Arrays.binarySearch(codePoints, codePoint);
        return i >= 0 ? i : -1;
    }

    public int codePointOf(int token) {
        if (token < 0 || token >= codePoints.length) throw new IllegalArgumentException("token " + token + " outside vocabulary of " + codePoints.length);
        return codePoints[token];
    }

    /** Encodes {@code text}; a character outside the vocabulary is an error naming it and its position. */
    public int[] encode(String text) { return encode(text, false); }

    /** Encodes {@code text}; with {@code dropUnknown}, characters outside the vocabulary are skipped. */
    public int[] encode(String text, boolean dropUnknown) {
        int[] out = new int[text.codePointCount(0, text.length())];
        int n = 0, pos = 0;
        for (int i = 0; i < text.length(); ) {
            int cp = text.codePointAt(i);
            int t = tokenOf(cp);
            if (t < 0 && !dropUnknown) {
                throw new UnknownCharacterException(cp, pos, line(text, i), column(text, i));
            }
            if (t >= 0) out[n++] = t;
            i += Character.charCount(cp);
            pos++;
        }
        return n == out.length ? out : Arrays.copyOf(out, n);
    }

    public String decode(int... tokens) {
        StringBuilder sb = new StringBuilder(tokens.length);
        for (int t : tokens) sb.appendCodePoint(codePointOf(t));
        return sb.toString();
    }

    public String decode(int token) { return new String(Character.toChars(codePointOf(token))); }

    private static int line(String s, int idx) {
        int line = 1;
        for (int i = 0; i < idx; i++) if (s.charAt(i) == '\n') line++;
        return line;
    }

    private static int column(String s, int idx) {
        int start = s.lastIndexOf('\n', idx - 1) + 1;
        return s.codePointCount(start, idx) + 1;
    }

    /** Human-readable name of a code point: the character and its U+ code. */
    public static String describe(int cp) {
        String shown = Character.isISOControl(cp) || Character.isWhitespace(cp) ? "" : "'" + new String(Character.toChars(cp)) + "' ";
        return shown + String.format("U+%04X", cp);
    }

    /** A character of the input is not in the vocabulary. */
    public static final class UnknownCharacterException extends IllegalArgumentException {
        public final int codePoint, position;
        private final String what;

        UnknownCharacterException(int codePoint, int position, int line, int column) {
            super(what(codePoint, position, line, column) + "; remove it, or pass --drop-unknown to skip such characters");
            this.what = what(codePoint, position, line, column);
            this.codePoint = codePoint;
            this.position = position;
        }

        private static String what(int codePoint, int position, int line, int column) {
            return "character " + describe(codePoint) + " at position " + position + " (line " + line + ", column " + column
                    + ") is not in the model's vocabulary";
        }

        /** What is wrong, without the command-line advice (a server says its own way on). */
        public String what() { return what; }
    }
}
