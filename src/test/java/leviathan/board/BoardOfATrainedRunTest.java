package leviathan.board;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import leviathan.cli.Main;
import leviathan.model.Checkpoint;
import leviathan.testing.TestData;
import leviathan.train.RunDirectory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** A run trained by the engine's own command line, as the board shows it: its sample, its curves, and its model's lag bias. */
class BoardOfATrainedRunTest {
    @TempDir
    Path tmp;

    @Test
    @SuppressWarnings("unchecked")
    void showsWhatTrainWrote() throws Exception {
        Path data = TestData.writeText(tmp, TestData.text(3000, 2));
        Path runs = Files.createDirectories(tmp.resolve("runs")), out = runs.resolve("tiny");
        String[] args = {"train", "--data", data.toString(), "--out", out.toString(), "--steps", "6", "--n-layer", "2", "--n-embd", "16",
                "--n-head", "2", "--block-size", "16", "--batch-size", "2", "--eval-interval", "3", "--eval-batches", "1", "--log-interval", "2",
                "--lags", "3", "--lr", "0.05", "--warmup", "1", "--sample-tokens", "40", "--threads", "1", "--backend", "java"};
        CommandLine cl = Main.commandLine();
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err, true));
        PrintStream old = System.out;
        ByteArrayOutputStream printed = new ByteArrayOutputStream();
        System.setOut(new PrintStream(printed, true, StandardCharsets.UTF_8));
        try {
            assertEquals(0, cl.execute(args), err.toString());
        } finally {
            System.setOut(old);
        }
        String sample = Files.readString(out.resolve(RunDirectory.SAMPLE_FILE), StandardCharsets.UTF_8);
        assertTrue(printed.toString(StandardCharsets.UTF_8).contains("sample:\n" + sample + "\n"), "sample.txt holds the printed sample");
        for (String line : Files.readAllLines(out.resolve(RunDirectory.METRICS_FILE))) {
            assertTrue(line.contains("\"elapsed_s\":"), "every row has its wall-clock time: " + line);
        }

        try (BoardServer s = BoardServer.start(List.of(runs), "127.0.0.1", 0, null, Duration.ofMillis(100), System.err::println);
             Checkpoint.Loaded model = Checkpoint.load(out.resolve(RunDirectory.MODEL_FILE))) {
            Map<String, Object> run = BoardServerTest.runsByName(s).get("tiny");
            assertEquals("finished", run.get("state"));
            assertEquals(6L, run.get("step"));
            Map<String, Object> d = BoardServerTest.detail(s, run);
            assertEquals(sample, d.get("sample"));
            assertEquals(List.of(0L, 3L, 6L), ((Map<String, Object>) d.get("val")).get("step"));
            List<Map<String, Object>> maps = (List<Map<String, Object>>) d.get("heatmaps");
            assertEquals(2, maps.size());
            boolean learned = false;
            for (int l = 0; l < 2; l++) {
                var bias = model.model().params().get("h." + l + ".attn.lag_bias");
                List<?> values = (List<?>) maps.get(l).get("values");
                for (int h = 0; h < 2; h++) {
                    for (int n = 0; n < 3; n++) {
                        assertEquals(bias.get(h, n), ((Number) values.get(h * 3 + n)).floatValue(), 0f, "layer " + l + " head " + h + " lag " + n);
                        learned |= bias.get(h, n) != 0f;
                    }
                }
            }
            assertTrue(learned, "six steps moved the lag bias from its zero start");
        }
    }
}
