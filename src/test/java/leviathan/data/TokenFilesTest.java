package leviathan.data;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.RandomAccessFile;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import leviathan.testing.TestData;
import leviathan.train.BatchSampler;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TokenFilesTest {
    static final Path SHAKESPEARE = Path.of("../shared/data/tinyshakespeare.txt");

    /** The text of the spec's dataset when present, else a generated one of similar character mix. */
    static Path corpus(Path dir) throws IOException {
        return Files.isRegularFile(SHAKESPEARE) ? SHAKESPEARE : TestData.writeText(dir, TestData.text(200_000, 7));
    }

    @Test
    void preparedTokensEqualTheInMemoryEncoding(@TempDir Path dir) throws IOException {
        Path text = corpus(dir);
        Path out = dir.resolve("c.tokens");
        TokenFile.Header h = TokenFiles.prepare(text, out, null, false, TokenFiles.Progress.NONE);
        String s = TextDataset.readUtf8(text);
        CharTokenizer tok = CharTokenizer.fromText(s);
        int[] ids = tok.encode(s);
        TextDataset ds = new TextDataset("c", ids);
        try (TokenFile tf = TokenFile.open(out)) {
            assertEquals(1, tf.bytesPerToken());
            assertEquals(tok.vocab(), tf.vocabulary().vocab());
            assertEquals(ids.length, tf.size());
            assertEquals(h.count(), tf.size());
            assertEquals(Datasets.sha256(text), tf.source().sha256());
            assertEquals(Files.size(text), tf.source().size());
            for (TextDataset.Split split : TextDataset.Split.values()) {
                int[] want = ds.tokens(split);
                Tokens got = tf.tokens(split);
                assertEquals(want.length, got.length(), split.name());
                for (int i = 0; i < want.length; i++) {
                    if (want[i] != got.get(i)) throw new AssertionError(split + " token " + i + ": " + got.get(i) + " vs " + want[i]);
                }
            }
        }
    }

    @Test
    void batchesFromTheMappedFileEqualTheTrainersBatches(@TempDir Path dir) throws IOException {
        Path text = corpus(dir);
        Path out = dir.resolve("c.tokens");
        TokenFiles.prepare(text, out, null, false, TokenFiles.Progress.NONE);
        String s = TextDataset.readUtf8(text);
        int[] train = new TextDataset("c", CharTokenizer.fromText(s).encode(s)).tokens(TextDataset.Split.TRAIN);
        int B = 4, T = 64;
        try (TokenFile tf = TokenFile.open(out); Arena arena = Arena.ofConfined()) {
            MemorySegment in1 = arena.allocate(4L * B * T), tg1 = arena.allocate(4L * B * T);
            MemorySegment in2 = arena.allocate(4L * B * T), tg2 = arena.allocate(4L * B * T);
            BatchSampler old = new BatchSampler(train, 1337);
            TokenBatchSampler mapped = new TokenBatchSampler(tf.tokens(TextDataset.Split.TRAIN), 1337, tf.vocabulary().vocabSize());
            for (int step : new int[] {0, 1, 2, 499, 5000}) {
                for (int micro = 0; micro < 2; micro++) {
                    old.fill(in1, tg1, B, T, step, micro);
                    mapped.fill(in2, tg2, B, T, step, micro);
                    assertArrayEquals(in1.toArray(ValueLayout.JAVA_INT), in2.toArray(ValueLayout.JAVA_INT), "inputs of step " + step);
                    assertArrayEquals(tg1.toArray(ValueLayout.JAVA_INT), tg2.toArray(ValueLayout.JAVA_INT), "targets of step " + step);
                }
            }
        }
    }

    @Test
    void aLargeVocabularyIsStoredAsUint16(@TempDir Path dir) throws IOException {
        StringBuilder sb = new StringBuilder();
        SplittableRandom r = new SplittableRandom(3);
        for (int i = 0; i < 5000; i++) {
            int cp = switch (r.nextInt(3)) {
                case 0 -> 'a' + r.nextInt(26);
                case 1 -> 0x4E00 + r.nextInt(400);              // CJK: beyond 256 distinct characters
                default -> 0x1F600 + r.nextInt(50);             // outside the BMP: surrogate pairs in Java
            };
            sb.appendCodePoint(cp);
        }
        Path text = dir.resolve("u.txt");
        Files.writeString(text, sb, StandardCharsets.UTF_8);
        Path out = dir.resolve("u.tokens");
        TokenFiles.prepare(text, out, null, false, TokenFiles.Progress.NONE);
        CharTokenizer tok = CharTokenizer.fromText(sb.toString());
        int[] ids = tok.encode(sb.toString());
        try (TokenFile tf = TokenFile.open(out)) {
            assertTrue(tf.vocabulary().vocabSize() > 256);
            assertEquals(2, tf.bytesPerToken());
            assertEquals(tok.vocab(), tf.vocabulary().vocab());
            assertEquals(ids.length, tf.size());
            for (int i = 0; i < ids.length; i++) assertEquals(ids[i], tf.token(i), "token " + i);
            assertEquals(TokenFile.trainEnd(ids.length), tf.tokens(TextDataset.Split.TRAIN).length());
        }
    }

    @Test
    void aGivenVocabularyRefusesOrDropsUnknownCharacters(@TempDir Path dir) throws IOException {
        Path text = dir.resolve("t.txt");
        Files.writeString(text, "abc\nabXc\nab");
        CharTokenizer vocab = CharTokenizer.fromVocab("\nabc");
        var e = assertThrows(CharTokenizer.UnknownCharacterException.class,
                () -> TokenFiles.prepare(text, dir.resolve("t.tokens"), vocab, false, TokenFiles.Progress.NONE));
        assertEquals('X', e.codePoint);
        assertEquals(6, e.position);
        assertTrue(e.getMessage().contains("line 2, column 3"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("t.tokens")));
        TokenFiles.prepare(text, dir.resolve("t.tokens"), vocab, true, TokenFiles.Progress.NONE);
        try (TokenFile tf = TokenFile.open(dir.resolve("t.tokens"))) {
            int[] want = vocab.encode("abc\nabXc\nab", true);
            assertEquals(want.length, tf.size());
            for (int i = 0; i < want.length; i++) assertEquals(want[i], tf.token(i));
            assertTrue(tf.dropUnknown());
        }
    }

    @Test
    void malformedUtf8IsRefusedWithItsByteOffset(@TempDir Path dir) throws IOException {
        Path text = dir.resolve("bad.txt");
        byte[] b = "hello wörld".getBytes(StandardCharsets.UTF_8);
        b[8] = (byte) 0xFF;                                      // the second byte of 'ö' (bytes 7, 8)
        Files.write(text, b);
        var e = assertThrows(IOException.class, () -> TokenFiles.prepare(text, dir.resolve("b.tokens"), null, false, TokenFiles.Progress.NONE));
        assertTrue(e.getMessage().contains("not valid UTF-8 near byte 7"), e.getMessage());
        assertThrows(IOException.class, () -> TextDataset.readUtf8(text));
        for (byte[] bad : new byte[][] {{(byte) 0xC0, (byte) 0x80}, {(byte) 0xED, (byte) 0xA0, (byte) 0x80}, {'a', (byte) 0xE2, (byte) 0x82}}) {
            Files.write(text, bad);
            assertThrows(IOException.class, () -> TokenFiles.prepare(text, dir.resolve("b.tokens"), null, false, TokenFiles.Progress.NONE));
            assertThrows(IOException.class, () -> TextDataset.readUtf8(text), "the in-memory reader refuses it too");
        }
        assertFalse(Files.exists(dir.resolve("b.tokens")));
    }

    @Test
    void damagedTokenFilesAreRefusedInOneLine(@TempDir Path dir) throws IOException {
        Path text = TestData.writeText(dir, TestData.text(5000, 11));
        Path good = dir.resolve("g.tokens");
        TokenFiles.prepare(text, good, null, false, TokenFiles.Progress.NONE);
        byte[] all = Files.readAllBytes(good);

        Path cut = dir.resolve("cut.tokens");
        Files.write(cut, java.util.Arrays.copyOf(all, all.length - 10));
        assertRefused(cut, "truncated");
        Files.write(cut, java.util.Arrays.copyOf(all, 40));
        assertRefused(cut, "impossible");

        Path magic = dir.resolve("magic.tokens");
        byte[] m = all.clone();
        m[0] = 'X';
        Files.write(magic, m);
        assertRefused(magic, "not a token file");

        Path header = dir.resolve("header.tokens");
        String s = new String(all, StandardCharsets.ISO_8859_1).replace("dtype=uint8", "dtype=int99");
        Files.write(header, s.getBytes(StandardCharsets.ISO_8859_1));
        assertRefused(header, "dtype");
        s = new String(all, StandardCharsets.ISO_8859_1).replaceFirst("train_end=(\\d)", "train_end=9");
        Files.write(header, s.getBytes(StandardCharsets.ISO_8859_1));
        assertRefused(header, "train_end");

        // the source changed since preparation: an explicit token file is refused
        Files.setLastModifiedTime(text, FileTime.fromMillis(Files.getLastModifiedTime(text).toMillis() + 5000));
        var e = assertThrows(TokenFile.TokenFileException.class, () -> TokenFiles.openOrPrepare(good, s1 -> { }));
        assertTrue(e.getMessage().contains("was modified since preparation"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"));
    }

    static void assertRefused(Path f, String what) {
        var e = assertThrows(TokenFile.TokenFileException.class, () -> TokenFile.open(f));
        assertTrue(e.getMessage().contains(what), e.getMessage());
        assertTrue(e.getMessage().startsWith("token file " + f), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }

    @Test
    void theCacheIsReusedUntilTheSourceChanges(@TempDir Path dir) throws IOException {
        String old = System.getProperty("leviathan.tokens.dir");
        System.setProperty("leviathan.tokens.dir", dir.resolve("cache").toString());
        try {
            Path text = TestData.writeText(dir, TestData.text(5000, 12));
            List<String> log = new ArrayList<>();
            try (TokenFile a = TokenFiles.openOrPrepare(text, log::add)) {
                assertTrue(log.get(0).startsWith("tokens: preparing"), log.toString());
                assertEquals(TokenFiles.cachePath(text, null, false), a.path());
            }
            log.clear();
            try (TokenFile b = TokenFiles.openOrPrepare(text, log::add)) {
                assertTrue(log.get(0).contains("unchanged since"), log.toString());
                assertEquals(1, log.size());
            }
            // a resumed model with the text's own vocabulary reuses the same preparation
            log.clear();
            CharTokenizer own = CharTokenizer.fromText(Files.readString(text));
            try (TokenFile c = TokenFiles.openOrPrepare(text, own, false, log::add)) {
                assertEquals(TokenFiles.cachePath(text, null, false), c.path());
                assertEquals(1, log.size(), log.toString());
            }
            Files.writeString(text, TestData.text(6000, 13));
            Files.setLastModifiedTime(text, FileTime.fromMillis(Files.getLastModifiedTime(text).toMillis() + 2000));
            log.clear();
            try (TokenFile d = TokenFiles.openOrPrepare(text, log::add)) {
                assertTrue(log.get(0).contains("changed since it was prepared"), log.toString());
                assertEquals(6000, d.size());
            }
            // a torn cache file (e.g. edited by hand) is prepared again, not trusted
            Path cache = TokenFiles.cachePath(text, null, false);
            byte[] all = Files.readAllBytes(cache);
            Files.write(cache, java.util.Arrays.copyOf(all, all.length - 1));
            log.clear();
            try (TokenFile e = TokenFiles.openOrPrepare(text, log::add)) {
                assertTrue(log.get(0).contains("truncated"), log.toString());
                assertEquals(6000, e.size());
            }
            try (var files = Files.list(cache.getParent())) {
                assertTrue(files.noneMatch(f -> f.getFileName().toString().contains(".tmp-")), "no temporary file is left");
            }
        } finally {
            if (old == null) System.clearProperty("leviathan.tokens.dir");
            else System.setProperty("leviathan.tokens.dir", old);
        }
    }

    /**
     * Offsets past 2^31: a sparse file whose header promises 2^32 + 2^20 uint16 tokens (8 GiB of
     * holes that cost no disk), with a few tokens written beyond 2^31. Reading, slicing, the split
     * and the sampler's window starts all run on long offsets.
     */
    @Test
    void offsetsBeyondTwoToTheThirtyOneWork(@TempDir Path dir) throws IOException {
        long count = (1L << 32) + (1L << 20);
        CharTokenizer vocab = CharTokenizer.fromVocab(new String(new int[] {'a', 'b', 0x4E00}, 0, 3) + "\uD83D\uDE00");
        TokenFile.Source src = new TokenFile.Source(dir.resolve("gone.txt").toString(), 0, 0, "0".repeat(64));
        byte[] header = TokenFile.headerText(2, count, vocab, false, src).getBytes(StandardCharsets.UTF_8);
        long off = TokenFile.dataOffset(header.length);
        assertEquals(0, off % 64);
        Path f = dir.resolve("sparse.tokens");
        long far = (1L << 31) + 12345;
        try (RandomAccessFile raf = new RandomAccessFile(f.toFile(), "rw")) {
            raf.write(TokenFile.MAGIC);
            raf.write(java.nio.ByteBuffer.allocate(8).order(java.nio.ByteOrder.LITTLE_ENDIAN).putLong(header.length).array());
            raf.write(header);
            raf.setLength(off + 2 * count);
            raf.seek(off + 2 * far);
            raf.write(new byte[] {3, 0, 2, 0, 1, 0});                  // tokens 3, 2, 1 at far, far+1, far+2
        } catch (IOException e) {
            org.junit.jupiter.api.Assumptions.assumeTrue(false, "cannot make a sparse file here: " + e.getMessage());
        }
        try (TokenFile tf = TokenFile.open(f)) {
            assertEquals(count, tf.size());
            assertEquals(2, tf.bytesPerToken());
            assertEquals(3, tf.token(far));
            assertEquals(2, tf.token(far + 1));
            assertEquals(1, tf.token(far + 2));
            assertEquals(0, tf.token(count - 1));
            long trainEnd = (long) Math.floor(0.9 * count);
            Tokens train = tf.tokens(TextDataset.Split.TRAIN), val = tf.tokens(TextDataset.Split.VAL);
            assertEquals(trainEnd, train.length());
            assertEquals(count - trainEnd, val.length());
            assertEquals(3, train.get(far));
            Tokens window = train.slice(far - 1, far + 3);
            assertEquals(4, window.length());
            assertEquals(0, window.get(0));
            assertEquals(2, window.get(2));
            // the evaluator's windows: s = w·(T+1) in long arithmetic
            int T = 3;
            long w = far / (T + 1);
            assertEquals(far - far % (T + 1), w * (T + 1));
            assertTrue(w * (T + 1) > Integer.MAX_VALUE);
            assertEquals(count / (T + 1), leviathan.train.Evaluator.windows(count, T));
            // the sampler's starts past 2^31 come from nextLong and stay in [0, n - T)
            SplitMix rng = new SplitMix(TokenBatchSampler.streamSeed(1337, 7, 0));
            boolean beyond = false;
            for (int i = 0; i < 64; i++) {
                long s = TokenBatchSampler.start(rng, train.length(), 256);
                assertTrue(s >= 0 && s < train.length() - 256);
                beyond |= s > Integer.MAX_VALUE;
            }
            assertTrue(beyond, "some windows start beyond 2^31");
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment in = arena.allocate(4L * T), tg = arena.allocate(4L * T);
                TokenBatchSampler.copyWindow(train, far - 1, in, tg, 0, T, vocab.vocabSize() + 0);
                assertArrayEquals(new int[] {0, 3, 2}, in.toArray(ValueLayout.JAVA_INT));
                assertArrayEquals(new int[] {3, 2, 1}, tg.toArray(ValueLayout.JAVA_INT));
            }
        }
    }
}
