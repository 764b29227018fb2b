package leviathan.testing;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeMap;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;
import leviathan.cli.Main;
import leviathan.model.Checkpoint;
import leviathan.model.Json;
import leviathan.model.SafeTensors;
import leviathan.train.Trainer;

/**
 * Kills training JVMs ({@code SIGKILL}, no shutdown hooks) at seeded random moments and checks
 * that nothing is lost, shared by {@code KillResumeTest} (a few kills, in the suite) and
 * {@link KillResumeMain} (hundreds, run by {@code benchmarks/kill-resume.sh}).
 *
 * <p>A round is one run directory: a child trains (checkpointing at every step), is killed, and is
 * resumed by the next child until one finishes (or the kill budget is spent, when this JVM finishes
 * the round). After every kill the model file must load and not go back in time, and the state
 * must be at most one checkpoint behind it. At the end of a round the run must equal an
 * uninterrupted one bit for bit (model, state, and the steps of {@code metrics.jsonl}), and no temp
 * or staged file may remain. Any loss is an {@link AssertionError}.
 */
public final class KillResume {
    /** Where kills are aimed, in turn. */
    static final List<String> PLANS = List.of("anywhere", "in the model write", "in the state write", "between the writes and the renames",
            "into training");

    /** One kill: its round, where it was aimed, the delay used (ms, 0 for a file trigger), the model's step after it, and what it left. */
    public record Kill(int round, String plan, boolean resume, long delayMs, int step, String leftover) {
        boolean midWrite() { return !leftover.isEmpty(); }
    }

    /** What a campaign did: kills, rounds completed and checked against the reference, and one line per event. */
    public record Report(List<Kill> kills, int rounds, List<String> history) {
        public long midWrite() { return kills.stream().filter(Kill::midWrite).count(); }

        /** Kills per plan, and how many of them left a file of an unfinished write. */
        public Map<String, int[]> byPlan() {
            Map<String, int[]> m = new TreeMap<>();
            for (Kill k : kills) {
                int[] c = m.computeIfAbsent(k.plan(), p -> new int[2]);
                c[0]++;
                if (k.midWrite()) c[1]++;
            }
            return m;
        }
    }

    private final Path dir, data;
    private final int steps;
    private final SplittableRandom random;

    /** A campaign in {@code dir} over runs of {@code steps} steps, seeded by {@code seed}. */
    public KillResume(Path dir, int steps, long seed) throws IOException {
        this.dir = dir;
        this.steps = steps;
        this.random = new SplittableRandom(seed);
        this.data = TestData.writeText(dir, TestData.text(4000, 21));
    }

    /**
     * The command line of one run: a tiny model, a checkpoint and a metrics row every step. With
     * {@code --overwrite}: a run killed before its first checkpoint is started over in its directory.
     */
    public List<String> trainArgs(Path out) {
        return List.of("train", "--data", data.toString(), "--out", out.toString(), "--overwrite", "--steps", Integer.toString(steps),
                "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--block-size", "16", "--batch-size", "2",
                "--eval-interval", "1", "--eval-batches", "1", "--log-interval", "1", "--sample-tokens", "0",
                "--threads", "1", "--backend", "java", "--seed", "5");
    }

