package leviathan.board;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.atomic.AtomicBoolean;
import leviathan.train.RunDirectory;
import leviathan.train.TrainConfig;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.condition.EnabledIfSystemProperty;
import org.junit.jupiter.api.io.TempDir;

/**
 * The board's page in a real browser (headless Chromium over the DevTools protocol) against a
 * board serving a few tiny runs, one of them still being appended to: the run names, one loss
 * chart per selected run, the step count of the live run rising, the heat maps, the comparison of
 * two runs, the unreadable run, filtering and the wall-clock axis, with no script error. Skipped
 * when chromium is not installed ({@code apt-get install chromium}); under {@code CI=true}, where
 * {@code .ci/run} installs it, a missing chromium fails instead.
 * With {@code -Dleviathan.board.screenshots=DIR} it also saves {@code board-*.png} there.
 */
class BoardBrowserTest {
    @TempDir
    Path tmp;

    @Test
    void thePageShowsComparesAndFollowsRuns() throws Exception {
        Path chromium = Chromium.find();
        requireChromium(chromium);
        TrainConfig corrCfg = RunFixtures.config("correlation", "dense", 300);
        Path corr = RunFixtures.run(tmp, "corr", corrCfg);
        RunFixtures.appendSteps(corr, -1, 300, 10, 0, 0);
        RunFixtures.model(corr, corrCfg);
        RunDirectory.writeSample(corr, "ROMEO:\nWhat light through yonder window breaks?\n");
        Path dot = RunFixtures.run(tmp, "dot", RunFixtures.config("dot", "dense", 300));
        RunFixtures.appendSteps(dot, -1, 300, 10, 3, 0);
        Path moe = RunFixtures.run(tmp, "moe", RunFixtures.config("correlation", "moe", 600));
        RunFixtures.appendSteps(moe, -1, 250, 10, 5, 3);
        Files.createDirectories(tmp.resolve("broken"));
        Files.writeString(tmp.resolve("broken").resolve(RunDirectory.CONFIG_FILE), "{\"n_layer\": ");
        Path live = RunFixtures.run(tmp, "live", RunFixtures.config("correlation", "dense", 100_000));
        RunFixtures.appendSteps(live, -1, 20, 10, 1, 0);
        Files.writeString(live.resolve(RunDirectory.LOCK_FILE), ProcessHandle.current().pid() + "\n");   // held, as by a training

        AtomicBoolean training = new AtomicBoolean(true);
        Thread writer = Thread.ofPlatform().daemon().start(() -> {                 // the live run: 10 steps every 150 ms
            try {
                for (int step = 20; training.get(); step += 10) {
                    RunFixtures.appendSteps(live, step, step + 10, 10, 1, 0);
                    Thread.sleep(150);
                }
            } catch (Exception e) {
                throw new RuntimeException(e);
            }
        });
        String shots = System.getProperty("leviathan.board.screenshots");
        try (BoardServer board = BoardServer.start(List.of(tmp), "127.0.0.1", 0, null, Duration.ofMillis(100), System.err::println);
             Chromium page = new Chromium(chromium, 1400, 1000)) {
            page.navigate("http://127.0.0.1:" + board.port() + "/");
            assertTrue(Chromium.await(30, () -> count(page, "#runs tbody tr") == 5), "the list shows the five runs");
            assertEquals(List.of("broken", "corr", "dot", "live", "moe"),
                    page.eval("[...document.querySelectorAll('#runs td.name')].map(e => e.textContent).sort()"));
            // the most recently updated run is shown first: the live one
            assertTrue(Chromium.await(10, () -> count(page, ".panel .loss-chart .uplot") == 1), "one chart for the one selected run");
            assertEquals("live", page.eval("document.querySelector('.panel h2').textContent.trim().split(' ')[0]"));
            assertEquals("running", page.eval("document.querySelector('tr[data-run=\"0:live\"] .state').textContent"));
            long first = step(page, "0:live");
            assertTrue(Chromium.await(10, () -> step(page, "0:live") >= first + 30), "the live run's step count rises past " + first);
            long points = points(page);
            assertTrue(Chromium.await(10, () -> points(page) >= points + 3), "the chart's data grows with it (" + points + " rows)");
            // hovering the chart reads out the losses at the cursor, with their bpc
            String readout = page.eval("(() => { const o = document.querySelector('.panel .loss-chart .u-over'), r = o.getBoundingClientRect();"
                    + " o.dispatchEvent(new MouseEvent('mousemove', {clientX: r.left + r.width * 0.4, clientY: r.top + r.height / 2, bubbles: true}));"
                    + " return document.querySelector('.panel .loss-chart .u-legend .u-series:nth-child(2) .u-value').textContent; })()").toString();
            assertTrue(readout.matches("\\d\\.\\d{4} \\(\\d\\.\\d{3} bpc\\)"), "hover read-out: " + readout);

            // the unreadable run says why, in its row
            assertEquals("unreadable", page.eval("document.querySelector('tr[data-run=\"0:broken\"] .state').textContent"));
            assertTrue(page.eval("document.querySelector('tr[data-run=\"0:broken\"] td.error').textContent").toString()
                    .startsWith("config.json is not valid JSON"));

            // select two more: one chart each, the heat maps of the correlation run, the comparison
            page.eval("document.querySelector('tr[data-run=\"0:corr\"]').click()");
            page.eval("document.querySelector('tr[data-run=\"0:moe\"]').click()");
            assertTrue(Chromium.await(10, () -> count(page, ".panel .loss-chart .uplot") == 3), "one chart per selected run (3)");
            assertTrue(Chromium.await(10, () -> count(page, ".panel[data-run=\"0:corr\"] .heatmap canvas") == 2), "one lag-bias map per layer");
            assertEquals(2L, (long) count(page, ".panel[data-run=\"0:moe\"] .load-chart .uplot"), "expert loads of both layers");
            assertTrue(page.eval("document.querySelector('.panel[data-run=\"0:corr\"] pre.sample').textContent").toString().startsWith("ROMEO:"));
            assertEquals(1L, (long) count(page, "#compare .compare-chart .uplot"), "the overlay of the selected runs");

            // exactly two: the config diff
            page.eval("document.querySelector('tr[data-run=\"0:live\"]').click()");
            assertTrue(Chromium.await(10, () -> count(page, ".panel .loss-chart .uplot") == 2));
            assertTrue(Chromium.await(10, () -> count(page, "#compare table.diff tr.diff") >= 2), "corr and moe differ in mlp and steps");
            if (shots != null) page.screenshot(Path.of(shots, "board-compare.png"), 1400);

            // the wall-clock axis and the log scale rebuild every chart
            page.eval("document.querySelector('input[name=xaxis][value=time]').click()");
            page.eval("document.querySelector('#logscale').click()");
            assertTrue(Chromium.await(10, () -> count(page, ".panel .loss-chart .uplot") == 2 && count(page, "#compare .uplot") == 1));
            assertTrue(page.eval("document.querySelector('.panel .loss-chart .u-legend').textContent").toString().startsWith("wall-clock"));

            // filtering the list
            page.eval("(() => { const f = document.querySelector('#filter'); f.value = 'dot'; f.dispatchEvent(new Event('input')); })()");
            assertEquals(1L, (long) count(page, "#runs tbody tr"));
            page.eval("(() => { const f = document.querySelector('#filter'); f.value = ''; f.dispatchEvent(new Event('input')); })()");
            assertEquals(5L, (long) count(page, "#runs tbody tr"));
            if (shots != null) {
                page.eval("document.querySelector('tr[data-run=\"0:moe\"]').click()");
                page.eval("document.querySelector('tr[data-run=\"0:live\"]').click()");
                Thread.sleep(1500);
                page.screenshot(Path.of(shots, "board-live.png"), 1400);
            }
            assertEquals(List.of(), page.pageErrors, "script errors on the page");
        } finally {
            training.set(false);
            writer.join(5000);
        }
    }

