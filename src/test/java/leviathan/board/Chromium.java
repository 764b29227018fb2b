package leviathan.board;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.WebSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Base64;
import java.util.Collections;
import java.util.List;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionStage;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.BooleanSupplier;
import leviathan.model.Json;

/**
 * Headless Chromium driven over the DevTools protocol (a WebSocket from the JDK's HTTP client): one
 * page, JavaScript evaluated in it, screenshots. Started with a fresh profile and the flags that
 * keep it off the network and working as root.
 */
final class Chromium implements AutoCloseable {
    private final Process process;
    private final Path profile;
    private final WebSocket socket;
    private final Map<Integer, CompletableFuture<Map<String, Object>>> pending = new ConcurrentHashMap<>();
    private final AtomicInteger ids = new AtomicInteger();
    private final String session;
    /** Uncaught exceptions the page reported. */
    final List<String> pageErrors = Collections.synchronizedList(new ArrayList<>());

    /** The chromium binary on the PATH (or {@code -Dleviathan.chromium}), or null. */
    static Path find() {
        String given = System.getProperty("leviathan.chromium");
        if (given != null) return Files.isExecutable(Path.of(given)) ? Path.of(given) : null;
        for (String dir : System.getenv().getOrDefault("PATH", "").split(":")) {
            for (String name : List.of("chromium", "chromium-browser", "google-chrome")) {
                Path p = Path.of(dir.isEmpty() ? "." : dir, name);
                if (Files.isExecutable(p)) return p;
            }
        }
        return null;
    }

