package leviathan.train;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import leviathan.api.LanguageModel;
import leviathan.backend.JavaBackend;
import leviathan.data.TextDataset;
import leviathan.model.Checkpoint;
import leviathan.model.Workspace;
import leviathan.testing.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class TrainerTest {
    static final PrintStream QUIET = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);

    static Trainer trainer() { return new Trainer(s -> { }, QUIET); }

    /**
     * A run's kernels use the run's thread count (its engine's pool), whatever the process default,
     * which the run leaves as it was: a served model in the same JVM keeps its own.
     */
    @Test
    void aRunUsesItsOwnThreadsAndLeavesTheProcessDefaultAlone(@TempDir Path dir) throws Exception {
        Path data = TestData.writeText(dir, TestData.text(2000, 9));
        int before = leviathan.kernel.Parallel.threads(), mine = before == 3 ? 2 : 3;
        var counts = java.util.concurrent.ConcurrentHashMap.<Integer>newKeySet();
        var workers = java.util.concurrent.ConcurrentHashMap.<Thread>newKeySet();
        trainer().hooks(new TrainingHooks() {
            @Override
            public void afterUpdate(int step, leviathan.model.Gpt model) {       // on the thread that drives the step's kernels
                counts.add(leviathan.kernel.Parallel.threads());
                leviathan.kernel.Parallel.forRange(64, (from, to) -> workers.add(Thread.currentThread()));
            }
        }).train(TestData.tinyBuilder(data, dir.resolve("run"), "correlation", 4, 4).threads(mine).build());
        assertEquals(java.util.Set.of(mine), counts);
        assertEquals(mine, workers.size(), "a loop inside the run ran on its " + mine + " threads: " + workers);
        assertEquals(before, leviathan.kernel.Parallel.threads(), "the process default is untouched");
    }

    @Test
    void aTinyModelLearnsAShortText(@TempDir Path dir) throws Exception {
        Path data = TestData.writeText(dir, TestData.text(4000, 1));
        TrainConfig cfg = TestData.tinyTrain(data, dir.resolve("run"), "correlation", 400, 400);
        TrainingResult r = trainer().train(cfg);
        // 14 words over ~17 characters: a model that learned the words sits far below ln(V) ≈ 2.9
        assertTrue(r.trainLoss() < 1.6, "train loss " + r.trainLoss());
        assertTrue(Files.isRegularFile(r.runDir().resolve(Trainer.MODEL_FILE)));
        List<String> metrics = Files.readAllLines(r.runDir().resolve(Trainer.METRICS_FILE));
        assertTrue(metrics.stream().anyMatch(l -> l.contains("\"val_bpc\"")), "metrics hold eval rows");
        assertTrue(Files.readString(r.runDir().resolve(Trainer.CONFIG_FILE)).contains("\"steps\": 400"));
    }

    /**
     * Dropout 0 is the run without dropout, bit for bit; dropout 0.5 changes training, resumes bit
     * for bit (its masks are keyed by step), is recorded in config.json and not in the model file.
     */
    @Test
    void dropoutIsATrainingSettingThatResumesExactly(@TempDir Path dir) throws Exception {
        Path data = TestData.writeText(dir, TestData.text(3000, 5));
        TrainingResult off = trainer().train(TestData.tinyTrain(data, dir.resolve("off"), "correlation", 12, 6));
        TrainingResult zero = trainer().train(TestData.tinyBuilder(data, dir.resolve("zero"), "correlation", 12, 6).dropout(0f).build());
        assertTrue(java.util.Arrays.equals(Files.readAllBytes(off.runDir().resolve(Trainer.MODEL_FILE)),
                Files.readAllBytes(zero.runDir().resolve(Trainer.MODEL_FILE))), "dropout 0 changes nothing");
        TrainingResult on = trainer().train(TestData.tinyBuilder(data, dir.resolve("on"), "involution", 12, 6).dropout(0.5f).build());
        TrainingResult base = trainer().train(TestData.tinyBuilder(data, dir.resolve("base"), "involution", 12, 6).build());
        assertTrue(on.trainLoss() != base.trainLoss(), "dropout 0.5 changes the training loss");
        trainer().stopAfter(5).train(TestData.tinyBuilder(data, dir.resolve("part"), "involution", 12, 6).dropout(0.5f).build());
        TrainingResult resumed = trainer().resume(dir.resolve("part"), 0);
        assertTrue(java.util.Arrays.equals(Files.readAllBytes(on.runDir().resolve(Trainer.MODEL_FILE)),
                Files.readAllBytes(resumed.runDir().resolve(Trainer.MODEL_FILE))), "resumed with the same masks");
        assertTrue(Files.readString(on.runDir().resolve(Trainer.CONFIG_FILE)).contains("\"dropout\": 0.5"));
        var meta = leviathan.model.SafeTensors.readHeader(on.runDir().resolve(Trainer.MODEL_FILE)).metadata();
        assertTrue(meta.keySet().stream().noneMatch(k -> k.contains("dropout")), "not in the model: " + meta.keySet());
    }

    /**
     * A time budget fixes the step count after the warmup so that the run ends near the budget,
     * records it, and a rerun with that many steps and no budget is the same run bit for bit.
     */
    @Test
    void aTimeBudgetFixesAStepCountThatARerunReproduces(@TempDir Path dir) throws Exception {
        Path data = TestData.writeText(dir, TestData.text(3000, 6));
        double budget = 6;
        TrainingResult timed = trainer().train(TestData.tinyBuilder(data, dir.resolve("timed"), "correlation", 0, 50)
                .warmup(10).timeBudget(budget).build());
        assertTrue(timed.steps() >= 10, "at least the warmup: " + timed.steps());
        // each eval row's wall clock counts from the run's start, evaluations included: at least its training
        // seconds, rising from row to row, never past the run's own wall time
        double lastWall = 0;
        for (String row : Files.readAllLines(timed.runDir().resolve(Trainer.METRICS_FILE))) {
            if (!row.contains("\"val_loss\"")) continue;
            double wall = number(row, "elapsed_s"), train = number(row, "train_s");
            assertTrue(wall >= train && wall >= lastWall && wall <= timed.wallSeconds(), "elapsed_s in " + row);
            lastWall = wall;
        }
        assertTrue(lastWall > 0, "eval rows carry elapsed_s");
        // how near the budget a run ends is a measurement (benchmarks/experiments/speedrun.sh records it), not a timed test
        TrainConfig recorded = TrainConfig.fromJson(Files.readString(timed.runDir().resolve(Trainer.CONFIG_FILE)));
        assertEquals(timed.steps(), recorded.schedule().steps());
        assertEquals(budget, recorded.schedule().timeBudget());
        TrainingResult rerun = trainer().train(TestData.tinyBuilder(data, dir.resolve("rerun"), "correlation", timed.steps(), 50)
                .warmup(10).build());
        assertTrue(java.util.Arrays.equals(Files.readAllBytes(timed.runDir().resolve(Trainer.MODEL_FILE)),
                Files.readAllBytes(rerun.runDir().resolve(Trainer.MODEL_FILE))), "the rerun with --steps " + timed.steps() + " is the same run");
        assertThrows(IllegalArgumentException.class, () -> TestData.tinyBuilder(data, dir.resolve("x"), "dot", 0, 50).warmup(5).timeBudget(10).build());
    }

    /** The number a metrics row gives {@code key}. */
    private static double number(String row, String key) {
        var m = java.util.regex.Pattern.compile("\"" + key + "\":([-0-9.eE+]+)").matcher(row);
        assertTrue(m.find(), key + " in " + row);
        return Double.parseDouble(m.group(1));
    }

    @Test
    void resumingReproducesTheUninterruptedRun(@TempDir Path dir) throws Exception {
        Path data = TestData.writeText(dir, TestData.text(3000, 2));
        TrainingResult full = trainer().train(TestData.tinyTrain(data, dir.resolve("full"), "correlation", 20, 10));
        TrainingResult paused = trainer().stopAfter(7).train(TestData.tinyTrain(data, dir.resolve("part"), "correlation", 20, 10));
        assertEquals(7, paused.steps());
        TrainingResult resumed = trainer().resume(dir.resolve("part"), 0);
        assertEquals(full.valLoss(), resumed.valLoss(), "val loss after resume");
        assertEquals(full.trainLoss(), resumed.trainLoss());
        byte[] a = Files.readAllBytes(full.runDir().resolve(Trainer.MODEL_FILE));
        byte[] b = Files.readAllBytes(resumed.runDir().resolve(Trainer.MODEL_FILE));
        assertTrue(java.util.Arrays.equals(a, b), "identical final weights");
    }

    /**
     * The variants train, report their auxiliary loss and expert loads, pause and resume bit for
     * bit (parts need no trainer code), and their checkpoints serve the Java API.
     */
    @Test
    void involutionWithMixtureOfExpertsTrainsResumesAndSamples(@TempDir Path dir) throws Exception {
        Path data = TestData.writeText(dir, TestData.text(3000, 4));
        TrainConfig.Builder b = TestData.tinyBuilder(data, dir.resolve("full"), "involution", 12, 6).mlp("moe")
                .option("window", 5).option("n_expert", 3).option("top_k", 2).option("moe_balance", 0.05f);
        TrainingResult full = trainer().train(b.build());
        TrainingResult paused = trainer().stopAfter(5).train(b.out(dir.resolve("part").toString()).build());
        TrainingResult resumed = trainer().resume(paused.runDir(), 0);
        assertEquals(full.valLoss(), resumed.valLoss(), "val loss after resume");
        assertTrue(java.util.Arrays.equals(Files.readAllBytes(full.runDir().resolve(Trainer.MODEL_FILE)),
                Files.readAllBytes(resumed.runDir().resolve(Trainer.MODEL_FILE))), "identical final weights");
        List<String> metrics = Files.readAllLines(full.runDir().resolve(Trainer.METRICS_FILE));
        String step = metrics.stream().filter(l -> l.contains("\"train_loss\"")).findFirst().orElseThrow();
        assertTrue(step.contains("\"aux_loss\"") && step.contains("\"h.1.mlp.load.2\""), step);
        try (LanguageModel lm = LanguageModel.load(full.runDir().resolve(Trainer.MODEL_FILE))) {
            assertEquals("involution", lm.config().attention());
            assertEquals("moe", lm.config().mlp().kind());
            assertEquals(30, lm.generate("ab", new LanguageModel.Generation(30, 1f, 0, 5, false), null).codePointCount(0, 30));
        }
    }

    @Test
    void checkpointEvalMatchesInMemoryEval(@TempDir Path dir) throws Exception {
        String text = TestData.text(3000, 3);
        Path data = TestData.writeText(dir, text);
        TrainingResult r = trainer().train(TestData.tinyTrain(data, dir.resolve("run"), "dot", 10, 10));
        Path model = r.runDir().resolve(Trainer.MODEL_FILE);
        try (var loaded = Checkpoint.load(model);
             Workspace ws = loaded.model().workspace(new JavaBackend(), 5, 16, false);
             LanguageModel lm = LanguageModel.load(model)) {
            int[] ids = new TextDataset("t", loaded.tokenizer().encode(text)).tokens(TextDataset.Split.VAL);
            var inMemory = Evaluator.evaluate(loaded.model(), ws, ids, 16);
            var viaApi = lm.evaluate(text, TextDataset.Split.VAL, 0, false);
            assertEquals(inMemory.predictions(), viaApi.predictions());
            assertEquals((ids.length / 17) * 16L, inMemory.predictions());
            // different batch sizes (5 vs 16 windows) only regroup identical per-window work
            assertEquals(inMemory.loss(), viaApi.loss(), 1e-6);
        }
    }

    @Test
    void aDivergingRunStopsAndNamesTheLastCheckpoint(@TempDir Path dir) throws Exception {
        Path data = TestData.writeText(dir, TestData.text(3000, 4));
        TrainConfig explode = TestData.tinyBuilder(data, dir.resolve("run"), "correlation", 40, 5).lr(1e30f).minLr(1e29f)
                .warmup(0).optimizer(Optimizer.Kind.SGD).weightDecay(0f).clip(0f).evalBatches(1).sampleTokens(0).seed(1).build();
        var e = assertThrows(DivergedException.class, () -> trainer().train(explode));
        assertTrue(e.getMessage().contains("step") && e.getMessage().contains("Last good checkpoint"), e.getMessage());
    }
}
