package leviathan.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import leviathan.distributed.MpiTesting;
import leviathan.model.Checkpoint;
import leviathan.tensor.Tensor;
import leviathan.testing.MpiTrainMain;
import leviathan.testing.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Data-parallel training on two ranks under real {@code mpirun} on loopback against one process in
 * this JVM (skipped with the reason where Open MPI is absent; CI installs it). Only the summation
 * order of the gradient average differs, so the weights agree to 1e-5 relative.
 */
class DataParallelTest {
    static final int STEPS = 40;
    static final double TOLERANCE = 1e-5;

    static Path text(Path dir) throws IOException {
        return TestData.writeText(dir, TestData.text(3000, 2));
    }

    /** The one-process run of {@link MpiTrainMain}'s config. */
    static TrainingResult oneProcess(Path data, Path out) throws IOException {
        return TrainerTest.trainer().train(MpiTrainMain.config(data, out, STEPS, MpiTrainMain.BATCH));
    }

    static MpiTesting.Run mpirun(Path mpirun, int ranks, String... args) throws Exception {
        MpiTesting.Run run = MpiTesting.run(mpirun, ranks, 120, MpiTrainMain.class.getName(), args);
        assertFalse(run.timedOut(), "mpirun did not finish in 120 s:\n" + run.output());
        return run;
    }

    @Test
    void twoRanksFollowTheOneProcessRunAndOnlyRankZeroWrites(@TempDir Path dir) throws Exception {
        Path mpirun = MpiTesting.mpirunOrSkip();
        Path data = text(dir);
        TrainingResult one = oneProcess(data, dir.resolve("one"));
        MpiTesting.Run run = mpirun(mpirun, 2, "train", data.toString(), dir.resolve("two").toString(), Integer.toString(STEPS),
                Integer.toString(MpiTrainMain.BATCH));
        assertEquals(0, run.exitCode(), run.output());
        assertTrue(run.output().contains("rank 0 done") && run.output().contains("rank 1 done"), run.output());
        assertTrue(run.output().contains("2 ranks: batch of 12 rows, 6 per rank"), run.output());
        assertEquals(1, count(run.output(), "final: val loss"), "only rank 0 prints:\n" + run.output());
        assertClose(one.runDir().resolve(Trainer.MODEL_FILE), dir.resolve("two").resolve(Trainer.MODEL_FILE));
        // the logged losses are the global batch's: the same curve step by step
        Map<Integer, Double> a = losses(one.runDir()), b = losses(dir.resolve("two"));
        assertEquals(a.keySet(), b.keySet());
        a.forEach((step, loss) -> assertEquals(loss, b.get(step), 1e-4 * Math.abs(loss), "train loss at step " + step));
        // rank 0 alone wrote in the run directory: the same files as one process, nothing else
        assertEquals(files(one.runDir()), files(dir.resolve("two")));
        assertTrue(Files.readString(dir.resolve("two").resolve(Trainer.METRICS_FILE)).contains("\"comm_s\""), "step-time breakdown");
    }