    /** A child JVM running the command line with the engine's flags and this JVM's class path. */
    public static Process start(List<String> args, Path log) throws IOException {
        String java = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-ea", "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(args);
        return new ProcessBuilder(cmd).redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.appendTo(log.toFile())).start();
    }

    /**
     * Kills at least {@code minKills} times, and more (up to {@code maxKills}) until
     * {@code minMidWrite} kills have caught a write in the act; then finishes the last round.
     */
    public Report run(int minKills, int maxKills, int minMidWrite) throws Exception {
        Path reference = dir.resolve("reference");
        check(Main.commandLine().execute(trainArgs(reference).toArray(String[]::new)) == 0, "the reference run failed");
        List<Kill> kills = new ArrayList<>();
        List<String> history = new ArrayList<>();
        int round = 0, lastStep = 0;
        Path run = dir.resolve("run-0"), log = dir.resolve("child.log");
        for (int attempt = 0; (kills.size() < minKills || countMid(kills) < minMidWrite) && kills.size() < maxKills
                && attempt < 2 * maxKills + 20; attempt++) {
            if (stateStep(run) == steps) {                            // killed after its last checkpoint: the round is done
                finishRound(run, reference, history, round);
                run = dir.resolve("run-" + ++round);
                lastStep = 0;
            }
            boolean resume = Files.exists(run.resolve(Trainer.STATE_FILE));
            long logStart = Files.exists(log) ? Files.size(log) : 0;
            Process p = start(resume ? List.of("train", "--resume", run.toString()) : trainArgs(run), log);
            String plan = PLANS.get(kills.size() % PLANS.size());
            String pid = Long.toString(p.pid());
            long delayMs = 0;
            boolean killed = switch (plan) {
                case "anywhere" -> !p.waitFor(delayMs = random.nextLong(200, 1200), TimeUnit.MILLISECONDS);
                case "into training" -> {
                    awaitTraining(p, log, logStart);
                    yield !p.waitFor(delayMs = random.nextLong(0, 400), TimeUnit.MILLISECONDS);
                }
                case "in the model write" -> awaitFile(p, run.resolve(Trainer.MODEL_FILE + ".next.tmp-" + pid), random.nextInt(4));
                case "in the state write" -> awaitFile(p, run.resolve(Trainer.STATE_FILE + ".next.tmp-" + pid), random.nextInt(4));
                default -> awaitFile(p, run.resolve(Trainer.STATE_FILE + ".next"), random.nextInt(4));
            };
            if (!killed) {
                check(p.waitFor(120, TimeUnit.SECONDS), "a child did not finish");
                check(p.exitValue() == 0, "child finished with an error; log:\n" + Files.readString(log));
                history.add("round " + round + ": finished before the kill " + plan);
                finishRound(run, reference, history, round);
                run = dir.resolve("run-" + ++round);
                lastStep = 0;
                continue;
            }
            p.destroyForcibly();
            check(p.waitFor(30, TimeUnit.SECONDS), "a killed child did not exit");
            int step = checkAfterKill(run, lastStep);
            String leftover = leftovers(run);
            kills.add(new Kill(round, plan, resume, delayMs, step, leftover));
            history.add("round " + round + ": " + (resume ? "resume" : "train") + " killed " + plan + (delayMs > 0 ? " (" + delayMs + " ms)" : "")
                    + " at step " + step + (leftover.isEmpty() ? "" : ", left " + leftover));
            lastStep = step;
        }
        if (stateStep(run) < steps) {
            // a temp file of a killed save, as a dead process leaves it: never read, removed when the run is next opened
            if (Files.isDirectory(run)) Files.writeString(run.resolve(Trainer.MODEL_FILE + ".tmp-" + deadPid()), "half a checkpoint");
            boolean resume = Files.exists(run.resolve(Trainer.STATE_FILE));
            String[] args = resume ? new String[] {"train", "--resume", run.toString()} : trainArgs(run).toArray(String[]::new);
            check(Main.commandLine().execute(args) == 0, "the final " + (resume ? "resume" : "run") + " failed; history " + history);
        }
        finishRound(run, reference, history, round);
        return new Report(kills, round + 1, history);
    }

    private static long countMid(List<Kill> kills) { return kills.stream().filter(Kill::midWrite).count(); }

    /** A finished round must equal the reference bit for bit, with no file of an unfinished write left. */
    private void finishRound(Path run, Path reference, List<String> history, int round) throws IOException {
        for (String f : List.of(Trainer.MODEL_FILE, Trainer.STATE_FILE)) {
            check(Arrays.equals(Files.readAllBytes(reference.resolve(f)), Files.readAllBytes(run.resolve(f))),
                    "round " + round + ": " + f + " differs from the uninterrupted run; history " + history);
        }
        check(metricSteps(reference).equals(metricSteps(run)), "round " + round + ": metrics.jsonl does not read as one run");
        // the round's last process opened the directory (removing what killed writes left) and finished normally
        check(leftovers(run).isEmpty(), "round " + round + ": files of unfinished writes remain: " + leftovers(run));
        history.add("round " + round + ": equal to the uninterrupted run");
    }

    /** After a kill: the model file loads and does not go back in time; the state is whole and at most one step behind. */
    private static int checkAfterKill(Path run, int lastStep) throws IOException {
        Path model = run.resolve(Trainer.MODEL_FILE), state = run.resolve(Trainer.STATE_FILE);
        if (!Files.exists(model)) {
            check(lastStep == 0, "the model file vanished after step " + lastStep);
            check(!Files.exists(state), "a state without a model");
            return 0;
        }
        int step;
        try (Checkpoint.Loaded l = Checkpoint.load(model)) {
            step = Integer.parseInt(l.metadata().get("step"));
        }
        check(step >= lastStep, "the checkpoint went back from step " + lastStep + " to " + step);
        check(Files.exists(state), "model at step " + step + " without a state");
        int stateStep = stateStep(run);
        // the model is renamed into place first, so the state is at most one checkpoint behind it
        check(stateStep == step || stateStep == step - 1, "state at " + stateStep + ", model at " + step);
        return step;
    }

    private static int stateStep(Path run) throws IOException {
        Path state = run.resolve(Trainer.STATE_FILE);
        return Files.exists(state) ? Integer.parseInt(SafeTensors.readHeader(state).metadata().get("step")) : -1;
    }

    /** Temp and staged files in {@code run}, by name, comma-separated. */
    static String leftovers(Path run) throws IOException {
        if (!Files.isDirectory(run)) return "";
        try (Stream<Path> files = Files.list(run)) {
            return String.join(", ", files.map(f -> f.getFileName().toString()).filter(n -> n.contains(".tmp-") || n.endsWith(".next")).sorted().toList());
        }
    }

    /** Waits (up to 30 s) until the child prints its first step line after {@code offset} of the log. */
    public static void awaitTraining(Process p, Path log, long offset) throws Exception {
        long deadline = System.nanoTime() + 30_000_000_000L;
        while (p.isAlive() && System.nanoTime() < deadline) {
            byte[] all = Files.readAllBytes(log);
            if (new String(all, (int) offset, all.length - (int) offset, StandardCharsets.UTF_8).contains("| loss ")) return;
            Thread.sleep(10);
        }
    }

    /** Polls (spinning: a write takes milliseconds) until {@code file} exists, then {@code extraSpins} more polls. False if the child ended first. */
    static boolean awaitFile(Process p, Path file, int extraSpins) {
        long deadline = System.nanoTime() + 60_000_000_000L;
        while (p.isAlive() && System.nanoTime() < deadline) {
            if (Files.exists(file)) {
                for (int i = 0; i < extraSpins; i++) Files.exists(file);
                return true;
            }
            Thread.onSpinWait();
        }
        return p.isAlive();
    }

    /** The step of every metrics row; each row must be one whole JSON object. */
    static List<Long> metricSteps(Path run) throws IOException {
        List<Long> steps = new ArrayList<>();
        for (String line : Files.readAllLines(run.resolve(Trainer.METRICS_FILE), StandardCharsets.UTF_8)) {
            try {
                steps.add((Long) ((Map<?, ?>) Json.parse(line)).get("step"));
            } catch (Json.ParseException e) {
                throw new AssertionError("torn metrics row: " + line);
            }
        }
        return steps;
    }

    /** A pid that no process has: that of a child that has exited. */
    static long deadPid() throws Exception {
        Process p = new ProcessBuilder(ProcessHandle.current().info().command().orElse("java"), "-version")
                .redirectErrorStream(true).redirectOutput(ProcessBuilder.Redirect.DISCARD).start();
        p.waitFor();
        check(ProcessHandle.of(p.pid()).map(h -> !h.isAlive()).orElse(true), "the exited child is alive");
        return p.pid();
    }

    private static void check(boolean ok, String what) {
        if (!ok) throw new AssertionError(what);
    }
}
