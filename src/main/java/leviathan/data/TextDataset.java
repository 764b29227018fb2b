package leviathan.data;

import java.io.IOException;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.ByteBuffer;
import java.util.Arrays;
import leviathan.tensor.FileKind;

/**
 * A tokenized text and its split (LEVIATHAN.md, "Data"): the first {@code floor(0.9·n)} of its
 * {@code n} characters train, the rest validate.
 */
public final class TextDataset {
    private final String name;
    private final int[] tokens;
    private final int trainEnd;

    public TextDataset(String name, int[] tokens) {
        this.name = name;
        this.tokens = tokens;
        this.trainEnd = (int) Math.floor(0.9 * tokens.length);
    }

    /** Which characters of the dataset to use. */
    public enum Split {
        TRAIN, VAL, ALL;

        public static Split parse(String s) {
            return switch (s.trim().toLowerCase(java.util.Locale.ROOT)) {
                case "train" -> TRAIN;
                case "val" -> VAL;
                case "all" -> ALL;
                default -> throw new IllegalArgumentException("split must be train, val or all, got '" + s + "'");
            };
        }
    }

    /** Reads a UTF-8 file strictly: malformed bytes are an error naming the file and the offset. */
    public static String readUtf8(Path file) throws IOException {
        if (!Files.isRegularFile(file)) {
            String kind = FileKind.notRegular(file);
            throw new IOException(kind == null || kind.equals("does not exist") ? "no such file: " + file : file + " " + kind);
        }
        byte[] bytes = Files.readAllBytes(file);
        var dec = StandardCharsets.UTF_8.newDecoder()
                .onMalformedInput(CodingErrorAction.REPORT).onUnmappableCharacter(CodingErrorAction.REPORT);
        ByteBuffer in = ByteBuffer.wrap(bytes);
        try {
            return dec.decode(in).toString();
        } catch (CharacterCodingException e) {
            throw new IOException(file + " is not valid UTF-8 near byte " + in.position() + " (" + e.getMessage() + ")");
        }
    }

    public String name() { return name; }

    public int size() { return tokens.length; }

    /** The tokens of a split (a copy-free view is not needed: splits are read once per run). */
    public int[] tokens(Split split) {
        return switch (split) {
            case TRAIN -> Arrays.copyOfRange(tokens, 0, trainEnd);
            case VAL -> Arrays.copyOfRange(tokens, trainEnd, tokens.length);
            case ALL -> tokens.clone();
        };
    }
}