    /** With an API key, the page asks for it, and shows the runs once it is given. */
    @Test
    void thePageAsksForTheApiKey() throws Exception {
        Path chromium = Chromium.find();
        requireChromium(chromium);
        RunFixtures.appendSteps(RunFixtures.run(tmp, "guarded", RunFixtures.config("correlation", "dense", 100)), -1, 100, 10, 0, 0);
        try (BoardServer board = BoardServer.start(List.of(tmp), "127.0.0.1", 0, "k3y", Duration.ofMillis(100), System.err::println);
             Chromium page = new Chromium(chromium, 1200, 800)) {
            page.navigate("http://127.0.0.1:" + board.port() + "/");
            assertTrue(Chromium.await(30, () -> Boolean.FALSE.equals(evalQuietly(page, "document.querySelector('#keybar').hidden"))), "the key bar shows");
            assertEquals(0L, (long) count(page, "#runs tbody tr"), "no run data without the key");
            page.eval("(() => { document.querySelector('#key').value = 'wrong'; document.querySelector('#keygo').click(); })()");
            assertTrue(Chromium.await(10, () -> "incorrect API key".equals(evalQuietly(page, "document.querySelector('#keyerr').textContent"))));
            page.eval("(() => { document.querySelector('#key').value = 'k3y'; document.querySelector('#keygo').click(); })()");
            assertTrue(Chromium.await(10, () -> count(page, "#runs tbody tr") == 1), "the runs show with the key");
            assertEquals(Boolean.TRUE, page.eval("document.querySelector('#keybar').hidden"));
            assertEquals(List.of(), page.pageErrors, "script errors on the page");
        }
    }

