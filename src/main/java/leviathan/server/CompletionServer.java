package leviathan.server;

import static leviathan.server.Exchanges.allow;
import static leviathan.server.Exchanges.message;
import static leviathan.server.Exchanges.readBody;
import static leviathan.server.Exchanges.send;
import static leviathan.server.Exchanges.sendJson;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
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
import leviathan.server.Exchanges.ClientGone;

/**
 * An OpenAI-compatible completion server over one shared {@link LanguageModel}, with one virtual
 * thread per exchange. {@code slots} generations are in
 * progress at once; up to {@code queue} more wait for a slot (fair, first come first served), and
 * beyond that a request gets 429. The generations in progress take turns token by token
 * ({@link TokenTurns}: {@code turns} token steps compute at once, one per core by default, and a
 * generation's first token goes ahead), so a new request's first token never waits for another
 * request's whole generation. Endpoints: {@code POST /v1/completions}, {@code GET /v1/models},
 * {@code GET /health}, {@code GET /metrics}, {@code GET /} (the playground page). This class
 * admits requests, dispatches them and maps errors to responses; the completion responses (JSON
 * or Server-Sent Events) are written by {@link CompletionResponses}, the HTTP plumbing is in
 * {@link Exchanges}, the HTTP layer (Jetty) is set up by {@link HttpAccess}.
 */
public final class CompletionServer implements AutoCloseable {

    /**
     * Server settings: bind address and port (0 = any free port), concurrent generations, waiting
     * requests, API key ({@code null} = none), cap on {@code max_tokens}, cap on a request body
     * (bytes), time bound per completion request, cap on choices (prompts × n) per request, the
     * model id clients see, token steps computing at once, and the deadline of each write to a
     * client (one that reads nothing for that long is disconnected and its slot freed).
     */
    public record Config(String host, int port, int slots, int queue, String apiKey, int maxTokens, int maxBodyBytes,
                         Duration requestTimeout, int maxChoices, String modelName, int turns, Duration writeTimeout) {
        /** The default write deadline: 30 s. */
        public static final Duration WRITE_TIMEOUT = Duration.ofSeconds(30);

        public Config {
            if (writeTimeout == null || writeTimeout.isNegative() || writeTimeout.isZero()) throw new IllegalArgumentException("the write timeout must be positive");
            if (apiKey != null && apiKey.chars().anyMatch(c -> c < 0x21 || c > 0x7e)) {
                throw new IllegalArgumentException("the API key must be one line of printable ASCII without spaces (what an Authorization header carries)");
            }
            if (turns < 1 || turns > 4096) throw new IllegalArgumentException("turns must be in [1, 4096], got " + turns);
            if (port < 0 || port > 65535) throw new IllegalArgumentException("port must be in [0, 65535], got " + port);
            if (slots < 1 || slots > 4096) throw new IllegalArgumentException("slots must be in [1, 4096], got " + slots);
            if (queue < 0 || queue > 1_000_000) throw new IllegalArgumentException("queue must be in [0, 1000000], got " + queue);
            if (apiKey != null && apiKey.isBlank()) throw new IllegalArgumentException("the API key is empty");
            if (maxTokens < 1) throw new IllegalArgumentException("max tokens must be >= 1, got " + maxTokens);
            if (maxBodyBytes < 1) throw new IllegalArgumentException("max body must be >= 1 byte, got " + maxBodyBytes);
            if (requestTimeout == null || requestTimeout.isNegative() || requestTimeout.isZero()) throw new IllegalArgumentException("the request timeout must be positive");
            if (maxChoices < 1) throw new IllegalArgumentException("max choices must be >= 1, got " + maxChoices);
        }

        /** Settings with the default write deadline ({@link #WRITE_TIMEOUT}). */
        public Config(String host, int port, int slots, int queue, String apiKey, int maxTokens, int maxBodyBytes,
                      Duration requestTimeout, int maxChoices, String modelName, int turns) {
            this(host, port, slots, queue, apiKey, maxTokens, maxBodyBytes, requestTimeout, maxChoices, modelName, turns, WRITE_TIMEOUT);
        }

        /** Settings with one token step computing per core ({@code turns} = the core count). */
        public Config(String host, int port, int slots, int queue, String apiKey, int maxTokens, int maxBodyBytes,
                      Duration requestTimeout, int maxChoices, String modelName) {
            this(host, port, slots, queue, apiKey, maxTokens, maxBodyBytes, requestTimeout, maxChoices, modelName,
                    Runtime.getRuntime().availableProcessors());
        }

        /** Defaults: loopback, port 8080, one slot per core, queue 64, no key, 4096 tokens, 1 MiB, 300 s, 16 choices. */
        public static Config defaults(String modelName) {
            return new Config("127.0.0.1", 8080, Runtime.getRuntime().availableProcessors(), 64, null, 4096, 1 << 20,
                    Duration.ofSeconds(300), 16, modelName);
        }
    }