    Chromium(Path binary, int width, int height) throws Exception {
        profile = Files.createTempDirectory("board-chromium-");
        process = new ProcessBuilder(binary.toString(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync", "--hide-scrollbars",
                "--user-data-dir=" + profile, "--remote-debugging-port=0", "--window-size=" + width + "," + height, "about:blank")
                .redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        BufferedReader err = new BufferedReader(new InputStreamReader(process.getErrorStream(), StandardCharsets.UTF_8));
        CompletableFuture<String> endpoint = new CompletableFuture<>();
        Thread.ofPlatform().daemon().start(() -> {
            try {
                for (String line; (line = err.readLine()) != null; ) {
                    int at = line.indexOf("DevTools listening on ");
                    if (at >= 0) endpoint.complete(line.substring(at + "DevTools listening on ".length()).trim());
                }
                endpoint.completeExceptionally(new IOException("chromium exited before it listened"));
            } catch (IOException e) {
                endpoint.completeExceptionally(e);
            }
        });
        String ws;
        try {
            ws = endpoint.get(60, TimeUnit.SECONDS);
        } catch (Exception e) {
            close(null);
            throw e;
        }
        socket = HttpClient.newHttpClient().newWebSocketBuilder().connectTimeout(Duration.ofSeconds(10))
                .buildAsync(URI.create(ws), new Listener()).get(30, TimeUnit.SECONDS);
        String target = (String) call(null, "Target.createTarget", "{\"url\":\"about:blank\"}").get("targetId");
        session = (String) call(null, "Target.attachToTarget", "{\"targetId\":\"" + target + "\",\"flatten\":true}").get("sessionId");
        call(session, "Runtime.enable", "{}");
        call(session, "Page.enable", "{}");
        call(session, "Emulation.setDeviceMetricsOverride", "{\"width\":" + width + ",\"height\":" + height + ",\"deviceScaleFactor\":1,\"mobile\":false}");
    }

    /** Receives the protocol's messages: answers complete their call; uncaught page exceptions are kept. */
    private final class Listener implements WebSocket.Listener {
        private final StringBuilder text = new StringBuilder();

        @Override
        @SuppressWarnings("unchecked")
        public CompletionStage<?> onText(WebSocket ws, CharSequence data, boolean last) {
            text.append(data);
            if (last) {
                try {
                    Map<String, Object> m = (Map<String, Object>) Json.parse(text.toString());
                    if (m.get("id") instanceof Number id) {
                        CompletableFuture<Map<String, Object>> f = pending.remove(id.intValue());
                        if (f != null) f.complete(m);
                    } else if ("Runtime.exceptionThrown".equals(m.get("method"))) {
                        pageErrors.add(String.valueOf(m.get("params")));
                    }
                } catch (Json.ParseException e) {
                    // a message too deep for the strict parser is an event we do not use
                }
                text.setLength(0);
            }
            ws.request(1);
            return null;
        }
    }

    @SuppressWarnings("unchecked")
    private Map<String, Object> call(String sessionId, String method, String params) throws Exception {
        int id = ids.incrementAndGet();
        CompletableFuture<Map<String, Object>> f = new CompletableFuture<>();
        pending.put(id, f);
        socket.sendText("{\"id\":" + id + ",\"method\":\"" + method + "\",\"params\":" + params
                + (sessionId == null ? "" : ",\"sessionId\":\"" + sessionId + "\"") + "}", true).get(30, TimeUnit.SECONDS);
        Map<String, Object> answer = f.get(60, TimeUnit.SECONDS);
        if (answer.get("error") != null) throw new IOException(method + ": " + answer.get("error"));
        return (Map<String, Object>) answer.get("result");
    }

    void navigate(String url) throws Exception {
        StringBuilder sb = new StringBuilder("{\"url\":");
        Json.quote(sb, url);
        call(session, "Page.navigate", sb.append('}').toString());
    }

    /** The value of the JavaScript expression {@code js}, passed through JSON.stringify and parsed back. */
    Object eval(String js) throws Exception {
        StringBuilder sb = new StringBuilder("{\"expression\":");
        Json.quote(sb, "JSON.stringify((() => { return " + js + "; })())");
        Map<String, Object> r = call(session, "Runtime.evaluate", sb.append(",\"returnByValue\":true}").toString());
        if (r.get("exceptionDetails") != null) throw new IOException("page error in " + js + ": " + r.get("exceptionDetails"));
        Object v = ((Map<?, ?>) r.get("result")).get("value");
        return v == null ? null : Json.parse((String) v);
    }

    /** Waits up to {@code seconds} for {@code condition}; false when it never held. */
    static boolean await(double seconds, BooleanSupplier condition) throws InterruptedException {
        long end = System.nanoTime() + (long) (seconds * 1e9);
        while (System.nanoTime() < end) {
            if (condition.getAsBoolean()) return true;
            Thread.sleep(100);
        }
        return condition.getAsBoolean();
    }

    /** A PNG of the whole page (the viewport grown to the document's height). */
    void screenshot(Path file, int width) throws Exception {
        int height = ((Number) eval("Math.ceil(document.documentElement.scrollHeight)")).intValue();
        call(session, "Emulation.setDeviceMetricsOverride", "{\"width\":" + width + ",\"height\":" + height + ",\"deviceScaleFactor\":1,\"mobile\":false}");
        Thread.sleep(400);                                              // charts follow the new size
        Map<String, Object> r = call(session, "Page.captureScreenshot", "{\"format\":\"png\"}");
        Files.createDirectories(file.toAbsolutePath().getParent());
        Files.write(file, Base64.getDecoder().decode((String) r.get("data")));
    }

    @Override
    public void close() { close(socket); }

    private void close(WebSocket ws) {
        if (ws != null) ws.sendClose(WebSocket.NORMAL_CLOSURE, "").orTimeout(5, TimeUnit.SECONDS).exceptionally(t -> null).join();
        process.destroy();
        try {
            if (!process.waitFor(10, TimeUnit.SECONDS)) process.destroyForcibly().waitFor(10, TimeUnit.SECONDS);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        try (var all = Files.walk(profile)) {
            all.sorted(java.util.Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        } catch (IOException ignored) {
            // a temp directory left behind
        }
    }
}
