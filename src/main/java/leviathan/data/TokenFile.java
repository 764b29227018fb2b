package leviathan.data;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * A prepared corpus: the token ids of a whole text as one flat little-endian {@code uint8}
 * (vocabulary of at most 256 characters) or {@code uint16} (at most 65,536) array, memory-mapped
 * with the FFM API so that no part of it is copied onto the heap and every offset is a
 * {@code long}. Written by {@link TokenFiles#prepare}; {@link #open} validates it.
 *
 * <p>Layout: the 8 magic bytes {@code LVTOKEN1}, the header length {@code H} as a little-endian
 * int64, {@code H} bytes of UTF-8 {@code key=value} lines, zero padding up to the next multiple of
 * 64, then {@code count} tokens. Header keys: {@code dtype} ({@code uint8|uint16}), {@code count}
 * (tokens, i.e. characters kept), {@code train_end} ({@code floor(0.9·count)}, LEVIATHAN.md
 * "Data"), {@code vocab} (the code points in token order, comma-separated decimals),
 * {@code drop_unknown}, and the source's {@code source_path}, {@code source_size},
 * {@code source_mtime_ms} and {@code source_sha256}.
 */
public final class TokenFile implements AutoCloseable {
    static final byte[] MAGIC = "LVTOKEN1".getBytes(StandardCharsets.US_ASCII);
    static final int PREAMBLE = 16;                      // magic + header length
    static final int MAX_HEADER = 1 << 24;               // a vocabulary of 65,536 code points needs < 512 KiB
    private static final ValueLayout.OfShort U16 = ValueLayout.JAVA_SHORT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** Where the tokens came from: enough to tell whether the text changed since preparation. */
    public record Source(String path, long size, long mtimeMillis, String sha256) {}

    private final Path file;
    private final Arena arena;
    private final MemorySegment data;                    // the tokens, count × bytesPerToken
    private final int bytesPerToken;
    private final long count, trainEnd;
    private final CharTokenizer vocabulary;
    private final boolean dropUnknown;
    private final Source source;

    private TokenFile(Path file, Arena arena, MemorySegment data, int bytesPerToken, long count, long trainEnd,
                      CharTokenizer vocabulary, boolean dropUnknown, Source source) {
        this.file = file;
        this.arena = arena;
        this.data = data;
        this.bytesPerToken = bytesPerToken;
        this.count = count;
        this.trainEnd = trainEnd;
        this.vocabulary = vocabulary;
        this.dropUnknown = dropUnknown;
        this.source = source;
    }

    /** A token file's header, read and checked without mapping the tokens. */
    public record Header(Path file, int bytesPerToken, long count, long trainEnd, CharTokenizer vocabulary,
                         boolean dropUnknown, Source source, long dataOffset) {
        /** Bytes the whole file must have. */
        public long fileSize() { return dataOffset + count * bytesPerToken; }
    }

    /** The split point of {@code n} characters: the first {@code floor(0.9·n)} train (as {@link TextDataset}). */
    public static long trainEnd(long n) { return (long) Math.floor(0.9 * n); }

    /** Offset of the tokens after a header of {@code headerBytes}: the preamble and the header, rounded up to 64. */
    static long dataOffset(long headerBytes) { return (PREAMBLE + headerBytes + 63) & ~63L; }

    /** True when {@code f} starts with the token file magic (a regular file that can be read). */
    public static boolean isTokenFile(Path f) {
        if (!Files.isRegularFile(f)) return false;
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
            ByteBuffer b = ByteBuffer.allocate(MAGIC.length);
            while (b.hasRemaining() && ch.read(b) > 0) { }
            return !b.hasRemaining() && Arrays.equals(b.array(), MAGIC);
        } catch (IOException e) {
            return false;
        }
    }

    /**
     * True when {@code f} is to be read as a token file: it starts with the magic, or its name ends
     * in {@code .tokens} (then a damaged magic is refused as a token file's damage, never read as text).
     */
    public static boolean claimsTokenFile(Path f) {
        return isTokenFile(f) || (Files.isRegularFile(f) && f.getFileName().toString().endsWith(".tokens"));
    }

    /** Reads and validates the header: magic, keys, vocabulary, split point and the file's length. */
    public static Header readHeader(Path f) throws IOException {
        if (!Files.isRegularFile(f)) throw new TokenFileException(f, "no such file");
        long size = Files.size(f);
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
            ByteBuffer pre = ByteBuffer.allocate(PREAMBLE).order(ByteOrder.LITTLE_ENDIAN);
            while (pre.hasRemaining() && ch.read(pre) > 0) { }
            if (pre.hasRemaining() || !Arrays.equals(Arrays.copyOf(pre.array(), MAGIC.length), MAGIC)) {
                throw new TokenFileException(f, "not a token file (no LVTOKEN1 header); prepare one with: leviathan prepare --data TEXT");
            }
            long h = pre.getLong(MAGIC.length);
            if (h < 1 || h > MAX_HEADER || PREAMBLE + h > size) {
                throw new TokenFileException(f, "header length " + h + " is impossible for a file of " + size
                        + " bytes (truncated or damaged); prepare it again");
            }
            ByteBuffer hb = ByteBuffer.allocate((int) h);
            while (hb.hasRemaining() && ch.read(hb) > 0) { }
            Map<String, String> kv = parse(f, new String(hb.array(), StandardCharsets.UTF_8));
            Header header = header(f, kv, dataOffset(h));
            if (size != header.fileSize()) {
                throw new TokenFileException(f, (size < header.fileSize() ? "truncated" : "longer than its header says")
                        + ": " + size + " bytes, expected " + header.fileSize() + " for " + header.count() + " tokens of "
                        + header.bytesPerToken() + " byte(s); prepare it again");
            }
            return header;
        }
    }

    /** Opens and maps a token file after {@link #readHeader validating} it. */
    public static TokenFile open(Path f) throws IOException {
        Header h = readHeader(f);
        Arena arena = Arena.ofShared();
        try (FileChannel ch = FileChannel.open(f, StandardOpenOption.READ)) {
            MemorySegment all = ch.map(FileChannel.MapMode.READ_ONLY, 0, h.fileSize(), arena);
            MemorySegment data = all.asSlice(h.dataOffset(), h.count() * h.bytesPerToken());
            return new TokenFile(f, arena, data, h.bytesPerToken(), h.count(), h.trainEnd(), h.vocabulary(),
                    h.dropUnknown(), h.source());
        } catch (IOException | RuntimeException e) {
            arena.close();
            throw e;
        }
    }

    private static Map<String, String> parse(Path f, String text) throws TokenFileException {
        Map<String, String> kv = new LinkedHashMap<>();
        for (String line : text.split("\n")) {
            if (line.isEmpty()) continue;
            int eq = line.indexOf('=');
            if (eq <= 0) throw new TokenFileException(f, "header line '" + clip(line) + "' is not key=value (damaged); prepare it again");
            kv.put(line.substring(0, eq), line.substring(eq + 1));
        }
        return kv;
    }

    private static Header header(Path f, Map<String, String> kv, long dataOffset) throws TokenFileException {
        String dtype = need(f, kv, "dtype");
        int bytes = switch (dtype) {
            case "uint8" -> 1;
            case "uint16" -> 2;
            default -> throw new TokenFileException(f, "dtype '" + clip(dtype) + "' is not uint8 or uint16");
        };
        long count = number(f, kv, "count"), trainEnd = number(f, kv, "train_end");
        if (trainEnd != trainEnd(count)) {
            throw new TokenFileException(f, "train_end " + trainEnd + " is not floor(0.9 x " + count + ") = " + trainEnd(count));
        }
        CharTokenizer vocab;
        try {
            String[] parts = need(f, kv, "vocab").split(",");
            int[] cps = new int[parts.length];
            for (int i = 0; i < parts.length; i++) {
                cps[i] = Integer.parseInt(parts[i]);
                if (cps[i] < 0 || cps[i] > Character.MAX_CODE_POINT) throw new NumberFormatException("code point " + cps[i]);
            }
            vocab = CharTokenizer.fromVocab(new String(cps, 0, cps.length));
        } catch (IllegalArgumentException e) {
            throw new TokenFileException(f, "vocab is not a list of sorted distinct code points (" + e.getMessage() + ")");
        }
        if (vocab.vocabSize() > (1 << (8 * bytes))) {
            throw new TokenFileException(f, "vocabulary of " + vocab.vocabSize() + " characters does not fit " + dtype);
        }
        if (count > (Long.MAX_VALUE - dataOffset) / bytes) throw new TokenFileException(f, "count " + count + " is impossible");
        Source source = new Source(need(f, kv, "source_path"), number(f, kv, "source_size"), number(f, kv, "source_mtime_ms"),
                need(f, kv, "source_sha256"));
        String drop = need(f, kv, "drop_unknown");
        if (!drop.equals("true") && !drop.equals("false")) throw new TokenFileException(f, "drop_unknown must be true or false");
        return new Header(f, bytes, count, trainEnd, vocab, drop.equals("true"), source, dataOffset);
    }

    private static String need(Path f, Map<String, String> kv, String key) throws TokenFileException {
        String v = kv.get(key);
        if (v == null) throw new TokenFileException(f, "header has no '" + key + "' (damaged or another format); prepare it again");
        return v;
    }

    private static long number(Path f, Map<String, String> kv, String key) throws TokenFileException {
        String v = need(f, kv, key);
        try {
            long n = Long.parseLong(v);
            if (n >= 0) return n;
        } catch (NumberFormatException e) {
            // reported below
        }
        throw new TokenFileException(f, "header '" + key + "' must be a non-negative integer, got '" + clip(v) + "'");
    }

    private static String clip(String s) {
        return (s.length() > 40 ? s.substring(0, 40) + "..." : s).replaceAll("\\p{Cntrl}", "?");
    }

    /** The header lines of a token file (the inverse of {@link #readHeader}'s parser). */
    static String headerText(int bytesPerToken, long count, CharTokenizer vocab, boolean dropUnknown, Source source) {
        StringBuilder sb = new StringBuilder();
        sb.append("dtype=").append(bytesPerToken == 1 ? "uint8" : "uint16").append('\n');
        sb.append("count=").append(count).append('\n');
        sb.append("train_end=").append(trainEnd(count)).append('\n');
        sb.append("vocab=");
        for (int t = 0; t < vocab.vocabSize(); t++) sb.append(t == 0 ? "" : ",").append(vocab.codePointOf(t));
        sb.append('\n');
        sb.append("drop_unknown=").append(dropUnknown).append('\n');
        sb.append("source_path=").append(source.path().replace("\n", "?").replace("\r", "?")).append('\n');
        sb.append("source_size=").append(source.size()).append('\n');
        sb.append("source_mtime_ms=").append(source.mtimeMillis()).append('\n');
        sb.append("source_sha256=").append(source.sha256()).append('\n');
        return sb.toString();
    }

    /** The file this was mapped from. */
    public Path path() { return file; }

    /** Number of tokens (characters kept from the source). */
    public long size() { return count; }

    /** Tokens of the train split: {@code [0, trainEnd)}. */
    public long trainEnd() { return trainEnd; }

    /** Bytes per token: 1 ({@code uint8}) or 2 ({@code uint16}). */
    public int bytesPerToken() { return bytesPerToken; }

    /** The vocabulary the ids index. */
    public CharTokenizer vocabulary() { return vocabulary; }

    /** Whether characters outside a given vocabulary were dropped at preparation. */
    public boolean dropUnknown() { return dropUnknown; }

    /** The text the tokens were prepared from. */
    public Source source() { return source; }

    /** The token at {@code i} in {@code [0, size())}. */
    public int token(long i) {
        int id = bytesPerToken == 1 ? data.get(ValueLayout.JAVA_BYTE, i) & 0xFF : data.get(U16, 2 * i) & 0xFFFF;
        if (id >= vocabulary.vocabSize()) throw damaged(i, id);
        return id;
    }

    /**
     * An id at or beyond the vocabulary's size (a damaged or hand-made file), found where it is read:
     * every reader indexes embeddings by id. Checked per read rather than by a scan at open, which
     * would read the whole file (gigabytes for a large corpus) before the first step.
     */
    private IllegalStateException damaged(long i, int id) {
        int v = vocabulary.vocabSize();
        return new IllegalStateException(new TokenFileException(file, "token " + i + " has id " + id + ", but the vocabulary in its header has only "
                + v + " characters (ids 0 to " + (v - 1) + "): the file is damaged; prepare it again from its text").getMessage());
    }

    /** The tokens of a split, read from the mapping (no copy). */
    public Tokens tokens(TextDataset.Split split) {
        return switch (split) {
            case TRAIN -> new Mapped(0, trainEnd);
            case VAL -> new Mapped(trainEnd, count);
            case ALL -> new Mapped(0, count);
        };
    }

    /**
     * The tokens of a split as ids of {@code model}'s vocabulary, which must contain every
     * character of this file's vocabulary (a model trained on this text has exactly it).
     */
    public Tokens tokens(TextDataset.Split split, CharTokenizer model) throws TokenFileException {
        if (model.vocab().equals(vocabulary.vocab())) return tokens(split);
        int[] map = new int[vocabulary.vocabSize()];
        for (int t = 0; t < map.length; t++) {
            int cp = vocabulary.codePointOf(t);
            map[t] = model.tokenOf(cp);
            if (map[t] < 0) {
                throw new TokenFileException(file, "holds the character " + CharTokenizer.describe(cp)
                        + ", which is not in the model's vocabulary; prepare the text for this model instead (eval --data TEXT --drop-unknown)");
            }
        }
        Tokens raw = tokens(split);
        return new Tokens() {
            @Override public long length() { return raw.length(); }

            @Override public int get(long i) { return map[raw.get(i)]; }

            @Override public void release() { raw.release(); }
        };
    }

    /** A range of the mapped tokens. */
    private final class Mapped implements Tokens {
        private final long from, to;

        Mapped(long from, long to) {
            this.from = from;
            this.to = to;
        }

        @Override public long length() { return to - from; }

        @Override public int get(long i) { return token(from + i); }

        @Override public void release() { TokenFile.this.release(); }

        @Override public Tokens slice(long a, long b) {
            if (a < 0 || b < a || b > to - from) throw new IndexOutOfBoundsException("slice [" + a + ", " + b + ") of " + (to - from) + " tokens");
            return new Mapped(from + a, from + b);
        }
    }

    /**
     * Drops the mapped pages from the process's resident set ({@link MemorySegment#unload()}:
     * {@code madvise(MADV_DONTNEED)} on the mapping); reads afterwards fault them back in from the
     * page cache or the file.
     */
    public void release() { data.unload(); }

    /** Unmaps the file; the {@link Tokens} views must not be used afterwards. */
    @Override
    public void close() { arena.close(); }

    /** A token file is not usable: one line naming the file and the problem. */
    public static final class TokenFileException extends IOException {
        public TokenFileException(Path file, String message) { super("token file " + file + ": " + message); }
    }
}
