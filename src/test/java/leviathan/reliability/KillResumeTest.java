package leviathan.reliability;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import leviathan.cli.Main;
import leviathan.model.Checkpoint;
import leviathan.model.Json;
import leviathan.model.SafeTensors;
import leviathan.testing.TestData;
import leviathan.train.Trainer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Kills a training JVM ({@code SIGKILL}, no shutdown hooks) at seeded random moments, most of them
 * during a save since this run checkpoints at every step, and checks after each kill that the
 * checkpoint on disk loads and that {@code --resume} carries on. At the end, the interrupted run
 * must equal a run that was never interrupted, bit for bit: nothing was lost or replayed wrongly.
 */
class KillResumeTest {
    static final int STEPS = 300, KILLS = 6, MAX_KILLS = 14;
    static final long SEED = 3;

    static List<String> trainArgs(Path data, Path out) {
        return List.of("train", "--data", data.toString(), "--out", out.toString(), "--steps", Integer.toString(STEPS),
                "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "2",
                "--eval-interval", "1", "--eval-batches", "1", "--log-interval", "1", "--sample-tokens", "0",
                "--threads", "1", "--backend", "java", "--seed", "5");
    }

    /** A child JVM running the command line with the engine's flags and this test's class path. */
    static Process start(List<String> args, Path log) throws IOException {
        String java = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-ea", "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(args);
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
    }

