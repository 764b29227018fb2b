package leviathan.data;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.BitSet;
import java.util.HexFormat;
import java.util.function.Consumer;
import leviathan.tensor.AtomicFile;

/**
 * Prepares token files from UTF-8 texts of any size, and finds or makes the one a run needs.
 *
 * <p>{@link #prepare} streams the text twice through a 1 MiB buffer, never holding it: pass 1
 * finds the vocabulary (the sorted distinct code points, LEVIATHAN.md "Tokenizer"), counts the
 * characters and hashes the bytes (sha256); pass 2 writes the ids. The result goes to a temporary
 * name, is forced to disk, and is renamed into place only if the source did not change in between
 * (size and mtime), so a reader sees a whole preparation or none.
 *
 * <p>{@link #openOrPrepare} is what {@code train}, {@code eval} and library users call: a token
 * file is opened as it is; a text is looked up in the cache ({@code leviathan.tokens.dir}, default
 * {@code $XDG_CACHE_HOME/leviathan/tokens} or {@code ~/.cache/leviathan/tokens}) and prepared on
 * first use, or again when its size or mtime changed since.
 */
public final class TokenFiles {
    private TokenFiles() {}

    /** How far a preparation is: {@code done} of {@code total} bytes in pass {@code pass} (1 or 2). */
    @FunctionalInterface
    public interface Progress {
        Progress NONE = (pass, done, total) -> { };

        void update(int pass, long done, long total);
    }

    /** The cache directory for prepared texts. */
    public static Path cacheDir() {
        String p = System.getProperty("leviathan.tokens.dir");
        if (p != null && !p.isBlank()) return Path.of(p);
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("leviathan").resolve("tokens");
    }

    /**
     * The cache file of {@code text} tokenized with {@code vocab} (null: the text's own vocabulary):
     * the file name plus a hash of its absolute path and the vocabulary choice.
     */
    public static Path cachePath(Path text, CharTokenizer vocab, boolean dropUnknown) {
        String key = text.toAbsolutePath().normalize() + "\n" + (vocab == null ? "own" : "vocab " + vocab.vocab() + " drop " + dropUnknown);
        return cacheDir().resolve(text.getFileName() + "-" + sha256(key).substring(0, 16) + ".tokens");
    }

    /** {@link #openOrPrepare(Path, CharTokenizer, boolean, Consumer)} with the text's own vocabulary. */
    public static TokenFile openOrPrepare(Path text, Consumer<String> log) throws IOException {
        return openOrPrepare(text, null, false, log);
    }

    /**
     * The tokens of {@code data}: a token file is opened (refused if its source still exists and
     * changed since preparation); a text is taken from the cache when it was prepared from the
     * same size and mtime, else prepared into the cache (a progress line on a terminal, lines on
     * {@code log} otherwise). With {@code vocab} (a resumed or fine-tuned model's vocabulary) the
     * ids are that vocabulary's, and a character outside it is an error naming it and its
     * position, or is dropped with {@code dropUnknown}.
     */
    public static TokenFile openOrPrepare(Path data, CharTokenizer vocab, boolean dropUnknown, Consumer<String> log) throws IOException {
        // a .tokens file whose magic is damaged is refused as one, not read as text
        if (TokenFile.claimsTokenFile(data)) {
            TokenFile tf = TokenFile.open(data);
            try {
                String changed = sourceChange(tf.source());
                if (changed != null) {
                    throw new TokenFile.TokenFileException(data, "its source " + tf.source().path() + " " + changed
                            + " since preparation; prepare it again: leviathan prepare --data " + tf.source().path());
                }
                return tf;
            } catch (IOException | RuntimeException e) {
                tf.close();
                throw e;
            }
        }
        if (vocab != null) {                               // a model of this text has the text's own vocabulary
            TokenFile own = cached(data, cachePath(data, null, false), log);
            if (own != null && own.vocabulary().vocab().equals(vocab.vocab())) return own;
            if (own != null) own.close();
        }
        Path cache = cachePath(data, vocab, dropUnknown);
        TokenFile tf = cached(data, cache, log);
        if (tf != null) return tf;
        Files.createDirectories(cache.getParent());
        boolean tty = System.console() != null;
        log.accept("tokens: preparing " + data + " into " + cache);
        long t0 = System.nanoTime();
        TokenFile.Header h = prepare(data, cache, vocab, dropUnknown, tty ? new ProgressLine(System.err) : ProgressLine.plain(log));
        log.accept(String.format("tokens: %,d characters, vocabulary %d, %s, in %.1f s", h.count(), h.vocabulary().vocabSize(),
                h.bytesPerToken() == 1 ? "uint8" : "uint16", (System.nanoTime() - t0) / 1e9));
        return TokenFile.open(cache);
    }

