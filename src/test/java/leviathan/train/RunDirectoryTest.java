package leviathan.train;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import leviathan.cli.Main;
import leviathan.model.Checkpoint;
import leviathan.model.Gpt;
import leviathan.model.SafeTensors;
import leviathan.testing.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The run directory's promises (issue 18, items 1, 3 and 9): a checkpoint replaces the last good
 * one only if its evaluation is finite, and the stop message names the checkpoint that is really
 * on disk; model and state are written as one pair, a failed write replaces nothing and says what
 * was kept, and resume reports a pair that disagrees; a finished run is not resumed, nor is a run
 * asked to go back.
 */
class RunDirectoryTest {
    static final PrintStream QUIET = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);

    static TrainConfig.Builder tiny(Path data, Path run, int steps, int evalInterval) {
        return TestData.tinyBuilder(data, run, "correlation", steps, evalInterval).sampleTokens(0);
    }

    static String metaOf(Path file, String key) throws IOException {
        return SafeTensors.readHeader(file).metadata().get(key);
    }

    /** The repro, scaled down: a learning rate of 1e9 drives the model to overflow. */
    @Test
    void aDivergingRunKeepsTheLastCheckpointWhoseEvaluationWasFiniteAndNamesItTruly(@TempDir Path dir) throws Exception {
        Path data = TestData.writeText(dir, TestData.text(3000, 31)), run = dir.resolve("run");
        TrainConfig cfg = tiny(data, run, 12, 1).lr(1e9f).minLr(0f).warmup(100000).build();
        var e = assertThrows(DivergedException.class, () -> new Trainer(s -> { }, QUIET).train(cfg));
        String savedStep = metaOf(run.resolve(Trainer.MODEL_FILE), "step"), savedLoss = metaOf(run.resolve(Trainer.MODEL_FILE), "val_loss");
        assertTrue(Double.isFinite(Double.parseDouble(savedLoss)), "the kept checkpoint evaluated finite: " + savedLoss);
        assertTrue(e.getMessage().contains("Last good checkpoint: " + run.resolve(Trainer.MODEL_FILE) + " (step " + savedStep + ", val loss "),
                "the message names the checkpoint on disk (step " + savedStep + "): " + e.getMessage());
        assertEquals(savedStep, metaOf(run.resolve(Trainer.STATE_FILE), "step"), "model and state are one pair");
        try (var l = Checkpoint.load(run.resolve(Trainer.MODEL_FILE))) {
            assertEquals(savedStep, l.metadata().get("step"));
        }
    }

    /** Finite weights whose forward pass overflows from step {@code step} on: its evaluation is not finite, so nothing is saved over step 4. */
    static TrainingHooks overflowAfter(int step) {
        return new TrainingHooks() {
            @Override
            public void afterUpdate(int s, Gpt model) {
                if (s != step) return;
                model.params().get("wte").fill(1f);                  // 16 × 3e38 = +Infinity in every logit
                model.params().get("ln_f.bias").fill(3e38f);
            }
        };
    }

    @Test
    void aNonFiniteEvaluationNeverReplacesTheLastGoodCheckpointInEitherPolicy(@TempDir Path dir) throws Exception {
        Path data = TestData.writeText(dir, TestData.text(3000, 32));
        for (TrainConfig.NanPolicy policy : TrainConfig.NanPolicy.values()) {
            Path run = dir.resolve("run-" + policy);
            List<String> log = new ArrayList<>();
            TrainConfig cfg = tiny(data, run, 12, 4).nanPolicy(policy).build();
            new Trainer(s -> { }, QUIET).stopAfter(4).train(cfg);
            byte[] model = Files.readAllBytes(run.resolve(Trainer.MODEL_FILE)), state = Files.readAllBytes(run.resolve(Trainer.STATE_FILE));
            var e = assertThrows(DivergedException.class, () -> new Trainer(log::add, QUIET).hooks(overflowAfter(8)).resume(run, 0));
            String when = policy == TrainConfig.NanPolicy.STOP ? "step 8: " : "step 12: ";
            assertTrue(e.getMessage().startsWith(when + "the evaluation is not finite"), policy + ": " + e.getMessage());
            assertTrue(e.getMessage().contains("the checkpoint was not written. Last good checkpoint: " + run.resolve(Trainer.MODEL_FILE)
                    + " (step 4, val loss "), e.getMessage());
            if (policy == TrainConfig.NanPolicy.SKIP) {
                assertTrue(log.stream().anyMatch(l -> l.startsWith("step 8: the evaluation is not finite")), log.toString());
            }
            assertArrayEquals(model, Files.readAllBytes(run.resolve(Trainer.MODEL_FILE)), policy + ": model kept");
            assertArrayEquals(state, Files.readAllBytes(run.resolve(Trainer.STATE_FILE)), policy + ": state kept");
        }
    }

    @Test
    void aFailedStateWriteReplacesNothingSaysWhatWasKeptAndResumeRecovers(@TempDir Path dir) throws Exception {
        Path data = TestData.writeText(dir, TestData.text(3000, 33)), run = dir.resolve("run");
        TrainConfig cfg = tiny(data, run, 12, 4).build();
        new Trainer(s -> { }, QUIET).stopAfter(4).train(cfg);
        byte[] model = Files.readAllBytes(run.resolve(Trainer.MODEL_FILE)), state = Files.readAllBytes(run.resolve(Trainer.STATE_FILE));
        // the state's staging name taken by a non-empty directory: the write of the state fails as a full disk would
        Path obstacle = run.resolve(Trainer.STATE_FILE + RunDirectory.STAGED);
        Files.createDirectories(obstacle.resolve("x"));
        var e = assertThrows(IOException.class, () -> new Trainer(s -> { }, QUIET).resume(run, 0));
        assertTrue(e.getMessage().startsWith("step 8: the checkpoint was not written (writing " + obstacle + " failed: "), e.getMessage());
        assertTrue(e.getMessage().contains("; kept: model.safetensors and state.safetensors of step 4, val loss "), e.getMessage());
        assertArrayEquals(model, Files.readAllBytes(run.resolve(Trainer.MODEL_FILE)), "the model was not replaced without its state");
        assertArrayEquals(state, Files.readAllBytes(run.resolve(Trainer.STATE_FILE)));
        assertFalse(Files.exists(run.resolve(Trainer.MODEL_FILE + RunDirectory.STAGED)), "the staged model is removed");

        Files.delete(obstacle.resolve("x"));
        Files.delete(obstacle);
        new Trainer(s -> { }, QUIET).resume(run, 0);
        Path clean = dir.resolve("clean");
        new Trainer(s -> { }, QUIET).train(tiny(data, clean, 12, 4).build());
        assertArrayEquals(Files.readAllBytes(clean.resolve(Trainer.MODEL_FILE)), Files.readAllBytes(run.resolve(Trainer.MODEL_FILE)));
    }

    @Test
    void resumeReportsAPairThatDisagreesAndAMissingStateTruly(@TempDir Path dir) throws Exception {
        Path data = TestData.writeText(dir, TestData.text(3000, 34)), run = dir.resolve("run");
        TrainConfig cfg = tiny(data, run, 12, 4).build();
        new Trainer(s -> { }, QUIET).stopAfter(4).train(cfg);
        byte[] state4 = Files.readAllBytes(run.resolve(Trainer.STATE_FILE));
        new Trainer(s -> { }, QUIET).stopAfter(8).resume(run, 0);
        // as a kill between the two renames leaves it: the model at step 8, the state at step 4
        Files.write(run.resolve(Trainer.STATE_FILE), state4);
        List<String> log = new ArrayList<>();
        new Trainer(log::add, QUIET).resume(run, 0);
        assertTrue(log.stream().anyMatch(l -> l.contains("holds step 8 and") && l.endsWith("resuming from step 4")), log.toString());
        Path clean = dir.resolve("clean");
        new Trainer(s -> { }, QUIET).train(tiny(data, clean, 12, 4).build());
        assertArrayEquals(Files.readAllBytes(clean.resolve(Trainer.MODEL_FILE)), Files.readAllBytes(run.resolve(Trainer.MODEL_FILE)));

        // a model without its state (a state write that failed in an older version) is not called "no checkpoint yet"
        Files.delete(run.resolve(Trainer.STATE_FILE));
        var e = assertThrows(IOException.class, () -> new Trainer(s -> { }, QUIET).resume(run, 20));
        assertTrue(e.getMessage().contains("not found, but " + run.resolve(Trainer.MODEL_FILE) + " holds step 12"), e.getMessage());
        assertTrue(e.getMessage().contains("--init-from " + run.resolve(Trainer.MODEL_FILE)), e.getMessage());
    }

    record Cli(int code, String out, String err) {}

    static Cli cli(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter out = new StringWriter(), err = new StringWriter();
        cl.setOut(new PrintWriter(out, true));
        cl.setErr(new PrintWriter(err, true));
        return new Cli(cl.execute(args), out.toString(), err.toString());
    }

    @Test
    void aFinishedRunIsNotResumedAndARunCannotGoBack(@TempDir Path dir) throws Exception {
        Path data = TestData.writeText(dir, TestData.text(3000, 35)), run = dir.resolve("run");
        new Trainer(s -> { }, QUIET).train(tiny(data, run, 8, 4).build());
        byte[] config = Files.readAllBytes(run.resolve(Trainer.CONFIG_FILE));
        var done = assertThrows(RunCompleteException.class, () -> new Trainer(s -> { }, QUIET).resume(run, 0));
        assertTrue(done.getMessage().startsWith(run + " is complete: all 8 steps ran (checkpoint of step 8, val loss "), done.getMessage());
        assertTrue(done.getMessage().endsWith("leviathan train --resume " + run + " --steps N, with N > 8"), done.getMessage());
        assertFalse(done.getMessage().contains("NaN"));
        assertThrows(RunCompleteException.class, () -> new Trainer(s -> { }, QUIET).resume(run, 8));
        var back = assertThrows(IllegalArgumentException.class, () -> new Trainer(s -> { }, QUIET).resume(run, 6));
        assertTrue(back.getMessage().startsWith("--steps 6 is below step 8, which " + run + " already reached"), back.getMessage());
        assertArrayEquals(config, Files.readAllBytes(run.resolve(Trainer.CONFIG_FILE)), "a refused resume leaves config.json alone");

        Cli c = cli("train", "--resume", run.toString());
        assertEquals(1, c.code());
        assertEquals(1, c.err().lines().filter(l -> l.startsWith("leviathan: ")).count(), c.err());
        assertTrue(c.err().contains("is complete") && !c.out().contains("NaN"), c.out() + c.err());
        // extending it works, and the schedule then spans the new total
        TrainingResult more = new Trainer(s -> { }, QUIET).resume(run, 10);
        assertEquals(10, more.steps());
        assertTrue(Files.readString(run.resolve(Trainer.CONFIG_FILE)).contains("\"steps\": 10"));
    }

    /** A config.json as the version before the groups wrote it (flat keys, lags and lag_bias_init among them) still reads. */
    @Test
    void oldFlatConfigFilesStillRead() {
        String old = """
                {"data": "x.txt", "out": null, "init_from": null, "drop_unknown": false, "n_layer": 2, "n_head": 2, "n_embd": 16,
                 "block_size": 16, "attention": "correlation", "lags": 3, "batch_size": 4, "accum": 1, "steps": 40, "lr": 0.003,
                 "min_lr": 3.0E-4, "warmup": 5, "optimizer": "adamw", "beta1": 0.9, "beta2": 0.99, "eps": 1.0E-8, "weight_decay": 0.1,
                 "clip": 1.0, "eval_interval": 5, "eval_batches": 2, "log_interval": 10, "sample_tokens": 20, "seed": 1337,
                 "threads": 1, "backend": "java", "impl": "auto", "nan_policy": "stop", "lag_bias_init": 0.5}""";
        TrainConfig c = TrainConfig.fromJson(old);
        assertEquals("dense", c.model().mlp());
        assertEquals(Map.of("lags", "3", "lag_bias_init", "0.5", "impl", "auto"), c.model().options());
        assertEquals(3, c.model().toGptConfig(10).lags());
        assertEquals(40, c.schedule().steps());
        assertEquals(3e-4f, c.schedule().minLr());
        assertEquals(c, TrainConfig.fromJson(c.toJson()), "a round trip keeps every value");
        var bad = assertThrows(IllegalArgumentException.class, () -> TrainConfig.fromJson(old.replace("\"lags\"", "\"lagz\"")).model().toGptConfig(10));
        assertTrue(bad.getMessage().startsWith("unknown model option 'lagz'"), bad.getMessage());
        assertTrue(cli("train", "--help").out().contains("(default: 2000)"), "--steps shows its default");
    }

    @Test
    void metricsRowsCarryExtraNamedNumbers() {
        Map<String, Double> extras = new java.util.LinkedHashMap<>();
        extras.put("aux_loss", 0.0125);
        extras.put("expert_load.0", Double.NaN);
        extras.put("z_loss", 2.0);
        assertEquals(",\"aux_loss\":0.0125000,\"expert_load.0\":null,\"z_loss\":2.00000", Reporter.json(extras));
        assertEquals(" | aux_loss 0.0125 expert_load.0 NaN", Reporter.brief(extras));
        assertEquals("", Reporter.json(Map.of()));
    }
}
