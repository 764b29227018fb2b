package leviathan.server;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.ConnectException;
import java.net.Socket;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import leviathan.api.LanguageModel;
import leviathan.cli.Main;
import leviathan.data.CharTokenizer;
import leviathan.model.Checkpoint;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.model.Json;
import leviathan.testing.TestData;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** The completion server over loopback with a real HTTP client and a real (tiny, untrained) model. */
@Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class CompletionServerTest {
    static final String TEXT = TestData.text(3000, 41);
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();
    static final List<String> LOG = new CopyOnWriteArrayList<>();

    @TempDir static Path dir;
    static Path checkpoint;
    static LanguageModel lm;
    static CompletionServer server;

    static CompletionServer.Config config(int slots, int queue, String key, int maxTokens) {
        return new CompletionServer.Config("127.0.0.1", 0, slots, queue, key, maxTokens, 64 * 1024, Duration.ofSeconds(60), 16, "tiny");
    }

    @BeforeAll
    static void start() throws Exception {
        CharTokenizer tok = CharTokenizer.fromText(TEXT);
        checkpoint = dir.resolve("tiny.safetensors");
        try (Gpt g = Gpt.init(GptConfig.of(tok.vocabSize(), 16, 2, 2, 16, "correlation", 3), 8)) {
            Checkpoint.save(checkpoint, g, tok, null);
        }
        lm = LanguageModel.load(checkpoint, new LanguageModel.Settings("java", 2, s -> { }));
        server = CompletionServer.start(lm, config(4, 8, null, 4096), LOG::add);
    }

    @AfterAll
    static void stop() {
        server.close();
        lm.close();
    }

    static URI uri(CompletionServer s, String path) { return URI.create("http://127.0.0.1:" + s.port() + path); }

    static HttpResponse<String> post(CompletionServer s, String path, String body, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri(s, path)).POST(HttpRequest.BodyPublishers.ofString(body));
        if (headers.length > 0) b.headers(headers);
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    static HttpResponse<String> get(CompletionServer s, String path, String... headers) throws Exception {
        HttpRequest.Builder b = HttpRequest.newBuilder(uri(s, path)).GET();
        if (headers.length > 0) b.headers(headers);
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> json(String s) throws Exception { return (Map<String, Object>) Json.parse(s); }

    @SuppressWarnings("unchecked")
    static List<Map<String, Object>> choices(Map<String, Object> m) { return (List<Map<String, Object>>) m.get("choices"); }

    static String library(String prompt, int tokens, float temperature, int topK, long seed, List<String> stop) {
        return lm.generate(prompt, new LanguageModel.Generation(tokens, temperature, topK, 1f, seed, false, stop, null), null);
    }

    /** Texts by choice index and finish reasons from an SSE body; checks it ends with [DONE]. */
    static Map<Integer, StringBuilder> sse(String body, Map<Integer, String> finish) throws Exception {
        Map<Integer, StringBuilder> texts = new java.util.TreeMap<>();
        String[] events = body.split("\n\n");
        assertEquals("data: [DONE]", events[events.length - 1]);
        for (int k = 0; k < events.length - 1; k++) {
            assertTrue(events[k].startsWith("data: {"), events[k]);
            Map<String, Object> m = json(events[k].substring(6));
            assertEquals("text_completion", m.get("object"));
            for (Map<String, Object> c : choices(m)) {
                int i = ((Long) c.get("index")).intValue();
                texts.computeIfAbsent(i, x -> new StringBuilder()).append((String) c.get("text"));
                if (c.get("finish_reason") != null) finish.put(i, (String) c.get("finish_reason"));
            }
        }
        return texts;
    }

    @Test
    void completionHasOpenAiShapeAndTheLibrarysText() throws Exception {
        HttpResponse<String> r = post(server, "/v1/completions",
                "{\"model\":\"tiny\",\"prompt\":\"the king\",\"max_tokens\":40,\"temperature\":0.9,\"top_k\":5,\"seed\":7}");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("application/json"));
        Map<String, Object> m = json(r.body());
        assertTrue(((String) m.get("id")).startsWith("cmpl-"));
        assertEquals("text_completion", m.get("object"));
        assertEquals("tiny", m.get("model"));
        assertTrue(m.get("created") instanceof Long);
        Map<String, Object> c = choices(m).getFirst();
        assertEquals(library("the king", 40, 0.9f, 5, 7, null), c.get("text"));
        assertEquals(0L, c.get("index"));
        assertTrue(c.containsKey("logprobs"));
        assertNull(c.get("logprobs"));
        assertEquals("length", c.get("finish_reason"));
        assertEquals(Map.of("prompt_tokens", 8L, "completion_tokens", 40L, "total_tokens", 48L), m.get("usage"));
    }

    @Test
    void streamingSendsTheSameTextAsEventsEndingWithDone() throws Exception {
        HttpResponse<String> r = post(server, "/v1/completions",
                "{\"prompt\":\"queen\",\"max_tokens\":30,\"seed\":3,\"stream\":true,\"stream_options\":{\"include_usage\":true}}");
        assertEquals(200, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("text/event-stream"));
        Map<Integer, String> finish = new java.util.HashMap<>();
        Map<Integer, StringBuilder> texts = sse(r.body(), finish);
        assertEquals(library("queen", 30, 1f, 0, 3, null), texts.get(0).toString());
        assertEquals("length", finish.get(0));
        assertTrue(r.body().contains("\"usage\":{\"prompt_tokens\":5,\"completion_tokens\":30,\"total_tokens\":35}"), r.body());
        assertTrue(r.body().split("\n\n").length >= 30, "one event per character");
    }

    @Test
    void stopSequencesEndTheTextBeforeThem() throws Exception {
        String free = library("my lord", 60, 1f, 0, 21, null);
        String stop = free.substring(25, 27);
        String expected = free.substring(0, free.indexOf(stop));
        String body = "{\"prompt\":\"my lord\",\"max_tokens\":60,\"seed\":21,\"stop\":[\"@@@\"," + quote(stop) + "]";
        Map<String, Object> c = choices(json(post(server, "/v1/completions", body + "}").body())).getFirst();
        assertEquals(expected, c.get("text"));
        assertEquals("stop", c.get("finish_reason"));
        Map<Integer, String> finish = new java.util.HashMap<>();
        assertEquals(expected, sse(post(server, "/v1/completions", body + ",\"stream\":true}").body(), finish).get(0).toString());
        assertEquals("stop", finish.get(0));
        // a single string works too
        c = choices(json(post(server, "/v1/completions", "{\"prompt\":\"my lord\",\"max_tokens\":60,\"seed\":21,\"stop\":" + quote(stop) + "}").body())).getFirst();
        assertEquals(expected, c.get("text"));
    }

    static String quote(String s) {
        StringBuilder sb = new StringBuilder();
        Json.quote(sb, s);
        return sb.toString();
    }

    @Test
    void promptArraysAndNGiveOneChoicePerPromptAndSeed() throws Exception {
        HttpResponse<String> r = post(server, "/v1/completions",
                "{\"prompt\":[\"the\",\"good \"],\"n\":2,\"max_tokens\":12,\"seed\":100,\"temperature\":1}");
        assertEquals(200, r.statusCode(), r.body());
        List<Map<String, Object>> cs = choices(json(r.body()));
        assertEquals(4, cs.size());
        String[] prompts = {"the", "the", "good ", "good "};
        for (int i = 0; i < 4; i++) {
            assertEquals((long) i, cs.get(i).get("index"));
            assertEquals(library(prompts[i], 12, 1f, 0, 100 + i, null), cs.get(i).get("text"), "choice " + i + " uses seed + index");
        }
        assertFalse(cs.get(0).get("text").equals(cs.get(1).get("text")), "n choices differ");
        Map<Integer, String> finish = new java.util.HashMap<>();
        Map<Integer, StringBuilder> streamed = sse(post(server, "/v1/completions",
                "{\"prompt\":[\"the\",\"good \"],\"n\":2,\"max_tokens\":12,\"seed\":100,\"stream\":true}").body(), finish);
        for (int i = 0; i < 4; i++) assertEquals(cs.get(i).get("text"), streamed.get(i).toString());
        assertEquals(4, finish.size());
    }

    @Test
    void concurrentRequestsGiveTheSequentialTexts() throws Exception {
        int requests = 12;
        List<String> alone = new ArrayList<>();
        for (int k = 0; k < requests; k++) alone.add(request(k));
        ExecutorService pool = Executors.newVirtualThreadPerTaskExecutor();
        try {
            List<Future<String>> fs = new ArrayList<>();
            for (int k = requests - 1; k >= 0; k--) {
                int kk = k;
                fs.add(pool.submit(() -> request(kk)));
            }
            for (int k = 0; k < requests; k++) assertEquals(alone.get(requests - 1 - k), fs.get(k).get());
        } finally {
            pool.shutdown();
        }
    }

    static String request(int k) throws Exception {
        boolean stream = k % 2 == 1;
        String body = "{\"prompt\":" + quote(TEXT.substring(k * 7, k * 7 + 1 + k % 4)) + ",\"max_tokens\":50,\"seed\":" + (500 + k)
                + ",\"temperature\":" + (k % 3 == 0 ? "0" : "0.8") + ",\"top_p\":" + (k % 4 == 0 ? "0.9" : "1") + ",\"stream\":" + stream + "}";
        HttpResponse<String> r = post(server, "/v1/completions", body);
        assertEquals(200, r.statusCode(), r.body());
        return stream ? sse(r.body(), new java.util.HashMap<>()).get(0).toString() : (String) choices(json(r.body())).getFirst().get("text");
    }

    static void assertError(HttpResponse<String> r, int status, String messagePart) throws Exception {
        assertEquals(status, r.statusCode(), r.body());
        assertTrue(r.headers().firstValue("Content-Type").orElse("").startsWith("application/json"));
        @SuppressWarnings("unchecked")
        Map<String, Object> e = (Map<String, Object>) json(r.body()).get("error");
        assertNotNull(e, r.body());
        assertTrue(((String) e.get("message")).contains(messagePart), r.body());
        assertTrue(e.containsKey("type") && e.containsKey("param") && e.containsKey("code"), r.body());
        assertFalse(r.body().contains("at leviathan."), "no stack trace");
    }

    @Test
    void badRequestsGet400WithTheReason() throws Exception {
        assertError(post(server, "/v1/completions", "{\"prompt\": \"a\""), 400, "not valid JSON");
        assertError(post(server, "/v1/completions", "[1]"), 400, "must be a JSON object");
        assertError(post(server, "/v1/completions", "{\"prompt\": 5}"), 400, "'prompt' must be a string");
        assertError(post(server, "/v1/completions", "{\"prompt\": [1, 2]}"), 400, "token arrays are not supported");
        assertError(post(server, "/v1/completions", "{}"), 400, "'prompt' is required");
        assertError(post(server, "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":\"9\"}"), 400, "'max_tokens' must be an integer");
        assertError(post(server, "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":4097}"), 400, "'max_tokens' must be in [0, 4096]");
        assertError(post(server, "/v1/completions", "{\"prompt\":\"a\",\"temperature\":-1}"), 400, "'temperature' must be in [0, 2]");
        assertError(post(server, "/v1/completions", "{\"prompt\":\"a\",\"top_p\":0}"), 400, "'top_p' must be in (0, 1]");
        assertError(post(server, "/v1/completions", "{\"prompt\":\"a\",\"n\":17}"), 400, "'n' must be in [1, 16]");
        assertError(post(server, "/v1/completions", "{\"prompt\":[\"a\",\"b\",\"c\"],\"n\":6}"), 400, "prompts × n is 18");
        assertError(post(server, "/v1/completions", "{\"prompt\":\"a\",\"stop\":[\"\"]}"), 400, "stop string must not be empty");
        assertError(post(server, "/v1/completions", "{\"prompt\":\"a\",\"stop\":[\"a\",\"b\",\"c\",\"d\",\"e\"]}"), 400, "at most 4 stop strings");
        assertError(post(server, "/v1/completions", "{\"prompt\":\"a\",\"stream\":\"yes\"}"), 400, "'stream' must be a boolean");
        assertError(post(server, "/v1/completions", "{\"prompt\":\"a\",\"echo\":true}"), 400, "echo is not supported");
        assertError(post(server, "/v1/completions", "{\"prompt\":\"a\",\"frobnicate\":1}"), 400, "unrecognized request argument supplied: frobnicate");
        assertError(post(server, "/v1/completions", "{\"prompt\":\"the Zebra\"}"), 400, "drop_unknown");
        // characters outside the vocabulary are dropped on request
        assertEquals(200, post(server, "/v1/completions", "{\"prompt\":\"the Zebra\",\"drop_unknown\":true,\"max_tokens\":3}").statusCode());
        assertTrue(LOG.stream().anyMatch(l -> l.startsWith("serve: 400 POST /v1/completions: unrecognized request argument")), "one log line per error");
    }

    @Test
    void routingErrorsGet404And405AndChatIsExplained() throws Exception {
        assertError(get(server, "/v1/nothing"), 404, "no such endpoint");
        assertError(get(server, "/v1/models/other"), 404, "does not exist");
        HttpResponse<String> r = get(server, "/v1/completions");
        assertError(r, 405, "GET is not allowed");
        assertEquals("POST", r.headers().firstValue("Allow").orElse(""));
        assertError(post(server, "/health", "{}"), 405, "use GET");
        assertError(post(server, "/v1/chat/completions", "{\"messages\":[]}"), 404, "not a chat model");
    }

    @Test
    void bodiesOverTheCapGet413() throws Exception {
        String big = "{\"prompt\":\"" + "a".repeat(70 * 1024) + "\"}";
        assertError(post(server, "/v1/completions", big), 413, "at most 65536");
    }

    @Test
    void modelsHealthMetricsAndPlayground() throws Exception {
        Map<String, Object> models = json(get(server, "/v1/models").body());
        @SuppressWarnings("unchecked")
        Map<String, Object> entry = ((List<Map<String, Object>>) models.get("data")).getFirst();
        assertEquals("tiny", entry.get("id"));
        assertEquals("model", entry.get("object"));
        @SuppressWarnings("unchecked")
        Map<String, Object> cfg = (Map<String, Object>) entry.get("config");
        assertEquals(16L, cfg.get("block_size"));
        assertEquals("correlation", cfg.get("attention"));
        assertEquals("tiny", json(get(server, "/v1/models/tiny").body()).get("id"));
        assertEquals("{\"status\":\"ok\"}", get(server, "/health").body());
        HttpResponse<String> page = get(server, "/");
        assertEquals(200, page.statusCode());
        assertTrue(page.body().contains("/v1/completions") && page.body().contains("top_k"));
        assertFalse(page.body().matches("(?s).*(src|href)=\"https?:.*"), "no external assets");
        post(server, "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":5}");
        String m = get(server, "/metrics").body();
        for (String name : List.of("leviathan_requests_total{endpoint=\"/v1/completions\",status=\"200\"}", "leviathan_generated_characters_total",
                "leviathan_generation_rate_characters_per_second", "leviathan_queue_depth", "leviathan_slots_busy",
                "leviathan_time_to_first_token_seconds_bucket{le=\"+Inf\"}", "leviathan_request_duration_seconds_count")) {
            assertTrue(m.contains(name), name + " in\n" + m);
        }
    }

    @Test
    void theTimeBoundEndsALongCompletion() throws Exception {
        CompletionServer.Config c = config(1, 1, null, 1_000_000);
        c = new CompletionServer.Config(c.host(), 0, 1, 1, null, c.maxTokens(), c.maxBodyBytes(), Duration.ofMillis(500), 16, "tiny");
        try (CompletionServer s = CompletionServer.start(lm, c, LOG::add)) {
            long t0 = System.nanoTime();
            HttpResponse<String> r = post(s, "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":1000000}");
            assertEquals(200, r.statusCode(), r.body());
            Map<String, Object> choice = choices(json(r.body())).getFirst();
            assertEquals("length", choice.get("finish_reason"));
            assertTrue(((String) choice.get("text")).length() < 1_000_000);
            assertTrue(System.nanoTime() - t0 < 30_000_000_000L);
        }
    }

    @Test
    void apiKeyIsRequiredWhenConfigured() throws Exception {
        try (CompletionServer s = CompletionServer.start(lm, config(1, 1, "sesame", 64), LOG::add)) {
            assertError(post(s, "/v1/completions", "{\"prompt\":\"a\"}"), 401, "no API key given");
            assertError(post(s, "/v1/completions", "{\"prompt\":\"a\"}", "Authorization", "Bearer wrong"), 401, "incorrect API key");
            assertError(get(s, "/metrics"), 401, "API key");
            assertEquals(200, post(s, "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":2}", "Authorization", "Bearer sesame").statusCode());
            assertEquals(200, get(s, "/health").statusCode());
        }
    }

    /** A streaming request over a raw socket, so that the test can read part of it and hang up. */
    static final class RawStream implements AutoCloseable {
        final Socket socket;
        final InputStream in;

        RawStream(CompletionServer s, String body) throws IOException {
            socket = new Socket("127.0.0.1", s.port());
            byte[] b = body.getBytes(StandardCharsets.UTF_8);
            OutputStream out = socket.getOutputStream();
            out.write(("POST /v1/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " + b.length + "\r\n\r\n")
                    .getBytes(StandardCharsets.US_ASCII));
            out.write(b);
            out.flush();
            in = socket.getInputStream();
        }

        /** Reads until {@code marker} has arrived. */
        String readUntil(String marker) throws IOException {
            StringBuilder sb = new StringBuilder();
            byte[] buf = new byte[4096];
            while (sb.indexOf(marker) < 0) {
                int n = in.read(buf);
                if (n < 0) throw new IOException("stream ended before '" + marker + "': " + sb);
                sb.append(new String(buf, 0, n, StandardCharsets.UTF_8));
            }
            return sb.toString();
        }

        @Override
        public void close() throws IOException { socket.close(); }
    }

    static final String ENDLESS = "{\"prompt\":\"a\",\"max_tokens\":1000000,\"stream\":true}";

    static void awaitGauge(CompletionServer s, String gauge, int value) throws Exception {
        long end = System.nanoTime() + 10_000_000_000L;
        while (!get(s, "/metrics").body().contains("\n" + gauge + " " + value + "\n")) {
            if (System.nanoTime() > end) fail(gauge + " never reached " + value + ":\n" + get(s, "/metrics").body());
            Thread.sleep(5);
        }
    }

    @Test
    void fullSlotsAndQueueGet429WithRetryAfter() throws Exception {
        try (CompletionServer s = CompletionServer.start(lm, config(1, 1, null, 1_000_000), LOG::add);
             RawStream running = new RawStream(s, ENDLESS)) {
            running.readUntil("data: {");
            awaitGauge(s, "leviathan_slots_busy", 1);
            try (RawStream queued = new RawStream(s, ENDLESS)) {
                awaitGauge(s, "leviathan_queue_depth", 1);
                HttpResponse<String> r = post(s, "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":1}");
                assertError(r, 429, "queue of 1 is full");
                assertEquals("1", r.headers().firstValue("Retry-After").orElse(""));
            }
        }
    }

    @Test
    void aClientThatHangsUpFreesItsSlot() throws Exception {
        try (CompletionServer s = CompletionServer.start(lm, config(1, 0, null, 1_000_000), LOG::add)) {
            try (RawStream first = new RawStream(s, ENDLESS)) {
                first.readUntil("data: {");
                assertEquals(429, post(s, "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":1}").statusCode());
            }
            // the generation notices at its next write(s) and gives the slot back
            long t0 = System.nanoTime();
            awaitGauge(s, "leviathan_slots_busy", 0);
            assertTrue(System.nanoTime() - t0 < 5_000_000_000L);
            assertEquals(200, post(s, "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":1}").statusCode());
            assertTrue(get(s, "/metrics").body().contains("leviathan_requests_total{endpoint=\"/v1/completions\",status=\"499\"} 1"));
        }
    }

    @Test
    void shutdownAnswers503AndCancelsWhatOutlivesTheDeadline() throws Exception {
        CompletionServer s = CompletionServer.start(lm, config(2, 2, null, 1_000_000), LOG::add);
        try (RawStream endless = new RawStream(s, ENDLESS)) {
            endless.readUntil("data: {");
            CompletableFuture<Integer> stopping = CompletableFuture.supplyAsync(() -> s.shutdown(Duration.ofMillis(1500)));
            long end = System.nanoTime() + 5_000_000_000L;
            HttpResponse<String> r;
            do {
                r = post(s, "/v1/completions", "{\"prompt\":\"a\",\"max_tokens\":1}");
            } while (r.statusCode() != 503 && System.nanoTime() < end);
            assertError(r, 503, "shutting down");
            String tail = endless.readUntil("data: [DONE]");
            assertTrue(tail.contains("the generation was cancelled"), tail);
            assertEquals(1, stopping.get(20, TimeUnit.SECONDS));
        }
    }

    /** A real {@code serve} process on {@code checkpoint} (port 0, Java GEMM, 1 thread), its output in {@code log}. */
    static Process startServe(Path checkpoint, Path log, List<String> jvmFlags, String... serveArgs) throws IOException {
        String java = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-ea"));
        cmd.addAll(jvmFlags);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName(), "serve", "--checkpoint", checkpoint.toString(),
                "--port", "0", "--backend", "java", "--threads", "1"));
        cmd.addAll(List.of(serveArgs));
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(log.toFile()).start();
    }

    /** The port that the server process says it listens on (within a minute). */
    static int listeningPort(Process p, Path log) throws Exception {
        long end = System.nanoTime() + 60_000_000_000L;
        while (System.nanoTime() < end && p.isAlive()) {
            Matcher m = Pattern.compile("listening on http://127\\.0\\.0\\.1:(\\d+)").matcher(Files.readString(log));
            if (m.find()) return Integer.parseInt(m.group(1));
            Thread.sleep(20);
        }
        Matcher m = Pattern.compile("listening on http://127\\.0\\.0\\.1:(\\d+)").matcher(Files.readString(log));
        assertTrue(m.find(), Files.readString(log));
        return Integer.parseInt(m.group(1));
    }

    /**
     * SIGTERM to a real server process: new requests get 503, a request in flight finishes, one that
     * would outlive the drain deadline is cancelled, and the process exits 0.
     */
    @Test
    @Timeout(value = 180, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void sigtermDrainsAndExitsZero() throws Exception {
        Path log = dir.resolve("serve.log");
        Process p = startServe(checkpoint, log, List.of(), "--slots", "2", "--drain", "6", "--max-tokens", "1000000", "--warmup", "1000");
        try {
            int port = listeningPort(p, log);
            URI completions = URI.create("http://127.0.0.1:" + port + "/v1/completions");
            // --warmup: a cold JVM on a busy machine runs the first few hundred characters slowly
            assertTrue(Files.readString(log).contains("serve: warmed up with 1000 characters"), Files.readString(log));
            HttpResponse<Stream<String>> finite = HTTP.send(HttpRequest.newBuilder(completions)
                    .POST(HttpRequest.BodyPublishers.ofString("{\"prompt\":\"a\",\"max_tokens\":400,\"stream\":true,\"seed\":1}")).build(),
                    HttpResponse.BodyHandlers.ofLines());
            HttpResponse<Stream<String>> endless = HTTP.send(HttpRequest.newBuilder(completions)
                    .POST(HttpRequest.BodyPublishers.ofString(ENDLESS)).build(), HttpResponse.BodyHandlers.ofLines());
            Iterator<String> fin = finite.body().iterator(), inf = endless.body().iterator();
            String finFirst = fin.next();
            assertTrue(finFirst.startsWith("data: {") && inf.next().startsWith("data: {"));
            // read the finite stream as it comes, so that no socket buffer slows it down
            CompletableFuture<String[]> finRead = CompletableFuture.supplyAsync(() -> {
                try {
                    StringBuilder finText = new StringBuilder();
                    String last = "";
                    @SuppressWarnings("unchecked")
                    Map<String, Object> c0 = ((List<Map<String, Object>>) json(finFirst.substring(6)).get("choices")).getFirst();
                    finText.append((String) c0.get("text"));
                    while (fin.hasNext()) {
                        String line = fin.next();
                        assertFalse(line.contains("\"error\""), line + "\n" + Files.readString(log));
                        if (line.startsWith("data: {")) {
                            @SuppressWarnings("unchecked")
                            Map<String, Object> c = ((List<Map<String, Object>>) json(line.substring(6)).get("choices")).getFirst();
                            finText.append((String) c.get("text"));
                        }
                        if (!line.isEmpty()) last = line;
                    }
                    return new String[] {finText.toString(), last};
                } catch (Exception e) {
                    throw new RuntimeException(e);
                }
            });
            p.destroy();                                                   // SIGTERM
            long t0 = System.nanoTime();
            int status;
            do {
                try {
                    status = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/health")).build(),
                            HttpResponse.BodyHandlers.ofString()).statusCode();
                } catch (ConnectException e) {
                    status = -1;
                }
            } while (status == 200 && System.nanoTime() - t0 < 3_000_000_000L);
            assertEquals(503, status, "requests during the drain get 503");
            String[] finished = finRead.get(60, TimeUnit.SECONDS);
            assertEquals("data: [DONE]", finished[1]);
            // all 400 characters arrived (the text itself may differ from this JVM's: another thread count)
            assertEquals(400, finished[0].length(), "the request in flight finished");
            String infLast = "";
            boolean cancelled = false;
            while (inf.hasNext()) {
                String line = inf.next();
                cancelled |= line.contains("the generation was cancelled");
                if (!line.isEmpty()) infLast = line;
            }
            assertTrue(cancelled, "the endless request was cancelled at the deadline");
            assertEquals("data: [DONE]", infLast);
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "the server exits after the drain");
            assertEquals(0, p.exitValue(), Files.readString(log));
            String out = Files.readString(log);
            assertTrue(out.contains("serve: stopped (1 request(s) cancelled at the deadline)"), out);
            assertFalse(out.contains("Exception"), out);
        } finally {
            p.destroyForcibly();
        }
    }

    /**
     * A real {@link OutOfMemoryError} in a request of a real server process (a 40 MB prompt against a
     * 48 MB heap): that request gets a 500, the server takes no more work, drains and exits 1 with
     * one line saying why, not a stack trace.
     */
    @Test
    @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void anErrorInARequestEndsTheServerProcessWithANonZeroStatus() throws Exception {
        Path log = dir.resolve("serve-oom.log");
        Process p = startServe(checkpoint, log, List.of("-XX:+UseSerialGC", "-Xmx48m"), "--max-body", "100000000");
        try {
            int port = listeningPort(p, log);
            String body = "{\"prompt\":\"" + "e".repeat(40_000_000) + "\",\"max_tokens\":1}";
            HttpResponse<String> r = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + "/v1/completions"))
                    .POST(HttpRequest.BodyPublishers.ofString(body)).build(), HttpResponse.BodyHandlers.ofString());
            assertError(r, 500, "internal error");
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the server exits after the drain: " + Files.readString(log));
            String out = Files.readString(log);
            assertEquals(1, p.exitValue(), out);
            assertTrue(out.contains("serve: fatal: java.lang.OutOfMemoryError"), out);
            List<String> lines = out.lines().filter(l -> !l.isBlank()).toList();
            assertTrue(lines.stream().anyMatch(l -> l.startsWith("leviathan: the server stopped after a request ran out of memory")), out);
            assertFalse(out.contains("\tat "), "no stack trace: " + out);
        } finally {
            p.destroyForcibly();
        }
    }

    @Test
    void anErrorInARequestStopsNewWorkAndLetsTheRequestsInFlightFinish() throws Exception {
        List<String> log = new CopyOnWriteArrayList<>();
        java.util.concurrent.CountDownLatch holding = new java.util.concurrent.CountDownLatch(1), release = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.CountDownLatch told = new java.util.concurrent.CountDownLatch(1);
        java.util.concurrent.atomic.AtomicInteger started = new java.util.concurrent.atomic.AtomicInteger();
        CompletionServer s = CompletionServer.start(lm, config(2, 2, null, 4096), log::add);
        try (ExecutorService clients = Executors.newVirtualThreadPerTaskExecutor()) {
            s.onFailure(told::countDown);
            s.beforeGeneration = () -> {
                if (started.incrementAndGet() == 1) {                       // the first request stays in flight
                    holding.countDown();
                    try {
                        release.await();
                    } catch (InterruptedException e) {
                        Thread.currentThread().interrupt();
                    }
                } else {
                    throw new OutOfMemoryError("injected fault");           // the second one hits an Error
                }
            };
            assertEquals(200, get(s, "/health").statusCode());
            String body = "{\"model\":\"tiny\",\"prompt\":\"the king\",\"max_tokens\":20,\"temperature\":0}";
            Future<HttpResponse<String>> inFlight = clients.submit(() -> post(s, "/v1/completions", body));
            assertTrue(holding.await(30, TimeUnit.SECONDS));
            HttpResponse<String> broken = post(s, "/v1/completions", body);
            assertEquals(500, broken.statusCode(), broken.body());
            assertTrue(told.await(10, TimeUnit.SECONDS), "the owner was told");
            assertTrue(s.failure() instanceof OutOfMemoryError && "injected fault".equals(s.failure().getMessage()), String.valueOf(s.failure()));

            HttpResponse<String> health = get(s, "/health");
            assertEquals(503, health.statusCode(), "health reports the failure: " + health.body());
            assertEquals("server_failed", ((Map<?, ?>) json(health.body()).get("error")).get("code"));
            assertEquals(503, post(s, "/v1/completions", body).statusCode(), "no new work after the Error");
            assertEquals(2, started.get(), "the refused request never reached the model");

            release.countDown();                                            // the request in flight finishes normally
            HttpResponse<String> finished = inFlight.get(60, TimeUnit.SECONDS);
            assertEquals(200, finished.statusCode(), finished.body());
            assertEquals(library("the king", 20, 0f, 0, 0, null), choices(json(finished.body())).get(0).get("text"));
            assertTrue(log.stream().anyMatch(l -> l.startsWith("serve: fatal: java.lang.OutOfMemoryError: injected fault")), log.toString());
        } finally {
            release.countDown();
            s.close();
        }
    }
}