    /**
     * 500 runs of 2,000 steps (a training row every 10 steps, an evaluation every 50): from
     * navigation to the list of 500 rows and the first run's chart drawn takes under a second. A
     * timing, so it runs only when asked for ({@code -Dleviathan.board.timing=true}) on a quiet machine.
     */
    @Test
    @EnabledIfSystemProperty(named = "leviathan.board.timing", matches = "true")
    void fiveHundredRunsLoadWithinASecondInTheBrowser() throws Exception {
        Path chromium = Chromium.find();
        requireChromium(chromium);
        TrainConfig cfg = RunFixtures.config("correlation", "dense", 2000);
        for (int i = 0; i < 500; i++) RunFixtures.appendSteps(RunFixtures.run(tmp, String.format("run-%03d", i), cfg), -1, 2000, 10, i % 7, 0);
        try (BoardServer board = BoardServer.start(List.of(tmp), "127.0.0.1", 0, null, Duration.ofSeconds(1), System.err::println);
             Chromium page = new Chromium(chromium, 1400, 1000)) {
            String url = "http://127.0.0.1:" + board.port() + "/";
            for (int round = 0; round < 2; round++) {                      // the first load warms the board's JIT and the browser's cache
                page.navigate(url + "?round=" + round);
                assertTrue(Chromium.await(30, () -> !"null".equals(String.valueOf(evalQuietly(page, "document.body.dataset.loadedMs || null")))));
                long ms = Long.parseLong(evalQuietly(page, "document.body.dataset.loadedMs").toString());
                assertEquals(500L, (long) count(page, "#runs tbody tr"));
                assertEquals(1L, (long) count(page, ".panel .loss-chart .uplot"));
                System.out.printf("board: 500 runs x 2000 steps in the browser: list and first chart %d ms after navigation (round %d)%n", ms, round);
                if (round == 1) assertTrue(ms < 1000, "the page took " + ms + " ms");
            }
            assertEquals(List.of(), page.pageErrors, "script errors on the page");
        }
    }

    private static Object evalQuietly(Chromium page, String js) {
        try {
            return page.eval(js);
        } catch (Exception e) {
            return null;
        }
    }

    private static long count(Chromium page, String selector) {
        try {
            return ((Number) page.eval("document.querySelectorAll('" + selector.replace("'", "\\'") + "').length")).longValue();
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    private static long step(Chromium page, String id) {
        try {
            Object v = page.eval("(document.querySelector('tr[data-run=\"" + id + "\"] td.steps') || {dataset: {step: -1}}).dataset.step");
            return Long.parseLong(v.toString());
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    /** The rows the first panel's loss chart draws (its {@code data-points}). */
    private static long points(Chromium page) {
        try {
            Object v = page.eval("(document.querySelector('.panel .loss-chart') || {dataset: {}}).dataset.points || '0'");
            return Long.parseLong(v.toString());
        } catch (Exception e) {
            throw new RuntimeException(e);
        }
    }

    private static void requireChromium(Path chromium) {
        if (chromium == null && "true".equals(System.getenv("CI"))) {
            org.junit.jupiter.api.Assertions.fail("chromium not found, though CI=true and .ci/run installs it");
        }
        Assumptions.assumeTrue(chromium != null, "chromium not found (apt-get install chromium): the browser test is skipped");
    }
}