    static final String COMPLETIONS = "/v1/completions", CHAT = "/v1/chat/completions", MODELS = "/v1/models";

    /** What a request that the HTTP layer refuses (a bad Content-Length, a broken request line, ...) gets: OpenAI's error shape. */
    static final HttpAccess.Refusal REFUSAL = new HttpAccess.Refusal("application/json", (status, reason) ->
            status == 500 ? new ApiError(500, "server_error", null, null, "internal error: " + reason).json()
                    : new ApiError(status, "invalid_request_error", null, null, "malformed HTTP request: " + reason).json());

    private final LanguageModel lm;
    private final Config cfg;
    private final Consumer<String> log;
    private final HttpServer http;
    private final ExecutorService executor;
    private final Semaphore slots;
    private final TokenTurns turns;
    private final AtomicInteger admitted = new AtomicInteger(), running = new AtomicInteger(), exchanges = new AtomicInteger();
    private final Set<Active> active = ConcurrentHashMap.newKeySet();
    private final Metrics metrics;
    private final WriteDeadline writes;
    private final CompletionResponses responses;
    private final byte[] playground;
    private final long created = System.currentTimeMillis() / 1000;
    private final SplittableRandom seeds = new SplittableRandom();
    private volatile boolean draining;
    /** The first {@link Error} a request hit: from then on the server takes no more work. */
    private final java.util.concurrent.atomic.AtomicReference<Error> fatal = new java.util.concurrent.atomic.AtomicReference<>();
    private volatile Runnable onFatal = () -> { };
    /** Runs as each completion starts its generation, inside its slot: the tests inject faults here. */
    volatile Runnable beforeGeneration = () -> { };

    /** A completion request in flight; the drain cancels it by setting {@code cancelled}. */
    static final class Active {
        volatile boolean cancelled;
    }

    private CompletionServer(LanguageModel lm, Config cfg, Consumer<String> log) throws IOException {
        this.lm = lm;
        this.cfg = cfg;
        this.log = log;
        this.slots = new Semaphore(cfg.slots(), true);
        this.turns = new TokenTurns(cfg.turns());
        this.writes = new WriteDeadline(cfg.writeTimeout());
        this.metrics = new Metrics(cfg.slots(), () -> Math.max(0, admitted.get() - running.get()), running::get, writes::closes);
        this.responses = new CompletionResponses(lm, cfg.modelName(), metrics, log, turns, writes);
        try (InputStream in = CompletionServer.class.getResourceAsStream("playground.html")) {
            if (in == null) throw new IOException("playground.html is missing from the jar");
            this.playground = in.readAllBytes();
        }
        this.executor = Executors.newVirtualThreadPerTaskExecutor();
        // a request is quiet at most while it waits for a slot and generates (both within the request
        // time bound) and while one write waits (the write deadline): the connection outlives both
        this.http = HttpAccess.bind(cfg.host(), cfg.port(), cfg.apiKey(), "serve", executor,
                cfg.requestTimeout().plus(cfg.writeTimeout()).plusSeconds(5), REFUSAL, log);
        http.createContext("/", this::handle);
    }

    /**
     * Binds and starts serving; logs a warning when binding a non-loopback address without an API key
     * ({@link HttpAccess#bind}).
     */
    public static CompletionServer start(LanguageModel lm, Config cfg, Consumer<String> log) throws IOException {
        CompletionServer s = new CompletionServer(lm, cfg, log);
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
        writes.close();
        return cancelled;
    }

    @Override
    public void close() { shutdown(Duration.ZERO); }

    /**
     * The first {@link Error} (e.g. {@link OutOfMemoryError}) that a request hit, or null. After one,
     * the JVM's state is no longer trusted: every new request, {@code /health} included, gets 503,
     * completions already generating may finish, and the owner should {@link #shutdown} and exit
     * with a non-zero status ({@code serve} does).
     */
    public Error failure() { return fatal.get(); }

    /** Runs {@code r} once, when a request first hits an {@link Error} (at once if one already has). */
    public void onFailure(Runnable r) {
        java.util.concurrent.atomic.AtomicBoolean ran = new java.util.concurrent.atomic.AtomicBoolean();
        Runnable once = () -> {                     // a failure while registering must not run it twice
            if (ran.compareAndSet(false, true)) r.run();
        };
        onFatal = once;
        if (fatal.get() != null) once.run();
    }

    /** Records the first fatal error and tells the owner; later ones are only logged. */
    private void failed(Error e) {
        if (!fatal.compareAndSet(null, e)) return;
        log.accept("serve: fatal: " + e + "; no longer accepting work (every request and /health get 503)");
        onFatal.run();
    }

