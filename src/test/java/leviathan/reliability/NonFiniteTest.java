package leviathan.reliability;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import leviathan.backend.JavaBackend;
import leviathan.model.Checkpoint;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.testing.Faults;
import leviathan.testing.TestData;
import leviathan.train.TrainConfig;
import leviathan.train.Sampler;
import leviathan.train.Trainer;
import leviathan.train.TrainingResult;
import leviathan.train.DivergedException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * A non-finite loss, gradient or parameter: the step is refused and the run stops naming the step
 * and the last good checkpoint, or (with {@code --nan-policy=skip}) the step is skipped and
 * counted. A non-finite state is never written over a good checkpoint.
 */
class NonFiniteTest {
    static final PrintStream QUIET = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);

    static TrainConfig config(Path data, Path out, int steps, int evalInterval, TrainConfig.NanPolicy policy) {
        return TestData.tinyBuilder(data, out, "correlation", steps, evalInterval).sampleTokens(0).nanPolicy(policy).build();
    }

    @Test
    void aNanLossStopsTheRunNamingTheStepAndTheLastCheckpointAndResumeRecovers(@TempDir Path dir) throws Exception {
        Path data = TestData.writeText(dir, TestData.text(3000, 11));
        Path run = dir.resolve("run");
        List<String> log = new ArrayList<>();
        Trainer t = new Trainer(log::add, QUIET).hooks(Faults.at(6, Faults.Kind.LOSS));
        var e = assertThrows(DivergedException.class, () -> t.train(config(data, run, 12, 4, TrainConfig.NanPolicy.STOP)));
        assertTrue(e.getMessage().startsWith("step 6: loss is not finite; the step was refused."), e.getMessage());
        assertTrue(e.getMessage().contains("Last good checkpoint: " + run.resolve(Trainer.MODEL_FILE) + " (step 4"), e.getMessage());
        try (var l = Checkpoint.load(run.resolve(Trainer.MODEL_FILE))) {
            assertEquals("4", l.metadata().get("step"));
        }
        // the refused step left nothing behind: resuming reproduces the run that never saw the NaN
        new Trainer(s -> { }, QUIET).resume(run, 0);
        new Trainer(s -> { }, QUIET).train(config(data, dir.resolve("clean"), 12, 4, TrainConfig.NanPolicy.STOP));
        assertArrayEquals(Files.readAllBytes(dir.resolve("clean").resolve(Trainer.MODEL_FILE)), Files.readAllBytes(run.resolve(Trainer.MODEL_FILE)));
    }

    @Test
    void aNanGradientBeforeTheFirstCheckpointSaysThereIsNone(@TempDir Path dir) throws Exception {
        Path data = TestData.writeText(dir, TestData.text(3000, 12));
        Trainer t = new Trainer(s -> { }, QUIET).hooks(Faults.at(2, Faults.Kind.GRADIENT));
        var e = assertThrows(DivergedException.class,
                () -> t.train(config(data, dir.resolve("run"), 8, 4, TrainConfig.NanPolicy.STOP)));
        assertTrue(e.getMessage().startsWith("step 2: gradient norm is NaN; the step was refused."), e.getMessage());
        assertTrue(e.getMessage().contains("Last good checkpoint: none yet"), e.getMessage());
        assertFalse(Files.exists(dir.resolve("run").resolve(Trainer.MODEL_FILE)));
    }

    @Test
    void skipPolicyCountsSkippedStepsEvenOnCheckpointStepsAndAcrossResume(@TempDir Path dir) throws Exception {
        Path data = TestData.writeText(dir, TestData.text(3000, 13));
        Path run = dir.resolve("run");
        List<String> log = new ArrayList<>();
        // step 4 is a checkpoint step and the pause point: skipping it must still checkpoint and pause
        TrainingResult paused = new Trainer(log::add, QUIET).stopAfter(4)
                .hooks(Faults.at(3, Faults.Kind.GRADIENT).and(4, Faults.Kind.LOSS)).train(config(data, run, 8, 4, TrainConfig.NanPolicy.SKIP));
        assertEquals(4, paused.steps());
        assertEquals(2, paused.skippedSteps());
        assertTrue(log.contains("step 3: gradient norm is NaN, skipped (1 so far)"), log.toString());
        assertTrue(log.contains("step 4: loss is not finite, skipped (2 so far)"), log.toString());
        TrainingResult done = new Trainer(s -> { }, QUIET).hooks(Faults.at(8, Faults.Kind.LOSS)).resume(run, 0);
        assertEquals(3, done.skippedSteps(), "skips before the pause are remembered");
        try (var l = Checkpoint.load(run.resolve(Trainer.MODEL_FILE))) {
            assertEquals("8", l.metadata().get("step"), "the last step was skipped, and the run still ends with a checkpoint");
            assertEquals("3", l.metadata().get("skipped_steps"));
            assertEquals("5", l.metadata().get("optimizer_steps"), "AdamW counts only the updates it applied");
        }
    }

    @Test
    void aStateThatTurnedNonFiniteIsNeverWrittenOverTheLastGoodCheckpoint(@TempDir Path dir) throws Exception {
        Path data = TestData.writeText(dir, TestData.text(3000, 14));
        Path run = dir.resolve("run");
        new Trainer(s -> { }, QUIET).stopAfter(4).train(config(data, run, 12, 4, TrainConfig.NanPolicy.SKIP));
        byte[] good = Files.readAllBytes(run.resolve(Trainer.MODEL_FILE));
        byte[] goodState = Files.readAllBytes(run.resolve(Trainer.STATE_FILE));
        // step 5's update leaves a NaN weight; skip mode skips steps 6..8, then the checkpoint at 8 is refused
        Trainer t = new Trainer(s -> { }, QUIET).hooks(Faults.at(5, Faults.Kind.PARAMETER));
        var e = assertThrows(DivergedException.class, () -> t.resume(run, 0));
        assertTrue(e.getMessage().startsWith("step 8: param.wte holds NaN at index 0 after the update; the checkpoint was not written."),
                e.getMessage());
        assertTrue(e.getMessage().contains("(step 4, val loss "), e.getMessage());
        assertArrayEquals(good, Files.readAllBytes(run.resolve(Trainer.MODEL_FILE)));
        assertArrayEquals(goodState, Files.readAllBytes(run.resolve(Trainer.STATE_FILE)));
    }

    @Test
    void samplingRefusesOverflowingLogitsAndTreatsATinyTemperatureAsGreedy() throws Exception {
        GptConfig cfg = GptConfig.of(11, 8, 1, 2, 16, "correlation", 2);
        try (Gpt g = Gpt.init(cfg, 3); Sampler s = new Sampler(g, new JavaBackend())) {
            int[] greedy = s.generate(new int[] {1, 2}, new Sampler.Options(12, 0f, 0, 1), null);
            // 1/Float.MIN_VALUE overflows float: the scaled logits must not, or every draw degenerates to token 0
            assertArrayEquals(greedy, s.generate(new int[] {1, 2}, new Sampler.Options(12, Float.MIN_VALUE, 0, 1), null));
            g.params().get("wte").fill(1f);                         // finite weights whose logits overflow:
            g.params().get("ln_f.bias").fill(3e38f);               // 16 × 3e38 = +Infinity
            var e = assertThrows(IllegalStateException.class, () -> s.generate(new int[] {1}, new Sampler.Options(3, 1f, 0, 1), null));
            assertTrue(e.getMessage().startsWith("the model produced a non-finite logit (Infinity) for token 0"), e.getMessage());
        }
    }
}
