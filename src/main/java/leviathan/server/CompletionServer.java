package leviathan.server;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.HexFormat;
import java.util.Locale;
import java.util.Set;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Semaphore;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Consumer;
import leviathan.api.LanguageModel;
import leviathan.model.GptConfig;

/**
 * An OpenAI-compatible completion server over one shared {@link LanguageModel}, on the JDK's
 * {@code jdk.httpserver} with one virtual thread per exchange. {@code slots} generations run at
 * once; up to {@code queue} more wait for a slot (fair, first come first served), and beyond that a
 * request gets 429. Endpoints: {@code POST /v1/completions}, {@code GET /v1/models},
 * {@code GET /health}, {@code GET /metrics}, {@code GET /} (the playground page).
 */
public final class CompletionServer implements AutoCloseable {

    /**
     * Server settings: bind address and port (0 = any free port), concurrent generations, waiting
     * requests, API key ({@code null} = none), cap on {@code max_tokens}, cap on a request body
     * (bytes), time bound per completion request, cap on choices (prompts × n) per request, and the
     * model id clients see.
     */
    public record Config(String host, int port, int slots, int queue, String apiKey, int maxTokens, int maxBodyBytes,
                         Duration requestTimeout, int maxChoices, String modelName) {
        public Config {
            if (port < 0 || port > 65535) throw new IllegalArgumentException("port must be in [0, 65535], got " + port);
            if (slots < 1 || slots > 4096) throw new IllegalArgumentException("slots must be in [1, 4096], got " + slots);
            if (queue < 0 || queue > 1_000_000) throw new IllegalArgumentException("queue must be in [0, 1000000], got " + queue);
            if (apiKey != null && apiKey.isBlank()) throw new IllegalArgumentException("the API key is empty");
            if (maxTokens < 1) throw new IllegalArgumentException("max tokens must be >= 1, got " + maxTokens);
            if (maxBodyBytes < 1) throw new IllegalArgumentException("max body must be >= 1 byte, got " + maxBodyBytes);
            if (requestTimeout == null || requestTimeout.isNegative() || requestTimeout.isZero()) throw new IllegalArgumentException("the request timeout must be positive");
            if (maxChoices < 1) throw new IllegalArgumentException("max choices must be >= 1, got " + maxChoices);
        }

        /** Defaults: loopback, port 8080, one slot per core, queue 64, no key, 4096 tokens, 1 MiB, 300 s, 16 choices. */
        public static Config defaults(String modelName) {
            return new Config("127.0.0.1", 8080, Runtime.getRuntime().availableProcessors(), 64, null, 4096, 1 << 20,
                    Duration.ofSeconds(300), 16, modelName);
        }
    }

    private static final String COMPLETIONS = "/v1/completions", CHAT = "/v1/chat/completions", MODELS = "/v1/models";

    private final LanguageModel lm;
    private final Config cfg;
    private final Consumer<String> log;
    private final HttpServer http;
    private final ExecutorService executor;
    private final Semaphore slots;
    private final AtomicInteger admitted = new AtomicInteger(), running = new AtomicInteger(), exchanges = new AtomicInteger();
    private final Set<Active> active = ConcurrentHashMap.newKeySet();
    private final Metrics metrics;
    private final byte[] playground;
    private final long created = System.currentTimeMillis() / 1000;
    private final SplittableRandom seeds = new SplittableRandom();
    private volatile boolean draining;

    /** A completion request in flight; the drain cancels it by setting {@code cancelled}. */
    private static final class Active {
        volatile boolean cancelled;
    }

    private CompletionServer(LanguageModel lm, Config cfg, Consumer<String> log) throws IOException {
        this.lm = lm;
        this.cfg = cfg;
        this.log = log;
        this.slots = new Semaphore(cfg.slots(), true);
        this.metrics = new Metrics(cfg.slots(), () -> Math.max(0, admitted.get() - running.get()), running::get);
        try (InputStream in = CompletionServer.class.getResourceAsStream("playground.html")) {
            if (in == null) throw new IOException("playground.html is missing from the jar");
            this.playground = in.readAllBytes();
        }
        this.http = HttpServer.create(new InetSocketAddress(InetAddress.getByName(cfg.host()), cfg.port()), 128);
        this.executor = Executors.newVirtualThreadPerTaskExecutor();
        http.setExecutor(executor);
        http.createContext("/", this::handle);
    }