    private ApiError refusedAfterFailure() {
        return new ApiError(503, "service_unavailable", null, "server_failed",
                "the server stopped taking work after an internal error (" + message(fatal.get()) + ")");
    }

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
        String path = path(ex.getRequestURI()), method = ex.getRequestMethod();
        String endpoint = switch (path) {
            case "/", "/health", "/metrics", MODELS, COMPLETIONS, CHAT -> path;
            default -> path.startsWith(MODELS + "/") ? MODELS + "/{id}" : "other";
        };
        int status = 500;
        try {
            if (fatal.get() != null) throw refusedAfterFailure();
            if (draining) throw new ApiError(503, "service_unavailable", null, "shutting_down", "the server is shutting down");
            status = switch (endpoint) {
                case "/" -> {
                    allow(ex, "GET");
                    yield send(writes, ex, 200, "text/html; charset=utf-8", playground);
                }
                case "/health" -> {
                    allow(ex, "GET");
                    yield sendJson(writes, ex, 200, "{\"status\":\"ok\"}");
                }
                case "/metrics" -> {
                    authorize(ex);
                    allow(ex, "GET");
                    yield send(writes, ex, 200, "text/plain; version=0.0.4; charset=utf-8", metrics.text().getBytes(StandardCharsets.UTF_8));
                }
                case MODELS -> {
                    authorize(ex);
                    allow(ex, "GET");
                    yield sendJson(writes, ex, 200, "{\"object\":\"list\",\"data\":[" + modelJson() + "]}");
                }
                case MODELS + "/{id}" -> {
                    authorize(ex);
                    allow(ex, "GET");
                    if (!path.substring(MODELS.length() + 1).equals(cfg.modelName())) {
                        throw new ApiError(404, "invalid_request_error", "model", "model_not_found",
                                "the model '" + path.substring(MODELS.length() + 1) + "' does not exist; this server has '" + cfg.modelName() + "'");
                    }
                    yield sendJson(writes, ex, 200, modelJson());
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
                sendJson(writes, ex, e.status, e.json());
            } catch (IOException io) {
                status = 499;
            }
        } catch (ClientGone e) {
            status = 499;
            WriteDeadline.Expired late = writes.takeExpired();
            log.accept("serve: 499 " + method + " " + path + ": " + (late != null ? late.getMessage() : "the client went away"));
        } catch (WriteDeadline.Expired e) {
            status = 499;
            log.accept("serve: 499 " + method + " " + path + ": " + e.getMessage());
        } catch (IOException e) {
            status = 499;
            log.accept("serve: 499 " + method + " " + path + ": " + e.getMessage());
        } catch (RuntimeException | Error e) {
            status = 500;
            log.accept("serve: 500 " + method + " " + path + ": " + e);
            if (e instanceof Error fatalError) failed(fatalError);
            try {
                sendJson(writes, ex, 500, new ApiError(500, "server_error", null, null, "internal error: " + message(e)).json());
            } catch (IOException | RuntimeException ignored) {
                // the headers may already be out; nothing more can be said to this client
            }
        } finally {
            writes.takeExpired();
            metrics.request(endpoint, status);
            try {
                ex.close();
            } catch (RuntimeException closed) {
                // the client went away or the connection was aborted at the write deadline: nothing left to send
            } finally {
                exchanges.decrementAndGet();
            }
        }
    }

    /**
     * The request's path. (A target with an empty segment, such as {@code //v1/completions}, never
     * gets here: the HTTP layer refuses it as ambiguous, with a 400 in {@link #REFUSAL}'s shape.)
     */
    static String path(java.net.URI uri) {
        return uri.getPath() == null ? "" : uri.getPath();
    }

    private void authorize(HttpExchange ex) throws ApiError {
        if (!HttpAccess.authorized(ex, cfg.apiKey())) throw new ApiError(401, "invalid_request_error", null, "invalid_api_key", HttpAccess.refusal(ex));
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
        for (var parts : java.util.List.of(c.mixerOptions(), c.mlp().options())) {
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

    // ---- completions ----

    private int complete(HttpExchange ex) throws IOException, ApiError, ClientGone {
        long t0 = System.nanoTime();
        long randomSeed;
        synchronized (seeds) {
            randomSeed = seeds.nextLong();
        }
        CompletionRequest r = CompletionRequest.parse(readBody(ex, cfg.maxBodyBytes()), lm.tokenizer(), cfg.maxTokens(), cfg.maxChoices(), randomSeed);
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
                if (fatal.get() != null) throw refusedAfterFailure();     // queued before the failure: not started now
                beforeGeneration.run();
                int status = r.stream() ? responses.streamCompletion(ex, r, a, t0, deadline) : responses.plainCompletion(ex, r, a, t0, deadline);
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

}
