package leviathan.model;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.Map;
import leviathan.backend.JavaBackend;
import leviathan.data.CharTokenizer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

class CheckpointTest {
    static final CharTokenizer TOK = CharTokenizer.fromText("abcdefg\n ");

    static float[] logits(Gpt g) {
        try (Workspace ws = g.workspace(new JavaBackend(), 2, 5, false)) {
            for (int i = 0; i < 10; i++) ws.tokens().setAtIndex(ValueLayout.JAVA_INT, i, (i * 3) % g.config().vocabSize());
            g.forward(ws, 2, 5, false);
            return ws.logits().asSlice(0, 10L * g.config().vocabSize() * 4).toArray(ValueLayout.JAVA_FLOAT);
        }
    }

    @ParameterizedTest
    @ValueSource(strings = {"correlation", "dot"})
    void roundTripGivesBitIdenticalLogits(String a, @TempDir Path dir) throws IOException {
        GptConfig cfg = GptConfig.of(TOK.vocabSize(), 8, 2, 2, 16, a, 3);
        Path f = dir.resolve("m.safetensors");
        try (Gpt g = Gpt.init(cfg, 5)) {
            Checkpoint.save(f, g, TOK, Map.of("step", "12"));
            try (var loaded = Checkpoint.load(f)) {
                assertEquals(cfg, loaded.model().config());
                assertEquals(TOK.vocab(), loaded.tokenizer().vocab());
                assertEquals("12", loaded.metadata().get("step"));
                assertEquals("dot".equals(a) ? "1" : "3", loaded.metadata().get("lags"));
                assertArrayEquals(logits(g), logits(loaded.model()));
            }
        }
        try (var files = Files.list(dir)) {
            assertEquals(1, files.count(), "no temp files left behind");
        }
    }

    @Test
    void headerFollowsTheSpec(@TempDir Path dir) throws IOException {
        GptConfig cfg = GptConfig.of(TOK.vocabSize(), 8, 1, 2, 16, "correlation", 2);
        Path f = dir.resolve("m.safetensors");
        try (Gpt g = Gpt.init(cfg, 5)) {
            Checkpoint.save(f, g, TOK, null);
        }
        var h = SafeTensors.readHeader(f);
        assertEquals("leviathan-1", h.metadata().get("format"));
        assertEquals("correlation", h.metadata().get("attention"));
        assertEquals(TOK.vocab(), h.metadata().get("vocab"));
        assertArrayEquals(new long[] {48, 16}, h.entries().get("h.0.attn.c_attn.weight").shape());
        assertArrayEquals(new long[] {2, 2}, h.entries().get("h.0.attn.lag_bias").shape());
        assertEquals(0, h.dataStart() % 8);
        // little-endian float data: wte[0][0] read by hand equals the model's value
        byte[] all = Files.readAllBytes(f);
        var e = h.entries().get("wte");
        float first = ByteBuffer.wrap(all).order(ByteOrder.LITTLE_ENDIAN).getFloat((int) (h.dataStart() + e.begin()));
        try (var l = Checkpoint.load(f)) {
            assertEquals(l.model().params().get("wte").getFlat(0), first);
        }
    }