    /**
     * Binds and starts serving; logs the address, and a warning when binding a non-loopback address
     * without an API key.
     */
    public static CompletionServer start(LanguageModel lm, Config cfg, Consumer<String> log) throws IOException {
        CompletionServer s = new CompletionServer(lm, cfg, log);
        InetAddress addr = s.http.getAddress().getAddress();
        if (!addr.isLoopbackAddress() && cfg.apiKey() == null) {
            log.accept("serve: warning: listening on " + addr.getHostAddress() + ", reachable from other machines, without an API key (set --api-key-file)");
        }
        s.http.start();
        return s;
    }

    /** The port the server listens on (useful with port 0). */
    public int port() { return http.getAddress().getPort(); }

    /**
     * Drains and stops: from now on every request gets 503; completions in flight may finish until
     * {@code deadline}, after which they are cancelled (each stops within one character); then the
     * listener closes. Returns the number of completions that had to be cancelled.
     */
    public int shutdown(Duration deadline) {
        draining = true;
        long end = System.nanoTime() + deadline.toNanos();
        while (admitted.get() > 0 && System.nanoTime() - end < 0) sleep(10);
        int cancelled = 0;
        for (Active a : active) {
            a.cancelled = true;
            cancelled++;
        }
        long hard = System.nanoTime() + 10_000_000_000L;          // cancelled ones stop within a character
        while (exchanges.get() > 0 && System.nanoTime() - hard < 0) sleep(10);
        http.stop(0);
        executor.shutdownNow();
        return cancelled;
    }

    @Override
    public void close() { shutdown(Duration.ZERO); }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    // ---- dispatch ----

    private void handle(HttpExchange ex) {
        exchanges.incrementAndGet();
        String path = ex.getRequestURI().getPath(), method = ex.getRequestMethod();
        String endpoint = switch (path) {
            case "/", "/health", "/metrics", MODELS, COMPLETIONS, CHAT -> path;
            default -> path.startsWith(MODELS + "/") ? MODELS + "/{id}" : "other";
        };
        int status = 500;
        try {
            if (draining) throw new ApiError(503, "service_unavailable", null, "shutting_down", "the server is shutting down");
            status = switch (endpoint) {
                case "/" -> {
                    allow(ex, "GET");
                    yield send(ex, 200, "text/html; charset=utf-8", playground);
                }
                case "/health" -> {
                    allow(ex, "GET");
                    yield sendJson(ex, 200, "{\"status\":\"ok\"}");
                }
                case "/metrics" -> {
                    authorize(ex);
                    allow(ex, "GET");
                    yield send(ex, 200, "text/plain; version=0.0.4; charset=utf-8", metrics.text().getBytes(StandardCharsets.UTF_8));
                }
                case MODELS -> {
                    authorize(ex);
                    allow(ex, "GET");
                    yield sendJson(ex, 200, "{\"object\":\"list\",\"data\":[" + modelJson() + "]}");
                }
                case MODELS + "/{id}" -> {
                    authorize(ex);
                    allow(ex, "GET");
                    if (!path.substring(MODELS.length() + 1).equals(cfg.modelName())) {
                        throw new ApiError(404, "invalid_request_error", "model", "model_not_found",
                                "the model '" + path.substring(MODELS.length() + 1) + "' does not exist; this server has '" + cfg.modelName() + "'");
                    }
                    yield sendJson(ex, 200, modelJson());
                }
                case CHAT -> {
                    authorize(ex);
                    allow(ex, "POST");
                    throw new ApiError(404, "invalid_request_error", "model", null, "This is not a chat model and thus not supported in the "
                            + "v1/chat/completions endpoint: '" + cfg.modelName() + "' is a plain character-level text completer "
                            + "with no chat template. Did you mean to use v1/completions?");
                }
                case COMPLETIONS -> {
                    authorize(ex);
                    allow(ex, "POST");
                    yield complete(ex);
                }
                default -> throw new ApiError(404, "invalid_request_error", null, "not_found", "no such endpoint: " + method + " " + path);
            };
        } catch (ApiError e) {
            status = e.status;
            log.accept("serve: " + e.status + " " + method + " " + path + ": " + e.getMessage());
            if (e.status == 429 || e.status == 503) ex.getResponseHeaders().set("Retry-After", "1");
            if (e.status == 401) ex.getResponseHeaders().set("WWW-Authenticate", "Bearer");
            if (e.status == 413) ex.getResponseHeaders().set("Connection", "close");
            try {
                sendJson(ex, e.status, e.json());
            } catch (IOException io) {
                status = 499;
            }
        } catch (ClientGone e) {
            status = 499;
            log.accept("serve: 499 " + method + " " + path + ": the client went away");
        } catch (IOException e) {
            status = 499;
            log.accept("serve: 499 " + method + " " + path + ": " + e.getMessage());
        } catch (RuntimeException | Error e) {
            status = 500;
            log.accept("serve: 500 " + method + " " + path + ": " + e);
            try {
                sendJson(ex, 500, new ApiError(500, "server_error", null, null, "internal error: " + message(e)).json());
            } catch (IOException | RuntimeException ignored) {
                // the headers may already be out; nothing more can be said to this client
            }
        } finally {
            metrics.request(endpoint, status);
            ex.close();
            exchanges.decrementAndGet();
        }
    }

