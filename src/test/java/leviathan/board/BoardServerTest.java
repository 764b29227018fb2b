package leviathan.board;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URI;
import java.net.URLEncoder;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.stream.Stream;
import leviathan.model.Json;
import leviathan.train.RunDirectory;
import leviathan.train.TrainConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The board over HTTP, with a real client: the run list, a run's detail, live reading, bad runs, the API key, and scale. */
class BoardServerTest {
    static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(10)).build();

    @TempDir
    Path tmp;

    static HttpResponse<String> get(BoardServer s, String path, String key) throws IOException, InterruptedException {
        HttpRequest.Builder b = HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + s.port() + path)).timeout(Duration.ofSeconds(30));
        if (key != null) b.header("Authorization", "Bearer " + key);
        return HTTP.send(b.build(), HttpResponse.BodyHandlers.ofString());
    }

    @SuppressWarnings("unchecked")
    static Map<String, Object> json(HttpResponse<String> r) throws Json.ParseException {
        assertEquals(200, r.statusCode(), r.body());
        return (Map<String, Object>) Json.parse(r.body());
    }

    @SuppressWarnings("unchecked")
    static Map<String, Map<String, Object>> runsByName(BoardServer s) throws Exception {
        Map<String, Map<String, Object>> out = new TreeMap<>();
        for (Object o : (List<Object>) json(get(s, "/api/runs", null)).get("runs")) {
            Map<String, Object> r = (Map<String, Object>) o;
            out.put((String) r.get("name"), r);
        }
        return out;
    }

    static Map<String, Object> detail(BoardServer s, Map<String, Object> run) throws Exception {
        return json(get(s, "/api/run?id=" + URLEncoder.encode((String) run.get("id"), StandardCharsets.UTF_8), null));
    }

    static BoardServer start(Path dir, String key) throws IOException {
        return BoardServer.start(List.of(dir), "127.0.0.1", 0, key, Duration.ofMillis(50), System.err::println);
    }

    /** Waits until the board's background refresh has seen the files as they are now. */
    static void settle() throws InterruptedException { Thread.sleep(300); }

    @Test
    @SuppressWarnings("unchecked")
    void listsRunsShowsTheirCurvesAndTheLearnedLagBias() throws Exception {
        TrainConfig corr = RunFixtures.config("correlation", "dense", 100);
        Path a = RunFixtures.run(tmp, "corr", corr);
        RunFixtures.appendSteps(a, -1, 100, 10, 0, 0);
        RunFixtures.model(a, corr);
        RunDirectory.writeSample(a, "To be, or not to be");
        Path b = RunFixtures.run(tmp, "inv-moe", RunFixtures.config("involution", "moe", 400));
        RunFixtures.appendSteps(b, -1, 120, 10, 1, 3);
        try (BoardServer s = start(tmp, null)) {
            Map<String, Map<String, Object>> runs = runsByName(s);
            assertEquals(List.of("corr", "inv-moe"), List.copyOf(runs.keySet()));
            Map<String, Object> r = runs.get("corr");
            assertEquals("finished", r.get("state"));
            assertEquals(100L, r.get("step"));
            assertEquals("correlation lags=3", r.get("mixer"));
            assertEquals("2L 2H 16C T16", r.get("shape"));
            double best = Stream.of(0, 50, 100).mapToDouble(st -> RunFixtures.loss(st, 0) + 0.05).min().orElseThrow();
            assertEquals(best, ((Number) r.get("best_val")).doubleValue(), 1e-5);
            assertEquals(best / Math.log(2), ((Number) r.get("best_bpc")).doubleValue(), 1e-5);
            assertEquals("stopped", runs.get("inv-moe").get("state"));
            assertEquals("moe expert_hidden=32 n_expert=3 top_k=2", runs.get("inv-moe").get("mlp"), "expert_hidden: 4·n_embd/top_k");

            Map<String, Object> d = detail(s, r);
            assertEquals("To be, or not to be", d.get("sample"));
            Map<String, Object> train = (Map<String, Object>) d.get("train"), val = (Map<String, Object>) d.get("val");
            assertEquals(11, ((List<?>) train.get("step")).size(), "steps 0, 10, ..., 100");
            assertEquals(RunFixtures.loss(70, 0), ((Number) ((List<?>) train.get("loss")).get(7)).doubleValue(), 1e-5);
            assertEquals(List.of(0L, 50L, 100L), val.get("step"));
            assertEquals(List.of(0L, 2.5, 5L), val.get("time"), "wall-clock seconds of the evaluations");
            List<Map<String, Object>> maps = (List<Map<String, Object>>) d.get("heatmaps");
            assertEquals(2, maps.size(), "one lag-bias map per layer");
            for (int l = 0; l < 2; l++) {
                Map<String, Object> m = maps.get(l);
                assertEquals("h." + l + ".attn.lag_bias", m.get("tensor"));
                assertEquals(2L, m.get("rows"));
                assertEquals(3L, m.get("cols"));
                assertEquals(-1L, m.get("first_col"), "three lags: L = {-1, 0, 1}");
                List<?> v = (List<?>) m.get("values");
                for (int h = 0; h < 2; h++) {
                    for (int n = 0; n < 3; n++) {
                        assertEquals(RunFixtures.lagBias(l, h, n), ((Number) v.get(h * 3 + n)).doubleValue(), 1e-6, "layer " + l + " head " + h + " lag " + n);
                    }
                }
            }
            Map<String, Object> moe = detail(s, runs.get("inv-moe"));
            List<Map<String, Object>> loads = (List<Map<String, Object>>) moe.get("loads");
            assertEquals(2, loads.size(), "two layers of expert loads");
            List<?> experts = (List<?>) loads.get(1).get("experts");
            assertEquals(3, experts.size());
            assertEquals(13, ((List<?>) experts.get(2)).size(), "one load per training row (steps 0, 10, ..., 120)");
            assertEquals(0.5, ((Number) ((List<?>) experts.get(2)).get(0)).doubleValue(), 1e-6);
            assertEquals(List.of(), moe.get("heatmaps"), "no model file yet");
        }
    }

    @Test
    void aTornLastLineWaitsAndAppendedRowsArrive() throws Exception {
        Path a = RunFixtures.run(tmp, "live", RunFixtures.config("correlation", "dense", 1000));
        RunFixtures.appendSteps(a, -1, 20, 10, 0, 0);
        String row = RunFixtures.trainRow(30, 0, 0);
        RunFixtures.append(a, row.substring(0, 17));                      // a row cut in the middle, as a kill leaves it
        try (BoardServer s = start(tmp, null)) {
            Map<String, Object> r = runsByName(s).get("live");
            assertEquals(null, r.get("error"));
            assertEquals(20L, r.get("step"), "the torn row is not read yet");
            long v = ((Number) json(get(s, "/api/runs", null)).get("version")).longValue();
            assertEquals(Boolean.TRUE, json(get(s, "/api/runs?since=" + v, null)).get("unchanged"));
            RunFixtures.append(a, row.substring(17));
            settle();
            Map<String, Object> after = json(get(s, "/api/runs?since=" + v, null));
            assertEquals(null, after.get("unchanged"));
            assertEquals(30L, runsByName(s).get("live").get("step"));
            RunFixtures.appendSteps(a, 30, 60, 10, 0, 0);
            settle();
            assertEquals(60L, runsByName(s).get("live").get("step"));
            // a resume rewrites the file shorter: it is read again from the start
            Files.writeString(a.resolve(RunDirectory.METRICS_FILE), RunFixtures.trainRow(10, 0, 0));
            settle();
            assertEquals(10L, runsByName(s).get("live").get("step"));
            // new runs are picked up
            Path b = RunFixtures.run(tmp, "late", RunFixtures.config("dot", "dense", 50));
            RunFixtures.appendSteps(b, -1, 50, 10, 2, 0);
            settle();
            assertEquals("finished", runsByName(s).get("late").get("state"));
        }
    }

    @Test
    void corruptFilesMakeOnlyThatRunUnreadable() throws Exception {
        Path good = RunFixtures.run(tmp, "good", RunFixtures.config("correlation", "dense", 100));
        RunFixtures.appendSteps(good, -1, 100, 10, 0, 0);
        Path badJson = Files.createDirectories(tmp.resolve("bad-config"));
        Files.writeString(badJson.resolve(RunDirectory.CONFIG_FILE), "{\"n_layer\": 2,");
        Path badKey = Files.createDirectories(tmp.resolve("bad-kind"));
        Files.writeString(badKey.resolve(RunDirectory.CONFIG_FILE), "{\"attention\": \"telepathy\"}");
        Path badMetrics = RunFixtures.run(tmp, "bad-metrics", RunFixtures.config("correlation", "dense", 100));
        RunFixtures.appendSteps(badMetrics, -1, 20, 10, 0, 0);
        RunFixtures.append(badMetrics, "{\"step\": 25, oops}\n");
        RunFixtures.appendSteps(badMetrics, 25, 40, 10, 0, 0);
        Path noConfig = Files.createDirectories(tmp.resolve("no-config"));
        RunFixtures.appendSteps(noConfig, -1, 20, 10, 0, 0);
        Path badModel = RunFixtures.run(tmp, "bad-model", RunFixtures.config("correlation", "dense", 20));
        RunFixtures.appendSteps(badModel, -1, 20, 10, 0, 0);
        Files.writeString(badModel.resolve(RunDirectory.MODEL_FILE), "not a safetensors file");
        Files.createDirectories(tmp.resolve("not-a-run"));
        try (BoardServer s = start(tmp, null)) {
            Map<String, Map<String, Object>> runs = runsByName(s);
            assertEquals(List.of("bad-config", "bad-kind", "bad-metrics", "bad-model", "good", "no-config"), List.copyOf(runs.keySet()));
            assertEquals("finished", runs.get("good").get("state"));
            for (String n : List.of("bad-config", "bad-kind", "bad-metrics", "no-config")) assertEquals("unreadable", runs.get(n).get("state"), n);
            assertTrue(runs.get("bad-config").get("error").toString().startsWith("config.json is not valid JSON"), runs.get("bad-config").toString());
            assertTrue(runs.get("bad-kind").get("error").toString().contains("telepathy"), runs.get("bad-kind").toString());
            assertTrue(runs.get("bad-metrics").get("error").toString().startsWith("metrics.jsonl line 5: not JSON"), runs.get("bad-metrics").toString());
            assertEquals("no config.json", runs.get("no-config").get("error"));
            Map<String, Object> d = detail(s, runs.get("bad-model"));
            assertEquals("finished", runs.get("bad-model").get("state"), "a bad model file leaves the curves");
            assertNotNull(d.get("weights_error"));
            assertTrue(d.get("weights_error").toString().startsWith("cannot read model.safetensors"), d.toString());
            // a fixed config is read again
            Files.writeString(badJson.resolve(RunDirectory.CONFIG_FILE), RunFixtures.config("dot", "dense", 10).toJson());
            settle();
            assertEquals("stopped", runsByName(s).get("bad-config").get("state"));
        }
    }

    @Test
    void theStateFollowsTheProcessThatHoldsTheLock() throws Exception {
        Path a = RunFixtures.run(tmp, "r", RunFixtures.config("correlation", "dense", 100));
        RunFixtures.appendSteps(a, -1, 40, 10, 0, 0);
        Files.writeString(a.resolve(RunDirectory.LOCK_FILE), ProcessHandle.current().pid() + "\n");
        try (BoardServer s = start(tmp, null)) {
            assertEquals("running", runsByName(s).get("r").get("state"));
            Files.writeString(a.resolve(RunDirectory.LOCK_FILE), "");          // a training that ended empties it
            settle();
            assertEquals("stopped", runsByName(s).get("r").get("state"));
        }
    }

    @Test
    void neverWritesIntoRunDirectories() throws Exception {
        TrainConfig cfg = RunFixtures.config("correlation", "dense", 100);
        Path a = RunFixtures.run(tmp, "a", cfg);
        RunFixtures.appendSteps(a, -1, 100, 10, 0, 0);
        RunFixtures.model(a, cfg);
        Files.writeString(a.resolve(RunDirectory.LOCK_FILE), "");
        Map<String, String> before = snapshot(tmp);
        try (BoardServer s = start(tmp, null)) {
            for (var r : runsByName(s).values()) detail(s, r);
            settle();
            for (var r : runsByName(s).values()) detail(s, r);
        }
        assertEquals(before, snapshot(tmp));
    }

    /** A request the HTTP layer refuses while parsing gets one line of text, like the board's other errors. */
    @Test
    void malformedHttpGetsOneLineOfText() throws Exception {
        try (BoardServer s = start(tmp, null)) {
            String[] r = leviathan.server.HostileClientsTest.raw(s.port(), "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n");
            assertTrue(r[0].startsWith("HTTP/1.1 400 "), r[0]);
            assertTrue(r[1].toLowerCase(java.util.Locale.ROOT).contains("content-type: text/plain"), r[1]);
            assertEquals("Invalid Content-Length Value\n", r[2]);
            assertEquals(200, get(s, "/", null).statusCode(), "the board serves on");
        }
    }

    /** Every path under {@code root} with its size and modification time. */
    static Map<String, String> snapshot(Path root) throws IOException {
        Map<String, String> m = new TreeMap<>();
        try (Stream<Path> all = Files.walk(root)) {
            for (Path p : (Iterable<Path>) all::iterator) {
                BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
                m.put(root.relativize(p).toString(), a.size() + " " + a.lastModifiedTime().toMillis() + " " + a.isDirectory());
            }
        }
        return m;
    }

    @Test
    void theApiKeyGuardsTheRunDataButNotThePage() throws Exception {
        Path a = RunFixtures.run(tmp, "a", RunFixtures.config("correlation", "dense", 100));
        RunFixtures.appendSteps(a, -1, 20, 10, 0, 0);
        try (BoardServer s = start(tmp, "s3cret")) {
            assertEquals(401, get(s, "/api/runs", null).statusCode());
            assertEquals(401, get(s, "/api/runs", "wrong").statusCode());
            assertEquals(200, get(s, "/api/runs", "s3cret").statusCode());
            HttpResponse<String> page = get(s, "/", null);
            assertEquals(200, page.statusCode());
            assertTrue(page.body().contains("vendor/uPlot.iife.min.js"));
            HttpResponse<String> lib = get(s, "/vendor/uPlot.iife.min.js", null);
            assertEquals(200, lib.statusCode());
            assertTrue(lib.body().contains("uPlot"), "the vendored library is served from the jar");
            assertEquals(404, get(s, "/nothing", null).statusCode());
        }
    }

    /**
     * 500 runs of 2,000 steps: the page (HTML, script, library, run list and the detail of one run)
     * loads within a second once the board has read them. Rows per run: a training row every
     * {@code leviathan.board.logEvery} steps (default 10: 200 rows plus 40 evaluations; train's
     * default of 50 writes fewer).
     */
    @Test
    void fiveHundredRunsLoadWithinASecond() throws Exception {
        int every = Integer.getInteger("leviathan.board.logEvery", 10);
        TrainConfig cfg = RunFixtures.config("correlation", "dense", 2000);
        for (int i = 0; i < 500; i++) {
            Path d = RunFixtures.run(tmp, String.format("run-%03d", i), cfg);
            RunFixtures.appendSteps(d, -1, 2000, every, i % 7, 0);
        }
        long t0 = System.nanoTime();
        try (BoardServer s = start(tmp, null)) {
            double readSeconds = (System.nanoTime() - t0) / 1e9;
            assertEquals(500, s.runCount());
            for (int round = 0; round < 2; round++) {                      // the first round warms the JIT up
                long p0 = System.nanoTime();
                for (String f : List.of("/", "/board.js", "/board.css", "/vendor/uPlot.iife.min.js", "/vendor/uPlot.min.css")) {
                    assertEquals(200, get(s, f, null).statusCode());
                }
                Map<String, Object> list = json(get(s, "/api/runs", null));
                assertEquals(500, ((List<?>) list.get("runs")).size());
                Map<String, Object> d = json(get(s, "/api/run?id=0:run-123", null));
                assertEquals(2000 / every + 1, ((List<?>) ((Map<?, ?>) d.get("train")).get("step")).size());
                double pageSeconds = (System.nanoTime() - p0) / 1e9;
                System.out.printf("board: 500 runs x 2000 steps (a row every %d): read in %.2f s, page load %.3f s (round %d)%n",
                        every, readSeconds, pageSeconds, round);
                if (round == 1) assertTrue(pageSeconds < 1.0, "page load took " + pageSeconds + " s");
            }
        }
    }
}