    @Test
    @Timeout(value = 180, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void killingTrainingAtAnyMomentLeavesALoadableCheckpointAndResumeCompletesTheSameRun(@TempDir Path dir) throws Exception {
        Path data = TestData.writeText(dir, TestData.text(4000, 21));
        Path run = dir.resolve("run"), log = dir.resolve("child.log");
        SplittableRandom r = new SplittableRandom(SEED);
        int lastStep = 0, kills = 0, midSave = 0;
        List<String> history = new ArrayList<>();
        // at least KILLS kills, and more (up to MAX_KILLS) until two have caught a save in the act:
        // on a fast disk a save lasts well under a millisecond and a kill may arrive after the rename
        for (int attempt = 0; (kills < KILLS || midSave < 2) && kills < MAX_KILLS && attempt < 2 * MAX_KILLS; attempt++) {
            boolean resume = Files.exists(run.resolve(Trainer.STATE_FILE));
            long logStart = Files.exists(log) ? Files.size(log) : 0;
            Process p = start(resume ? List.of("train", "--resume", run.toString()) : trainArgs(data, run), log);
            // where this kill lands: anywhere (start-up included), a random moment of training, or
            // the instant a save of the model or of the state has created its temp file
            String plan = switch (kills % 4) {
                case 0 -> "anywhere";
                case 1 -> "in a model save";
                case 2 -> "in a state save";
                default -> "into training";
            };
            long delayMs = 0;
            boolean killed = switch (plan) {
                case "anywhere" -> !p.waitFor(delayMs = r.nextLong(200, 1200), TimeUnit.MILLISECONDS);
                case "into training" -> {
                    awaitTraining(p, log, logStart);
                    yield !p.waitFor(delayMs = r.nextLong(0, 400), TimeUnit.MILLISECONDS);
                }
                default -> awaitFile(p, run.resolve((plan.contains("model") ? Trainer.MODEL_FILE : Trainer.STATE_FILE) + ".tmp-" + p.pid()),
                        r.nextInt(4));
            };
            if (!killed) {
                assertTrue(p.waitFor(60, TimeUnit.SECONDS));
                assertEquals(0, p.exitValue(), "child finished with an error; log:\n" + Files.readString(log));
                history.add("finished before the kill " + plan);
                break;
            }
            p.destroyForcibly();
            assertTrue(p.waitFor(30, TimeUnit.SECONDS), "killed child did not exit");
            kills++;
            int step = checkRunDirectory(run, lastStep);
            long temps = 0;
            if (Files.isDirectory(run)) {
                try (Stream<Path> files = Files.list(run)) {
                    String mine = ".tmp-" + p.pid();
                    temps = files.filter(f -> f.getFileName().toString().endsWith(mine)).count();
                }
            }
            midSave += temps > 0 ? 1 : 0;
            history.add((resume ? "resume" : "train") + " killed " + plan + (delayMs > 0 ? " (" + delayMs + " ms)" : "")
                    + " at step " + step + (temps > 0 ? ", its temp file left behind" : ""));
            lastStep = step;
        }
        assertTrue(midSave >= 1, "no kill landed inside a save: " + history);
        assertTrue(kills >= 3, "too few kills landed: " + history);

        // a temp file from a save that was killed, as a dead process leaves it: never read, removed by the next save
        Path stale = run.resolve(Trainer.MODEL_FILE + ".tmp-" + deadPid());
        Files.writeString(stale, "half a checkpoint");

        // finish the interrupted run here, and run the same configuration without interruption
        if (Files.exists(run.resolve(Trainer.STATE_FILE))) {
            assertEquals(0, Main.commandLine().execute("train", "--resume", run.toString()), "final resume; history " + history);
        } else {
            assertEquals(0, Main.commandLine().execute(trainArgs(data, run).toArray(String[]::new)));
        }
        Path ref = dir.resolve("reference");
        assertEquals(0, Main.commandLine().execute(trainArgs(data, ref).toArray(String[]::new)));

        assertArrayEquals(Files.readAllBytes(ref.resolve(Trainer.MODEL_FILE)), Files.readAllBytes(run.resolve(Trainer.MODEL_FILE)),
                "the interrupted run ends with the same weights as the uninterrupted one; history " + history);
        assertArrayEquals(Files.readAllBytes(ref.resolve(Trainer.STATE_FILE)), Files.readAllBytes(run.resolve(Trainer.STATE_FILE)));
        try (Stream<Path> files = Files.list(run)) {
            List<String> temps = files.map(f -> f.getFileName().toString()).filter(n -> n.contains(".tmp-")).toList();
            assertEquals(List.of(), temps, "stale temp files are cleaned up by later saves");
        }
        assertEquals(metricSteps(ref), metricSteps(run), "metrics.jsonl reads as one run");
        System.out.println("kill test: " + kills + " kills, " + midSave + " left a temp file: " + String.join("; ", history));
    }

    /** Waits (up to 20 s) until the child prints its first step line after {@code offset} of the log. */
    static void awaitTraining(Process p, Path log, long offset) throws Exception {
        long deadline = System.nanoTime() + 20_000_000_000L;
        while (p.isAlive() && System.nanoTime() < deadline) {
            byte[] all = Files.readAllBytes(log);
            if (new String(all, (int) offset, all.length - (int) offset, StandardCharsets.UTF_8).contains("| loss ")) return;
            Thread.sleep(10);
        }
    }

    /**
     * Polls (spinning: a save takes milliseconds) until {@code file} exists, then lets
     * {@code extraSpins} more polls pass. Returns false if the child ended first.
     */
    static boolean awaitFile(Process p, Path file, int extraSpins) {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (p.isAlive() && System.nanoTime() < deadline) {
            if (Files.exists(file)) {
                for (int i = 0; i < extraSpins; i++) Files.exists(file);
                return true;
            }
            Thread.onSpinWait();
        }
        return p.isAlive();
    }

    /** After a kill: the model file loads and does not go back in time; the state file is whole. Returns the model's step. */
    static int checkRunDirectory(Path run, int lastStep) throws IOException {
        Path model = run.resolve(Trainer.MODEL_FILE), state = run.resolve(Trainer.STATE_FILE);
        if (!Files.exists(model)) {
            assertEquals(0, lastStep, "the model file vanished after step " + lastStep);
            return 0;
        }
        int step;
        try (Checkpoint.Loaded l = Checkpoint.load(model)) {
            step = Integer.parseInt(l.metadata().get("step"));
        }
        assertTrue(step >= lastStep, "checkpoint went back from step " + lastStep + " to " + step);
        if (Files.exists(state)) {
            SafeTensors.Header h = SafeTensors.readHeader(state);
            int stateStep = Integer.parseInt(h.metadata().get("step"));
            // the model is saved first, so the state is at most one checkpoint behind it
            assertTrue(stateStep == step || stateStep == step - 1, "state at " + stateStep + ", model at " + step);
        }
        return step;
    }

    /** The step of every metrics row; each row must be one whole JSON object. */
    static List<Long> metricSteps(Path run) throws IOException {
        List<Long> steps = new ArrayList<>();
        for (String line : Files.readAllLines(run.resolve(Trainer.METRICS_FILE), StandardCharsets.UTF_8)) {
            try {
                steps.add((Long) ((Map<?, ?>) Json.parse(line)).get("step"));
            } catch (Json.ParseException e) {
                fail("torn metrics row: " + line);
            }
        }
        return steps;
    }

    /** A pid that no process has: that of a child that has exited. */
    static long deadPid() throws Exception {
        Process p = new ProcessBuilder(ProcessHandle.current().info().command().orElse("java"), "-version")
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        p.waitFor();
        assertTrue(ProcessHandle.of(p.pid()).map(h -> !h.isAlive()).orElse(true));
        return p.pid();
    }
}
