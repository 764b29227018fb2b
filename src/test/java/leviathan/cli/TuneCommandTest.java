package leviathan.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Set;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import leviathan.train.TrainConfig;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code leviathan tune} in a JVM of its own with tuning on: it times the attention shapes of dot, 4 and 8 lags. */
class TuneCommandTest {

    /** The nanoGPT size brings the same three attention shapes as the default size, at its own C, H and T (timed by isa-matrix.sh, not here). */
    @Test
    void nanoGptTuningCoversDotAndBothLagCounts() {
        TrainConfig d = TrainConfig.defaults();
        assertEquals(3, TuneCommand.models(d, false).size(), "without --nanogpt only the default size");
        var nano = TuneCommand.models(d, true).entrySet().stream().filter(e -> e.getKey().startsWith("nanoGPT")).map(e -> e.getValue()).toList();
        assertEquals(Set.of(1, 4, 8), nano.stream().map(g -> g.lags()).collect(Collectors.toSet()), "lag counts at the nanoGPT size");
        for (var g : nano) {
            assertEquals(List.of(384, 6, 256, 6), List.of(g.nEmbd(), g.nHead(), g.blockSize(), g.nLayer()), g.describe());
        }
    }

    @Test
    @Timeout(value = 300, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void tuneTimesTheAttentionShapesOfDotAndBothLagCounts(@TempDir Path dir) throws Exception {
        Path cache = dir.resolve("cache"), log = dir.resolve("tune.log");
        String java = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        ProcessBuilder pb = new ProcessBuilder(java, "--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Dleviathan.tune=true", "-Dleviathan.tune.cache=" + cache, "-cp", System.getProperty("java.class.path"),
                Main.class.getName(), "tune").redirectErrorStream(true).redirectOutput(log.toFile());
        pb.environment().remove("LEVIATHAN_TUNE");                     // the suite runs with tuning off; this JVM tunes
        Process p = pb.start();
        assertTrue(p.waitFor(280, TimeUnit.SECONDS), "tune finished");
        String out = Files.readString(log);
        assertEquals(0, p.exitValue(), out);
        for (int lags : List.of(1, 4, 8)) {
            assertTrue(out.contains("correlation C128 H4 N" + lags + " T64 B1 threads "), "the default size's " + lags + "-lag shape is tuned:\n" + out);
        }
        try (var files = Files.list(cache)) {
            Path table = files.filter(f -> f.toString().endsWith(".tsv")).findFirst().orElseThrow();
            String cached = Files.readString(table);
            for (int lags : List.of(1, 4, 8)) assertTrue(cached.contains("correlation C128 H4 N" + lags + " T64"), cached);
        }
    }
}