    private static String message(Throwable e) { return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage(); }

    /** Thrown when writing to a client fails mid-stream. */
    private static final class ClientGone extends Exception {
        ClientGone() { super(null, null, false, false); }
    }

    private static void allow(HttpExchange ex, String method) throws ApiError {
        if (!ex.getRequestMethod().equals(method)) {
            ex.getResponseHeaders().set("Allow", method);
            throw new ApiError(405, "invalid_request_error", null, "method_not_allowed",
                    ex.getRequestMethod() + " is not allowed on " + ex.getRequestURI().getPath() + "; use " + method);
        }
    }

    private void authorize(HttpExchange ex) throws ApiError {
        if (cfg.apiKey() == null) return;
        String h = ex.getRequestHeaders().getFirst("Authorization");
        String given = h != null && h.regionMatches(true, 0, "Bearer ", 0, 7) ? h.substring(7).trim() : "";
        if (!MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8), cfg.apiKey().getBytes(StandardCharsets.UTF_8))) {
            throw new ApiError(401, "invalid_request_error", null, "invalid_api_key",
                    h == null ? "no API key given: send the header 'Authorization: Bearer KEY'" : "incorrect API key");
        }
    }

    private String modelJson() {
        GptConfig c = lm.config();
        StringBuilder sb = new StringBuilder("{\"id\":");
        Jsons.quote(sb, cfg.modelName());
        sb.append(",\"object\":\"model\",\"created\":").append(created).append(",\"owned_by\":\"leviathan\",\"config\":{")
                .append("\"vocab_size\":").append(c.vocabSize()).append(",\"block_size\":").append(c.blockSize())
                .append(",\"n_layer\":").append(c.nLayer()).append(",\"n_head\":").append(c.nHead())
                .append(",\"n_embd\":").append(c.nEmbd()).append(",\"attention\":");
        Jsons.quote(sb, c.attention());
        sb.append(",\"lags\":").append(c.lags()).append(",\"mlp\":");
        Jsons.quote(sb, c.mlp().kind());
        for (var parts : java.util.List.of(c.mixer().options(), c.mlp().options())) {
            parts.forEach((k, v) -> {
                if (k.equals("lags")) return;
                sb.append(',');
                Jsons.quote(sb, k);
                sb.append(':').append(v);                        // part options are integers
            });
        }
        sb.append(",\"vocab\":");
        Jsons.quote(sb, lm.tokenizer().vocab());
        return sb.append("}}").toString();
    }

    private static int sendJson(HttpExchange ex, int status, String json) throws IOException {
        return send(ex, status, "application/json", json.getBytes(StandardCharsets.UTF_8));
    }

    private static int send(HttpExchange ex, int status, String type, byte[] body) throws IOException {
        ex.getResponseHeaders().set("Content-Type", type);
        ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
        try (OutputStream out = ex.getResponseBody()) {
            out.write(body);
        }
        return status;
    }

    private String readBody(HttpExchange ex) throws IOException, ApiError {
        String len = ex.getRequestHeaders().getFirst("Content-Length");
        if (len != null) {
            long n;
            try {
                n = Long.parseLong(len.trim());
            } catch (NumberFormatException e) {
                throw ApiError.invalid(null, "bad Content-Length: " + len);
            }
            if (n > cfg.maxBodyBytes()) throw tooLarge(n);
        }
        InputStream in = ex.getRequestBody();
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        byte[] chunk = new byte[8192];
        for (int r; (r = in.read(chunk)) > 0; ) {
            buf.write(chunk, 0, r);
            if (buf.size() > cfg.maxBodyBytes()) throw tooLarge(buf.size());
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(buf.toByteArray())).toString();
        } catch (CharacterCodingException e) {
            throw ApiError.invalid(null, "the request body is not valid UTF-8");
        }
    }

    private ApiError tooLarge(long n) {
        return new ApiError(413, "invalid_request_error", null, "request_too_large",
                "the request body has " + (n > cfg.maxBodyBytes() ? "more than " + cfg.maxBodyBytes() : n) + " bytes; this server accepts at most " + cfg.maxBodyBytes());
    }

    // ---- completions ----

    private int complete(HttpExchange ex) throws IOException, ApiError, ClientGone {
        long t0 = System.nanoTime();
        long randomSeed;
        synchronized (seeds) {
            randomSeed = seeds.nextLong();
        }
        CompletionRequest r = CompletionRequest.parse(readBody(ex), lm.tokenizer(), cfg.maxTokens(), cfg.maxChoices(), randomSeed);
        if (admitted.incrementAndGet() > cfg.slots() + cfg.queue()) {
            admitted.decrementAndGet();
            throw new ApiError(429, "rate_limit_error", null, "server_busy",
                    "all " + cfg.slots() + " slots are busy and the queue of " + cfg.queue() + " is full; retry later");
        }
        Active a = new Active();
        active.add(a);
        try {
            long deadline = t0 + cfg.requestTimeout().toNanos();
            boolean got;
            try {
                got = slots.tryAcquire(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new ApiError(503, "service_unavailable", null, "shutting_down", "the server is shutting down");
            }
            if (!got) throw new ApiError(503, "service_unavailable", null, "timeout", "no slot became free within the request time bound of " + cfg.requestTimeout().toSeconds() + " s");
            running.incrementAndGet();
            try {
                if (a.cancelled) throw new ApiError(503, "service_unavailable", null, "shutting_down", "the server is shutting down");
                int status = r.stream() ? streamCompletion(ex, r, a, t0, deadline) : plainCompletion(ex, r, a, t0, deadline);
                metrics.completionLatency((System.nanoTime() - t0) / 1e9);
                return status;
            } finally {
                running.decrementAndGet();
                slots.release();
            }
        } finally {
            active.remove(a);
            admitted.decrementAndGet();
        }
    }

    /** One choice's generation settings: choice {@code i} uses seed {@code seed + i}. */
    private LanguageModel.Generation generation(CompletionRequest r, int i, long deadline) {
        long left = deadline - System.nanoTime();
        return new LanguageModel.Generation(r.maxTokens(), r.temperature(), r.topK(), r.topP(), r.seed() + i, r.dropUnknown(), r.stop(),
                Duration.ofNanos(Math.max(1, left)));
    }

    private static String finishReason(LanguageModel.Finish f) {
        return f == LanguageModel.Finish.STOP ? "stop" : "length";    // the time bound ends a choice like a length limit
    }

    private String head(String id) {
        StringBuilder sb = new StringBuilder("{\"id\":\"").append(id).append("\",\"object\":\"text_completion\",\"created\":")
                .append(System.currentTimeMillis() / 1000).append(",\"model\":");
        Jsons.quote(sb, cfg.modelName());
        return sb.toString();
    }

    private static String newId() {
        byte[] b = new byte[12];
        new java.security.SecureRandom().nextBytes(b);
        return "cmpl-" + HexFormat.of().formatHex(b);
    }

    private int plainCompletion(HttpExchange ex, CompletionRequest r, Active a, long t0, long deadline) throws IOException, ApiError {
        StringBuilder choices = new StringBuilder();
        long promptTokens = 0, completionTokens = 0;
        boolean[] first = {true};
        for (int p = 0; p < r.prompts().size(); p++) {
            for (int j = 0; j < r.n(); j++) {
                int i = p * r.n() + j;
                LanguageModel.Completion c = lm.complete(r.prompts().get(p), generation(r, i, deadline), t -> {
                    if (first[0]) {
                        first[0] = false;
                        metrics.timeToFirstToken((System.nanoTime() - t0) / 1e9);
                    }
                    metrics.characters(t.length());
                    return !a.cancelled;
                });
                if (c.outcome().finish() == LanguageModel.Finish.CANCELLED) {
                    throw new ApiError(503, "service_unavailable", null, "shutting_down", "the server is shutting down; the generation was cancelled");
                }
                if (j == 0) promptTokens += c.outcome().promptTokens();
                completionTokens += c.outcome().completionTokens();
                if (i > 0) choices.append(',');
                choices.append("{\"text\":");
                Jsons.quote(choices, c.text());
                choices.append(",\"index\":").append(i).append(",\"logprobs\":null,\"finish_reason\":\"")
                        .append(finishReason(c.outcome().finish())).append("\"}");
            }
        }
        String body = head(newId()) + ",\"choices\":[" + choices + "],\"usage\":" + usage(promptTokens, completionTokens) + "}";
        return sendJson(ex, 200, body);
    }

    private static String usage(long prompt, long completion) {
        return "{\"prompt_tokens\":" + prompt + ",\"completion_tokens\":" + completion + ",\"total_tokens\":" + (prompt + completion) + "}";
    }

    private int streamCompletion(HttpExchange ex, CompletionRequest r, Active a, long t0, long deadline) throws IOException, ClientGone {
        ex.getResponseHeaders().set("Content-Type", "text/event-stream; charset=utf-8");
        ex.getResponseHeaders().set("Cache-Control", "no-cache");
        ex.sendResponseHeaders(200, 0);
        OutputStream out = ex.getResponseBody();
        String head = head(newId());
        boolean[] first = {true}, gone = {false};
        long promptTokens = 0, completionTokens = 0;
        for (int p = 0; p < r.prompts().size(); p++) {
            for (int j = 0; j < r.n(); j++) {
                int i = p * r.n() + j;
                LanguageModel.Outcome o;
                try {
                    o = lm.stream(r.prompts().get(p), generation(r, i, deadline), t -> {
                        if (a.cancelled) return false;
                        if (first[0]) {
                            first[0] = false;
                            metrics.timeToFirstToken((System.nanoTime() - t0) / 1e9);
                        }
                        metrics.characters(t.length());
                        StringBuilder sb = new StringBuilder(head).append(",\"choices\":[{\"text\":");
                        Jsons.quote(sb, t);
                        sb.append(",\"index\":").append(i).append(",\"logprobs\":null,\"finish_reason\":null}]}");
                        if (!event(out, sb.toString())) {
                            gone[0] = true;
                            return false;
                        }
                        return true;
                    });
                } catch (RuntimeException e) {
                    // the status line is out: report the failure in the stream, then end it
                    log.accept("serve: 500 POST " + COMPLETIONS + " (streaming): " + e);
                    event(out, new ApiError(500, "server_error", null, null, "internal error: " + message(e)).json());
                    event(out, "[DONE]");
                    out.close();
                    return 500;
                }
                if (gone[0]) throw new ClientGone();
                if (o.finish() == LanguageModel.Finish.CANCELLED) {
                    log.accept("serve: 503 POST " + COMPLETIONS + " (streaming): cancelled by the shutdown");
                    event(out, new ApiError(503, "service_unavailable", null, "shutting_down", "the server is shutting down; the generation was cancelled").json());
                    event(out, "[DONE]");
                    out.close();
                    return 503;
                }
                if (j == 0) promptTokens += o.promptTokens();
                completionTokens += o.completionTokens();
                String end = head + ",\"choices\":[{\"text\":\"\",\"index\":" + i + ",\"logprobs\":null,\"finish_reason\":\""
                        + finishReason(o.finish()) + "\"}]}";
                if (!event(out, end)) throw new ClientGone();
            }
        }
        if (r.includeUsage() && !event(out, head + ",\"choices\":[],\"usage\":" + usage(promptTokens, completionTokens) + "}")) throw new ClientGone();
        if (!event(out, "[DONE]")) throw new ClientGone();
        out.close();
        return 200;
    }

    /** Writes one Server-Sent Event and flushes it; false when the client has gone. */
    private static boolean event(OutputStream out, String data) {
        try {
            out.write(("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8));
            out.flush();
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
