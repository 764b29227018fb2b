package leviathan.board;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.function.Consumer;
import java.util.zip.GZIPOutputStream;
import leviathan.server.HttpAccess;

/**
 * The run board: a page that lists the runs under some directories ({@link RunIndex}), plots their
 * losses, and shows what each model learned. The page is static (HTML, script, the vendored uPlot);
 * it polls {@code GET /api/runs?since=V}, which answers in a few bytes while nothing changed, and
 * fetches {@code GET /api/run?id=ID} for the runs it shows. A background thread refreshes the
 * index every {@code interval}. With an API key, the {@code /api/} endpoints need it as a bearer
 * token (the page asks for it); the static files hold no run data.
 */
public final class BoardServer implements AutoCloseable {
    /** A static file of the page: its resource next to this class, and its content type. */
    private record Asset(String resource, String type) {}

    private static final String JS = "text/javascript; charset=utf-8", CSS = "text/css; charset=utf-8", TEXT = "text/plain; charset=utf-8";
    /** The page's files by request path. */
    /** What a request that the HTTP layer refuses gets: one line of text, like the board's other errors. */
    private static final HttpAccess.Refusal REFUSAL = new HttpAccess.Refusal(TEXT, (status, reason) -> reason + "\n");
    private static final Map<String, Asset> ASSETS = Map.of(
            "/", new Asset("index.html", "text/html; charset=utf-8"),
            "/board.js", new Asset("board.js", JS),
            "/board.css", new Asset("board.css", CSS),
            "/vendor/uPlot.iife.min.js", new Asset("vendor/uPlot.iife.min.js", JS),
            "/vendor/uPlot.min.css", new Asset("vendor/uPlot.min.css", CSS),
            "/vendor/uPlot.LICENSE", new Asset("vendor/uPlot.LICENSE", TEXT),
            "/vendor/VERSION", new Asset("vendor/VERSION", TEXT));

    private final RunIndex index;
    private final String apiKey;
    private final Consumer<String> log;
    private final HttpServer http;
    private final ExecutorService executor = Executors.newVirtualThreadPerTaskExecutor();
    private final Map<String, byte[]> files = new HashMap<>();
    private final Thread poller;

    private BoardServer(List<Path> dirs, String host, int port, String apiKey, Duration interval, Consumer<String> log) throws IOException {
        this.index = new RunIndex(dirs);
        this.apiKey = apiKey;
        this.log = log;
        for (Asset a : ASSETS.values()) {
            try (InputStream in = BoardServer.class.getResourceAsStream(a.resource())) {
                if (in == null) throw new IOException(a.resource() + " is missing from the jar");
                files.put(a.resource(), in.readAllBytes());
            }
        }
        index.refresh();
        this.http = HttpAccess.bind(host, port, apiKey, "board", executor, Duration.ofSeconds(30), REFUSAL, log);
        http.createContext("/", this::handle);
        long ms = Math.max(10, interval.toMillis());
        this.poller = Thread.ofPlatform().daemon().name("board-refresh").unstarted(() -> {
            while (!Thread.currentThread().isInterrupted()) {
                try {
                    Thread.sleep(ms);
                } catch (InterruptedException e) {
                    return;
                }
                index.refresh();
            }
        });
    }

    /**
     * Reads the runs under {@code dirs} once, binds {@code host:port} (0 = any free port) and starts
     * serving, refreshing every {@code interval}.
     */
    public static BoardServer start(List<Path> dirs, String host, int port, String apiKey, Duration interval, Consumer<String> log)
            throws IOException {
        BoardServer s = new BoardServer(dirs, host, port, apiKey, interval, log);
        s.http.start();
        s.poller.start();
        return s;
    }

    /** The port it listens on. */
    public int port() { return http.getAddress().getPort(); }

    /** The number of runs found so far. */
    public int runCount() { return index.runs().size(); }

    @Override
    public void close() {
        poller.interrupt();
        http.stop(0);
        executor.shutdownNow();
    }

