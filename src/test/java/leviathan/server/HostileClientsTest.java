package leviathan.server;

import static leviathan.server.CompletionServerTest.ENDLESS;
import static leviathan.server.CompletionServerTest.assertError;
import static leviathan.server.CompletionServerTest.awaitGauge;
import static leviathan.server.CompletionServerTest.get;
import static leviathan.server.CompletionServerTest.json;
import static leviathan.server.CompletionServerTest.post;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.OutputStream;
import java.net.InetSocketAddress;
import java.net.Socket;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.CopyOnWriteArrayList;
import leviathan.api.LanguageModel;
import leviathan.data.CharTokenizer;
import leviathan.model.Checkpoint;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 25, defects 3, 7, 8, 10 (server messages) and 11: a client that stops reading is
 * disconnected at the write deadline and its slot freed; {@code --max-tokens} caps the default;
 * the OpenAI streaming shape with {@code include_usage}; paths, numbers and keys said truly;
 * malformed HTTP answered in OpenAI's error shape;
 * SIGTERM during warm-up exits 0. Uses {@link CompletionServerTest}'s helpers.
 */
@Timeout(value = 60, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
public class HostileClientsTest {
    static final List<String> LOG = new CopyOnWriteArrayList<>();
    @TempDir static Path dir;
    static Path checkpoint;
    static LanguageModel lm;
    static CompletionServer server;

    @BeforeAll
    static void start() throws Exception {
        CharTokenizer tok = CharTokenizer.fromText(CompletionServerTest.TEXT);
        checkpoint = dir.resolve("tiny.safetensors");
        try (Gpt g = Gpt.init(GptConfig.of(tok.vocabSize(), 16, 2, 2, 16, "correlation", 3), 8)) {
            Checkpoint.save(checkpoint, g, tok, null);
        }
        lm = LanguageModel.load(checkpoint, new LanguageModel.Settings("java", 2, s -> { }));
        server = CompletionServer.start(lm, config(2, 4096, "tiny", Duration.ofSeconds(30)), LOG::add);
    }

    @AfterAll
    static void stop() {
        server.close();
        lm.close();
    }

    static CompletionServer.Config config(int slots, int maxTokens, String modelName, Duration writeTimeout) {
        return new CompletionServer.Config("127.0.0.1", 0, slots, 0, null, maxTokens, 64 * 1024, Duration.ofSeconds(60), 16, modelName,
                2, writeTimeout);
    }

    /** A client whose receive window is full: it sends a streaming request and never reads. */
    @Test
    void aClientThatStopsReadingIsClosedAtTheWriteDeadlineAndItsSlotFreed() throws Exception {
        String bigName = "m".repeat(4000);                      // every event carries the model id: 4 KB per character
        try (CompletionServer s = CompletionServer.start(lm, config(1, 1_000_000, bigName, Duration.ofSeconds(1)), LOG::add);
             Socket stalled = new Socket()) {
            stalled.setReceiveBufferSize(1024);
            stalled.connect(new InetSocketAddress("127.0.0.1", s.port()));
            byte[] b = ENDLESS.getBytes(StandardCharsets.UTF_8);
            OutputStream out = stalled.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Length: " + b.length + "\r\n\r\n").getBytes(StandardCharsets.US_ASCII));
            out.write(b);
            out.flush();
            long t0 = System.nanoTime();
            // the socket buffers fill within seconds; one second later the write is abandoned and the slot freed
            while (!get(s, "/metrics").body().contains("\nleviathan_write_timeouts_total 1\n")) {
                if (System.nanoTime() - t0 > 40_000_000_000L) fail("no write deadline within 40 s:\n" + get(s, "/metrics").body());
                Thread.sleep(50);
            }
            awaitGauge(s, "leviathan_slots_busy", 0);
            assertEquals(200, post(s, "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":2}").statusCode(), "the one slot serves again");
            assertTrue(LOG.stream().anyMatch(l -> l.contains("the write deadline): connection closed")), String.join("\n", LOG));
            // and the connection really is closed: what the socket buffers hold drains, then the stream ends
            stalled.setSoTimeout(10_000);
            java.io.InputStream in = stalled.getInputStream();
            byte[] buf = new byte[1 << 16];
            try {
                while (in.read(buf) >= 0) { }
            } catch (java.net.SocketException reset) {
                // closed with a reset: closed too (a read that times out instead fails the test)
            }
        }
    }

    @Test
    void theTokenCapAlsoCapsTheDefaultAndStreamingChunksCarryUsageNull() throws Exception {
        try (CompletionServer s = CompletionServer.start(lm, config(1, 5, "tiny", Duration.ofSeconds(30)), LOG::add)) {
            HttpResponse<String> r = post(s, "/v1/completions", "{\"prompt\":\"a\",\"temperature\":0}");
            assertEquals(200, r.statusCode(), r.body());
            @SuppressWarnings("unchecked")
            Map<String, Object> usage = (Map<String, Object>) json(r.body()).get("usage");
            assertEquals(5L, usage.get("completion_tokens"), "max_tokens omitted: min(16, --max-tokens)");

            String body = post(s, "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":3,\"stream\":true,\"stream_options\":{\"include_usage\":true}}").body();
            List<String> events = List.of(body.split("\n\n"));
            assertEquals("data: [DONE]", events.getLast());
            List<String> chunks = events.subList(0, events.size() - 1);
            assertEquals(5, chunks.size(), body);                     // 3 characters, the finish, the usage
            for (String c : chunks.subList(0, chunks.size() - 1)) {
                Map<String, Object> m = json(c.substring(6));
                assertTrue(m.containsKey("usage") && m.get("usage") == null, "\"usage\": null before the last chunk: " + c);
            }
            Map<String, Object> last = json(chunks.getLast().substring(6));
            assertEquals(List.of(), last.get("choices"));
            assertEquals(3L, ((Map<?, ?>) last.get("usage")).get("completion_tokens"));
            // without include_usage: no usage field at all
            String plain = post(s, "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":2,\"stream\":true}").body();
            assertFalse(plain.contains("\"usage\""), plain);
        }
    }

    @Test
    void pathsNumbersAndVocabularyErrorsAreSaidTruly() throws Exception {
        // an empty path segment is ambiguous: refused (never read as host v1 and path /completions)
        assertError(post(server, "//v1/completions", "{\"prompt\":\"a\"}"), 400, "malformed HTTP request: Ambiguous URI empty segment");
        HttpResponse<String> big = post(server, "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":99999999999999999999}");
        assertError(big, 400, "the integer 99999999999999999999 is beyond the 64-bit range");
        assertFalse(big.body().contains("not valid JSON"), big.body());
        HttpResponse<String> unknown = post(server, "/v1/completions", "{\"prompt\":\"the Zebra\"}");
        assertError(unknown, 400, "set \"drop_unknown\": true");
        assertFalse(unknown.body().contains("--drop-unknown"), unknown.body());
    }

    /**
     * Requests the HTTP layer refuses while parsing, before any handler runs, get OpenAI's JSON error
     * shape (not an HTML page) and a log line: the class of issue 25's bad {@code Content-Length}.
     */
    @Test
    void malformedHttpGetsOpenAisErrorShape() throws Exception {
        String post = "POST /v1/completions HTTP/1.1\r\nHost: x\r\n";
        Map<String, String> cases = new java.util.LinkedHashMap<>();
        cases.put("Content-Length: abc", post + "Content-Length: abc\r\n\r\n{}");
        cases.put("Content-Length: -1", post + "Content-Length: -1\r\n\r\n{}");
        cases.put("two different Content-Lengths", post + "Content-Length: 2\r\nContent-Length: 3\r\n\r\n{}");
        cases.put("a broken request line", "NONSENSE\r\n\r\n");
        cases.put("an unknown HTTP version", "GET /health HTTP/7.3\r\nHost: x\r\n\r\n");
        cases.put("headers over 8 KiB", "GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + "a".repeat(20_000) + "\r\n\r\n");
        for (var c : cases.entrySet()) {
            LOG.clear();
            String[] response = raw(server.port(), c.getValue());
            int status = Integer.parseInt(response[0].split(" ")[1]);
            assertTrue(status == 400 || status == 431 || status == 505, c.getKey() + ": " + response[0]);
            assertTrue(response[1].toLowerCase(java.util.Locale.ROOT).contains("content-type: application/json"), c.getKey() + ": " + response[1]);
            @SuppressWarnings("unchecked")
            Map<String, Object> error = (Map<String, Object>) json(response[2]).get("error");
            assertEquals("invalid_request_error", error.get("type"), c.getKey() + ": " + response[2]);
            assertFalse(((String) error.get("message")).isBlank(), c.getKey() + ": " + response[2]);
            assertFalse(response[2].contains("<"), c.getKey() + ": no HTML: " + response[2]);
            assertTrue(LOG.stream().anyMatch(l -> l.startsWith("serve: " + status + " refused by the HTTP layer: ")), c.getKey() + ": " + LOG);
        }
        assertEquals(200, get(server, "/health").statusCode(), "the server serves on");
    }

    /** Sends {@code request} on a fresh connection; returns its status line, header block and body (read to the end of the connection or of Content-Length). */
    public static String[] raw(int port, String request) throws Exception {
        try (Socket s = new Socket("127.0.0.1", port)) {
            s.setSoTimeout(10_000);
            s.getOutputStream().write(request.getBytes(StandardCharsets.ISO_8859_1));
            s.getOutputStream().flush();
            java.io.InputStream in = s.getInputStream();
            java.io.ByteArrayOutputStream head = new java.io.ByteArrayOutputStream();
            while (!head.toString(StandardCharsets.ISO_8859_1).endsWith("\r\n\r\n")) {
                int b = in.read();
                if (b < 0) fail("the connection closed inside the response head: " + head);
                head.write(b);
            }
            String h = head.toString(StandardCharsets.ISO_8859_1);
            java.util.regex.Matcher len = java.util.regex.Pattern.compile("(?im)^content-length: *(\\d+)").matcher(h);
            byte[] body = len.find() ? in.readNBytes(Integer.parseInt(len.group(1))) : in.readAllBytes();
            int eol = h.indexOf("\r\n");
            return new String[] {h.substring(0, eol), h.substring(eol + 2), new String(body, StandardCharsets.UTF_8)};
        }
    }

    @Test
    void keysNoClientCanSendAreRefusedAtStartUp() {
        for (String key : new String[] {"line1\nline2", "clé", "two words"}) {
            var e = assertThrows(IllegalArgumentException.class, () -> new CompletionServer.Config("127.0.0.1", 0, 1, 0, key, 16, 1024,
                    Duration.ofSeconds(1), 1, "m"));
            assertTrue(e.getMessage().contains("printable ASCII"), e.getMessage());
        }
    }

    /** SIGTERM while {@code serve --warmup} generates: the drain handling is installed first, so exit 0 with a message. */
    @Test
    void sigtermDuringWarmupExitsZeroWithAMessage() throws Exception {
        Path log = dir.resolve("warmup.log");
        Process p = CompletionServerTest.startServe(checkpoint, log, List.of(), "--warmup", "100000000");
        try {
            long end = System.nanoTime() + 40_000_000_000L;
            while (!Files.readString(log).contains("serve: warming up") && p.isAlive() && System.nanoTime() < end) Thread.sleep(20);
            assertTrue(Files.readString(log).contains("serve: warming up with 100000000 characters"), Files.readString(log));
            p.destroy();                                                 // SIGTERM
            assertTrue(p.waitFor(20, TimeUnit.SECONDS), "the warm-up stops within a character");
            assertEquals(0, p.exitValue(), Files.readString(log));
            assertTrue(Files.readString(log).contains("serve: stopped before listening"), Files.readString(log));
        } finally {
            p.destroyForcibly();
        }
    }
}