    /**
     * Each layer's gradient allreduce started during backward (small buckets: one per layer here) ends in bitwise the
     * same parameters as every bucket started after backward: the hook fires only once a layer's gradients are final.
     */
    @Test
    void overlappingTheAllreduceWithBackwardChangesNoBit(@TempDir Path dir) throws Exception {
        Path mpirun = MpiTesting.mpirunOrSkip();
        Path data = text(dir);
        int steps = 20;
        List<String> small = List.of("-Dleviathan.bucket.bytes=4096");
        Map<Boolean, Path> runs = new java.util.HashMap<>();
        for (boolean overlap : new boolean[] {false, true}) {
            Path out = dir.resolve(overlap ? "overlapped" : "after");
            List<String> jvm = new java.util.ArrayList<>(small);
            jvm.add("-Dleviathan.overlap=" + overlap);
            MpiTesting.Run run = MpiTesting.run(mpirun, 2, 120, jvm, MpiTrainMain.class.getName(), "train", data.toString(),
                    out.toString(), Integer.toString(steps), Integer.toString(MpiTrainMain.BATCH));
            assertFalse(run.timedOut(), "mpirun did not finish in 120 s:\n" + run.output());
            assertEquals(0, run.exitCode(), run.output());
            // two layers and the embeddings: the two layers' buckets start during backward, the embeddings' after it
            String started = (overlap ? 2 * steps : 0) + " bucket allreduces overlapped with backward";
            assertTrue(run.output().contains(started), "expected '" + started + "':\n" + run.output());
            runs.put(overlap, out);
        }
        try (Checkpoint.Loaded a = Checkpoint.load(runs.get(false).resolve(Trainer.MODEL_FILE));
             Checkpoint.Loaded b = Checkpoint.load(runs.get(true).resolve(Trainer.MODEL_FILE))) {
            Map<String, Tensor> ta = a.model().params().tensors(), tb = b.model().params().tensors();
            assertEquals(ta.keySet(), tb.keySet());
            for (String name : ta.keySet()) {
                Tensor x = ta.get(name), y = tb.get(name);
                for (long i = 0; i < x.numel(); i++) {
                    int bx = Float.floatToRawIntBits(x.getFlat(i)), by = Float.floatToRawIntBits(y.getFlat(i));
                    if (bx != by) fail(name + "[" + i + "] differs: " + x.getFlat(i) + " after backward, " + y.getFlat(i) + " overlapped");
                }
            }
        }
        // and the run is the one-process run, as without overlap
        TrainingResult one = TrainerTest.trainer().train(MpiTrainMain.config(data, dir.resolve("one"), steps, MpiTrainMain.BATCH));
        assertClose(one.runDir().resolve(Trainer.MODEL_FILE), runs.get(true).resolve(Trainer.MODEL_FILE));
    }

    @Test
    void aRankThatDiesEndsTheJobAndTheRunResumesOnOneOrTwoRanks(@TempDir Path dir) throws Exception {
        Path mpirun = MpiTesting.mpirunOrSkip();
        Path data = text(dir);
        Path killed = dir.resolve("killed");
        MpiTesting.Run run = mpirun(mpirun, 2, "train", data.toString(), killed.toString(), Integer.toString(STEPS),
                Integer.toString(MpiTrainMain.BATCH), "25", "1");
        assertNotEquals(0, run.exitCode(), run.output());
        assertTrue(run.output().contains("rank 1 halting after step 25"), run.output());
        assertFalse(run.output().contains("rank 0 done"), run.output());
        assertTrue(Files.readString(killed.resolve(Trainer.METRICS_FILE)).contains("{\"step\":20,"), "checkpoint of step 20");
        copy(killed, dir.resolve("on-one"));
        copy(killed, dir.resolve("on-two"));
        TrainingResult one = oneProcess(data, dir.resolve("one"));
        // a different rank count: this JVM alone
        TrainingResult resumed = TrainerTest.trainer().resume(dir.resolve("on-one"), 0);
        assertEquals(STEPS, resumed.steps());
        assertClose(one.runDir().resolve(Trainer.MODEL_FILE), dir.resolve("on-one").resolve(Trainer.MODEL_FILE));
        // the same rank count
        MpiTesting.Run again = mpirun(mpirun, 2, "resume", dir.resolve("on-two").toString());
        assertEquals(0, again.exitCode(), again.output());
        assertTrue(again.output().contains("resumed " + dir.resolve("on-two") + " at step 20"), again.output());
        assertClose(one.runDir().resolve(Trainer.MODEL_FILE), dir.resolve("on-two").resolve(Trainer.MODEL_FILE));
        assertEquals(files(one.runDir()), files(dir.resolve("on-two")));
    }