    private void handle(HttpExchange ex) {
        String path = ex.getRequestURI().getPath();
        try {
            if (!ex.getRequestMethod().equals("GET") && !ex.getRequestMethod().equals("HEAD")) {
                ex.getResponseHeaders().set("Allow", "GET, HEAD");
                send(ex, 405, "text/plain; charset=utf-8", "use GET\n");
                return;
            }
            Asset asset = ASSETS.get(path);
            if (asset != null) {
                ex.getResponseHeaders().set("Cache-Control", "no-cache");
                send(ex, 200, asset.type(), files.get(asset.resource()));
                return;
            }
            if (!path.startsWith("/api/")) {
                send(ex, 404, "text/plain; charset=utf-8", "no such page: " + path + "\n");
                return;
            }
            if (!HttpAccess.authorized(ex, apiKey)) {
                ex.getResponseHeaders().set("WWW-Authenticate", "Bearer");
                sendError(ex, 401, HttpAccess.refusal(ex));
                return;
            }
            Map<String, String> q = query(ex.getRequestURI().getRawQuery());
            switch (path) {
                case "/api/runs" -> sendJson(ex, 200, runsJson(q.get("since")));
                case "/api/run" -> {
                    Run run = q.get("id") == null ? null : index.get(q.get("id"));
                    if (run == null) {
                        sendError(ex, 404, "no run with id " + q.get("id"));
                        return;
                    }
                    StringBuilder sb = new StringBuilder(4096);
                    run.detailJson(sb);
                    sendJson(ex, 200, sb.toString());
                }
                default -> sendError(ex, 404, "no such endpoint: " + path);
            }
        } catch (IOException e) {
            // the client went away
        } catch (RuntimeException | Error e) {
            log.accept("board: 500 " + path + ": " + e);
            try {
                sendError(ex, 500, "internal error: " + e);
            } catch (IOException | RuntimeException ignored) {
                // the headers may already be out
            }
        } finally {
            ex.close();
        }
    }

    /** The run list, or only the version when it is still {@code since}. */
    private String runsJson(String since) {
        long v = index.version();
        if (since != null && since.equals(Long.toString(v))) return "{\"version\":" + v + ",\"unchanged\":true}";
        List<Run> runs = index.runs();
        StringBuilder sb = new StringBuilder(256 + runs.size() * 320);
        sb.append("{\"version\":").append(v).append(",\"dirs\":[");
        for (int i = 0; i < index.roots().size(); i++) {
            if (i > 0) sb.append(',');
            JsonText.string(sb, index.roots().get(i).toString());
        }
        sb.append("],\"runs\":[");
        for (int i = 0; i < runs.size(); i++) {
            if (i > 0) sb.append(',');
            runs.get(i).summaryJson(sb);
        }
        return sb.append("]}").toString();
    }

    private static Map<String, String> query(String raw) {
        Map<String, String> q = new HashMap<>();
        if (raw == null) return q;
        for (String kv : raw.split("&")) {
            int eq = kv.indexOf('=');
            if (eq > 0) q.put(URLDecoder.decode(kv.substring(0, eq), StandardCharsets.UTF_8), URLDecoder.decode(kv.substring(eq + 1), StandardCharsets.UTF_8));
        }
        return q;
    }

    private static void sendError(HttpExchange ex, int status, String message) throws IOException {
        StringBuilder sb = new StringBuilder("{\"error\":");
        JsonText.string(sb, message);
        sendJson(ex, status, sb.append('}').toString());
    }

    private static void sendJson(HttpExchange ex, int status, String json) throws IOException {
        ex.getResponseHeaders().set("Cache-Control", "no-store");
        send(ex, status, "application/json", json.getBytes(StandardCharsets.UTF_8));
    }

    private static void send(HttpExchange ex, int status, String type, String body) throws IOException {
        send(ex, status, type, body.getBytes(StandardCharsets.UTF_8));
    }

    /** Sends {@code body}, gzipped when it is large and the client accepts it (a run list of hundreds of runs). */
    private static void send(HttpExchange ex, int status, String type, byte[] body) throws IOException {
        ex.getResponseHeaders().set("Content-Type", type);
        String accept = ex.getRequestHeaders().getFirst("Accept-Encoding");
        if (body.length > 8192 && accept != null && accept.contains("gzip")) {
            var buf = new java.io.ByteArrayOutputStream(body.length / 4);
            try (GZIPOutputStream gz = new GZIPOutputStream(buf)) {
                gz.write(body);
            }
            body = buf.toByteArray();
            ex.getResponseHeaders().set("Content-Encoding", "gzip");
        }
        boolean head = ex.getRequestMethod().equals("HEAD");
        ex.sendResponseHeaders(status, head || body.length == 0 ? -1 : body.length);
        if (!head) {
            try (OutputStream out = ex.getResponseBody()) {
                out.write(body);
            }
        }
    }
}