    /** The cached preparation of {@code text} if it is whole and its source unchanged, else null (and says why). */
    private static TokenFile cached(Path text, Path cache, Consumer<String> log) throws IOException {
        if (!Files.isRegularFile(cache)) return null;
        TokenFile tf;
        try {
            tf = TokenFile.open(cache);
        } catch (TokenFile.TokenFileException e) {
            log.accept("tokens: " + e.getMessage() + " (preparing again)");
            return null;
        }
        Path src = Path.of(tf.source().path());
        boolean same = Files.isRegularFile(text) && src.equals(text.toAbsolutePath().normalize())
                && Files.size(text) == tf.source().size() && Files.getLastModifiedTime(text).toMillis() == tf.source().mtimeMillis();
        if (same) {
            log.accept("tokens: " + cache + " (prepared from " + text + ", unchanged since)");
            return tf;
        }
        tf.close();
        log.accept("tokens: " + text + " changed since it was prepared into " + cache + " (preparing again)");
        return null;
    }

    /** Null when the source at its recorded path is absent or unchanged (size, mtime), else what changed. */
    static String sourceChange(TokenFile.Source s) throws IOException {
        Path p = Path.of(s.path());
        if (!Files.isRegularFile(p)) return null;        // moved away: the token file stands on its own
        long size = Files.size(p), mtime = Files.getLastModifiedTime(p).toMillis();
        if (size != s.size()) return "has " + size + " bytes, not " + s.size() + ",";
        if (mtime != s.mtimeMillis()) return "was modified";
        return null;
    }

    /**
     * Prepares {@code text} into the token file {@code out} (see {@link TokenFile} for the layout)
     * and returns its header. {@code vocab} null: the text's own vocabulary; else that vocabulary,
     * a character outside it being an error ({@link CharTokenizer.UnknownCharacterException}) or,
     * with {@code dropUnknown}, skipped (the split is then of the characters kept, as in
     * {@code TextDataset}).
     */
    public static TokenFile.Header prepare(Path text, Path out, CharTokenizer vocab, boolean dropUnknown, Progress progress) throws IOException {
        if (!Files.isRegularFile(text)) throw new IOException("no such file: " + text);
        if (!Files.isReadable(text)) throw new IOException("cannot read " + text + " (permission denied)");
        long size = Files.size(text), mtime = Files.getLastModifiedTime(text).toMillis();

        // pass 1: vocabulary, character count, sha256
        MessageDigest sha = sha256();
        BitSet seen = new BitSet();
        long count = 0;
        try (Utf8Stream in = new Utf8Stream(text, sha)) {
            long line = 1, lineStart = 0, pos = 0;
            for (int cp; (cp = in.next()) >= 0; pos++) {
                if (vocab == null) {
                    seen.set(cp);
                    count++;
                } else if (vocab.tokenOf(cp) >= 0) {
                    count++;
                } else if (!dropUnknown) {
                    throw unknown(text, cp, pos, line, pos - lineStart + 1);
                }
                if (cp == '\n') {
                    line++;
                    lineStart = pos + 1;
                }
                if ((pos & 0xFFFFF) == 0) progress.update(1, in.bytePosition(), size);
            }
            progress.update(1, size, size);
        }
        if (vocab == null) {
            if (count == 0) throw new IOException("cannot build a vocabulary from empty text: " + text + " has no characters");
            int[] cps = seen.stream().toArray();
            vocab = CharTokenizer.fromVocab(new String(cps, 0, cps.length));
        }
        if (vocab.vocabSize() > 1 << 16) {
            throw new IOException(text + " has " + vocab.vocabSize() + " distinct characters; a token file holds at most 65,536");
        }
        int bytes = vocab.vocabSize() <= 256 ? 1 : 2;
        TokenFile.Source source = new TokenFile.Source(text.toAbsolutePath().normalize().toString(), size, mtime,
                HexFormat.of().formatHex(sha.digest()));

        // pass 2: the ids, after the header, into a temporary file
        byte[] header = TokenFile.headerText(bytes, count, vocab, dropUnknown, source).getBytes(StandardCharsets.UTF_8);
        long dataOffset = TokenFile.dataOffset(header.length);
        // temp files of preparations killed earlier (in --out's directory or the cache) go first: they can be as large as the text
        Path outDir = out.toAbsolutePath().getParent();
        CharTokenizer ids = vocab;
        long total = count;
        AtomicFile.deleteStaleTemps(outDir, name -> name.endsWith(".tokens") || name.equals(out.getFileName().toString()));
        try {
            AtomicFile.write(out, ch -> {
                try (Utf8Stream in = new Utf8Stream(text, null)) {
                    ByteBuffer b = ByteBuffer.allocate((int) Math.max(1 << 20, dataOffset)).order(ByteOrder.LITTLE_ENDIAN);
                    b.put(TokenFile.MAGIC).putLong(header.length).put(header);
                    while (b.position() < dataOffset) b.put((byte) 0);
                    int[] table = lookup(ids);
                    long written = 0;
                    for (int cp; (cp = in.next()) >= 0; ) {
                        int id = cp < table.length ? table[cp] : -1;
                        if (id < 0) continue;                       // dropped (pass 1 refused it otherwise)
                        if (bytes == 1) b.put((byte) id);
                        else b.putShort((short) id);
                        written++;
                        if (!b.hasRemaining()) {
                            drain(ch, b);
                            progress.update(2, in.bytePosition(), size);
                        }
                    }
                    drain(ch, b);
                    progress.update(2, size, size);
                    if (written != total) {
                        throw new SourceChanged(text + " changed while it was being prepared (" + written + " characters, then " + total + ")");
                    }
                }
                if (Files.size(text) != size || Files.getLastModifiedTime(text).toMillis() != mtime) {
                    throw new SourceChanged(text + " changed while it was being prepared; prepare it again when it is complete");
                }
            });
        } catch (SourceChanged | AtomicFile.OddEntryException e) {
            throw e;
        } catch (IOException e) {
            String why = e instanceof java.nio.file.FileSystemException f && f.getReason() != null ? f.getReason()
                    : e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
            throw new IOException("cannot write the token file " + out + " (" + why + "); nothing was replaced: free space in "
                    + outDir + ", or prepare into another directory (prepare --out, or -Dleviathan.tokens.dir for the cache)", e);
        }
        return TokenFile.readHeader(out);
    }