    /** Writes a file with the given header JSON and {@code dataBytes} zero bytes of data. */
    static Path raw(Path dir, String header, int dataBytes) throws IOException {
        byte[] h = header.getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + dataBytes).order(ByteOrder.LITTLE_ENDIAN);
        b.putLong(h.length).put(h);
        Path f = dir.resolve("bad.safetensors");
        Files.write(f, b.array());
        return f;
    }

    static void assertRefused(Path f, String fragment) {
        var e = assertThrows(CheckpointException.class, () -> Checkpoint.load(f));
        assertTrue(e.getMessage().startsWith(f.toString()), e.getMessage());
        assertTrue(e.getMessage().contains(fragment), "expected '" + fragment + "' in: " + e.getMessage());
    }

    @Test
    void malformedFilesGetOneClearError(@TempDir Path dir) throws IOException {
        assertRefused(dir.resolve("missing.safetensors"), "no such file");
        Files.write(dir.resolve("short"), new byte[] {1, 2, 3});
        assertRefused(dir.resolve("short"), "too short");
        assertRefused(raw(dir, "{}", 0).resolveSibling("bad.safetensors"), "format");
        Path f = raw(dir, "{\"__metadata__\":{\"format\":\"other\"}}", 0);
        assertRefused(f, "format 'other'");
        assertRefused(raw(dir, "{\"a\": [1,2", 0), "not valid JSON");
        assertRefused(raw(dir, "{\"w\":{\"dtype\":\"F16\",\"shape\":[2],\"data_offsets\":[0,4]}}", 4), "dtype F16");
        assertRefused(raw(dir, "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4), "outside");
        assertRefused(raw(dir, "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8), "bytes for 3 floats");
        assertRefused(raw(dir, "{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                + "\"b\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}", 12), "overlap");
        assertRefused(raw(dir, "[".repeat(100) + "]".repeat(100), 0), "nested deeper");
        // a header length larger than the file
        ByteBuffer b = ByteBuffer.allocate(16).order(ByteOrder.LITTLE_ENDIAN).putLong(1L << 40).putLong(0);
        Files.write(dir.resolve("huge"), b.array());
        assertRefused(dir.resolve("huge"), "does not fit");
    }

    @Test
    void configAndShapesAreCheckedBeforeAllocating(@TempDir Path dir) throws IOException {
        GptConfig cfg = GptConfig.of(TOK.vocabSize(), 8, 1, 2, 16, "correlation", 2);
        Path good = dir.resolve("m.safetensors");
        try (Gpt g = Gpt.init(cfg, 5)) {
            Checkpoint.save(good, g, TOK, null);
            // metadata claims an enormous model: refused by shape comparison, nothing allocated
            Path huge = dir.resolve("huge.safetensors");
            SafeTensors.write(huge, Map.of("format", "leviathan-1", "attention", "correlation", "n_layer", "1", "n_head", "2",
                    "n_embd", "40000", "block_size", "8", "lags", "2", "vocab", TOK.vocab()), g.params().tensors().values());
            assertRefused(huge, "has shape");
            Path badVocab = dir.resolve("v.safetensors");
            SafeTensors.write(badVocab, Map.of("format", "leviathan-1", "attention", "correlation", "n_layer", "1", "n_head", "2",
                    "n_embd", "16", "block_size", "8", "lags", "2", "vocab", "ba"), g.params().tensors().values());
            assertRefused(badVocab, "vocabulary");
            Path badConfig = dir.resolve("c.safetensors");
            SafeTensors.write(badConfig, Map.of("format", "leviathan-1", "attention", "correlation", "n_layer", "1", "n_head", "3",
                    "n_embd", "16", "block_size", "8", "lags", "2", "vocab", TOK.vocab()), g.params().tensors().values());
            assertRefused(badConfig, "not divisible");
            Path missing = dir.resolve("x.safetensors");
            var some = g.params().tensors().values().stream().filter(t -> !t.name().equals("wpe")).toList();
            SafeTensors.write(missing, Checkpoint.metadata(cfg, TOK, null), some);
            assertRefused(missing, "'wpe' is missing");
        }
    }

    @Test
    void truncatedFilesAreRefused(@TempDir Path dir) throws IOException {
        GptConfig cfg = GptConfig.of(TOK.vocabSize(), 8, 1, 2, 16, "dot", 1);
        Path f = dir.resolve("m.safetensors");
        try (Gpt g = Gpt.init(cfg, 5)) {
            Checkpoint.save(f, g, TOK, null);
        }
        byte[] all = Files.readAllBytes(f);
        for (int cut : new int[] {4, 20, all.length / 2, all.length - 1}) {
            Path t = dir.resolve("t" + cut);
            Files.write(t, Arrays.copyOf(all, cut));
            assertThrows(CheckpointException.class, () -> Checkpoint.load(t), "cut at " + cut);
        }
    }
}