    @Test
    void ranksWhoseParametersDivergeStopAtTheNextEvaluation(@TempDir Path dir) throws Exception {
        Path mpirun = MpiTesting.mpirunOrSkip();
        Path data = text(dir);
        Path run = dir.resolve("diverged");
        MpiTesting.Run r = mpirun(mpirun, 2, "train", data.toString(), run.toString(), "30", Integer.toString(MpiTrainMain.BATCH),
                "13", "1", "perturb");
        assertNotEquals(0, r.exitCode(), r.output());
        assertTrue(r.output().contains("rank 1 perturbed after step 13"), r.output());
        assertTrue(r.output().contains("parameters after step 20 differ across ranks: 1 of 2 ranks disagree with rank 0"), r.output());
        assertFalse(r.output().contains("rank 0 done"), r.output());
        // the check runs before rank 0 evaluates and saves: the last checkpoint is step 10's
        assertTrue(RunDirectory.savedIn(run.resolve(Trainer.MODEL_FILE)).step() == 10, "checkpoint of step 10");
    }

    @Test
    void aBatchThatDoesNotDivideByTheRanksIsOneClearError(@TempDir Path dir) throws Exception {
        Path mpirun = MpiTesting.mpirunOrSkip();
        Path data = text(dir);
        MpiTesting.Run run = mpirun(mpirun, 2, "train", data.toString(), dir.resolve("odd").toString(), "5", "5");
        assertNotEquals(0, run.exitCode(), run.output());
        assertTrue(run.output().contains("--batch-size 5 is the global batch and must divide by the 2 ranks"), run.output());
        assertFalse(Files.exists(dir.resolve("odd").resolve(Trainer.STATE_FILE)));
    }

    /** The weights of two model files agree: ‖a − b‖ ≤ 1e-5·‖a‖ for every tensor. */
    static void assertClose(Path expected, Path actual) throws IOException {
        try (Checkpoint.Loaded a = Checkpoint.load(expected); Checkpoint.Loaded b = Checkpoint.load(actual)) {
            Map<String, Tensor> ta = a.model().params().tensors(), tb = b.model().params().tensors();
            assertEquals(ta.keySet(), tb.keySet());
            double worst = 0;
            String worstName = "";
            for (String name : ta.keySet()) {
                Tensor x = ta.get(name), y = tb.get(name);
                double diff = 0, norm = 0;
                for (long i = 0; i < x.numel(); i++) {
                    double d = x.getFlat(i) - y.getFlat(i);
                    diff += d * d;
                    norm += (double) x.getFlat(i) * x.getFlat(i);
                }
                double rel = Math.sqrt(diff) / Math.max(Math.sqrt(norm), 1e-30);
                if (rel > worst) {
                    worst = rel;
                    worstName = name;
                }
            }
            assertTrue(worst <= TOLERANCE, "weights differ by " + worst + " (relative, " + worstName + ")");
        }
    }

    static final Pattern TRAIN_LOSS = Pattern.compile("^\\{\"step\":(\\d+),.*\"train_loss\":([0-9.eE+-]+)");

    static Map<Integer, Double> losses(Path run) throws IOException {
        Map<Integer, Double> m = new java.util.TreeMap<>();
        for (String line : Files.readAllLines(run.resolve(Trainer.METRICS_FILE))) {
            Matcher mt = TRAIN_LOSS.matcher(line);
            if (mt.find()) m.put(Integer.parseInt(mt.group(1)), Double.parseDouble(mt.group(2)));
        }
        return m;
    }

    static TreeSet<String> files(Path dir) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).collect(java.util.stream.Collectors.toCollection(TreeSet::new));
        }
    }

    static int count(String text, String part) {
        int n = 0;
        for (int i = text.indexOf(part); i >= 0; i = text.indexOf(part, i + 1)) n++;
        return n;
    }

    static void copy(Path from, Path to) throws IOException {
        Files.createDirectories(to);
        for (String f : List.copyOf(files(from))) Files.copy(from.resolve(f), to.resolve(f));
    }
}