    /** The text changed during its preparation (not a write failure: said as it is). */
    private static final class SourceChanged extends IOException {
        private static final long serialVersionUID = 1L;

        SourceChanged(String message) { super(message); }
    }

    /** {@link CharTokenizer.UnknownCharacterException} where its int fields hold the position, else the same line. */
    private static RuntimeException unknown(Path text, int cp, long pos, long line, long column) {
        if (pos <= Integer.MAX_VALUE) return new CharTokenizer.UnknownCharacterException(cp, (int) pos, (int) line, (int) column);
        return new IllegalArgumentException("character " + CharTokenizer.describe(cp) + " at position " + pos + " (line " + line
                + ", column " + column + ") of " + text + " is not in the model's vocabulary; remove it, or pass --drop-unknown to skip such characters");
    }

    /** Code point → id for every code point up to the vocabulary's largest; -1 for the others. */
    private static int[] lookup(CharTokenizer vocab) {
        int[] t = new int[vocab.codePointOf(vocab.vocabSize() - 1) + 1];
        java.util.Arrays.fill(t, -1);
        for (int i = 0; i < vocab.vocabSize(); i++) t[vocab.codePointOf(i)] = i;
        return t;
    }

    private static void drain(FileChannel ch, ByteBuffer b) throws IOException {
        b.flip();
        while (b.hasRemaining()) ch.write(b);
        b.clear();
    }

    private static MessageDigest sha256() {
        try {
            return MessageDigest.getInstance("SHA-256");
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static String sha256(String s) {
        return HexFormat.of().formatHex(sha256().digest(s.getBytes(StandardCharsets.UTF_8)));
    }

    /**
     * Progress of a preparation: one line rewritten in place on a terminal, or (see
     * {@link #plain}) one line per pass where output is not a terminal.
     */
    public static final class ProgressLine implements Progress {
        private final PrintStream out;
        private long lastNanos;

        public ProgressLine(PrintStream out) { this.out = out; }

        /** Plain lines on {@code log}: the end of each pass. */
        public static Progress plain(Consumer<String> log) {
            return (pass, done, total) -> {
                if (done == total) log.accept(String.format("tokens: pass %d/2 (%s) done, %,d bytes", pass, pass == 1 ? "vocabulary" : "ids", total));
            };
        }

        @Override
        public void update(int pass, long done, long total) {
            long now = System.nanoTime();
            if (done != total && now - lastNanos < 200_000_000L) return;
            lastNanos = now;
            out.printf("\r\033[Ktokens: pass %d/2 (%s) %,d / %,d MiB (%.0f%%)", pass, pass == 1 ? "vocabulary" : "ids",
                    done >> 20, total >> 20, total == 0 ? 100.0 : 100.0 * done / total);
            if (done == total) out.println();
            out.flush();
        }
    }
}
