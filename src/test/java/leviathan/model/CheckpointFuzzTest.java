package leviathan.model;

import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import leviathan.backend.JavaBackend;
import leviathan.data.CharTokenizer;
import leviathan.testing.CheckpointMutator;
import leviathan.testing.TestData;
import leviathan.train.TrainConfig;
import leviathan.train.Trainer;
import leviathan.train.RunCompleteException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * Seeded random mutations of valid checkpoints (bit flips, byte inserts and deletes, truncation,
 * length-prefix edits, and structural edits of the header JSON: numbers, shapes, offsets, dtypes,
 * metadata, vocabulary). Every outcome must be a correct load, after which the model runs, or one
 * {@link CheckpointException} naming the file: any other exception, an error, or an out-of-memory
 * is a loader bug. Iteration {@code i} uses seed {@code SEED + i}, so a failure reproduces alone.
 * The mutations live in {@link CheckpointMutator}; {@code benchmarks/fuzz-checkpoints.sh} runs them for as long as asked.
 */
class CheckpointFuzzTest {
    static final long SEED = 20240611L;
    /** Bounded so the suite stays fast; the benchmark entry point runs for hours if asked. */
    static final int MAX_ITERATIONS = 4000, MIN_ITERATIONS = 500;
    static final long MAX_NANOS = 8_000_000_000L;

    @Test
    @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)   // a hang is a bug too
    void mutatedCheckpointsLoadOrFailWithOneCheckpointException(@TempDir Path dir) throws IOException {
        CharTokenizer tok = CharTokenizer.fromText("abcdefg\n ");
        List<byte[]> seeds = new ArrayList<>();
        seeds.add(CheckpointMutator.valid(dir, GptConfig.of(tok.vocabSize(), 8, 1, 2, 8, "correlation", 2), tok));
        seeds.add(CheckpointMutator.valid(dir, GptConfig.of(tok.vocabSize(), 4, 2, 1, 4, "dot", 1), tok));
        // the variants: an involution mixer with a mixture-of-experts MLP (window, n_expert, top_k, expert_hidden metadata)
        seeds.add(CheckpointMutator.valid(dir, new GptConfig(tok.vocabSize(), 4, 1, 2, 8, new leviathan.nn.PartSpec("involution", java.util.Map.of("window", "2")),
                new leviathan.nn.PartSpec("moe", java.util.Map.of("n_expert", "3", "top_k", "2", "expert_hidden", "4"))), tok));
        Path file = dir.resolve("fuzz.safetensors");
        long deadline = System.nanoTime() + MAX_NANOS;
        int done = 0, loaded = 0;
        Map<String, Integer> refusals = new LinkedHashMap<>();
        // at least MIN_ITERATIONS whatever the machine's load, then more while the time budget lasts
        for (int i = 0; i < MAX_ITERATIONS && (i < MIN_ITERATIONS || System.nanoTime() < deadline); i++, done++) {
            SplittableRandom r = new SplittableRandom(SEED + i);
            byte[] original = seeds.get(r.nextInt(seeds.size()));
            StringBuilder what = new StringBuilder();
            byte[] mutated = CheckpointMutator.mutate(original, r, what);
            Files.write(file, mutated);
            String outcome = check(file, "iteration " + i + " (seed " + (SEED + i) + "): " + what);
            if (outcome == null) loaded++;
            else refusals.merge(outcome, 1, Integer::sum);
        }
        // the mutations must reach the deep checks, not only the first one
        assertTrue(refusals.size() >= 8, "too few distinct refusals: " + refusals.keySet());
        System.out.printf("checkpoint fuzz: %d iterations, %d loaded, refusals by kind: %s%n", done, loaded, refusals);
    }

    /** The resume file gets the same treatment: {@code --resume} must trust it no more than a model file. */
    @Test
    @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void mutatedTrainingStatesResumeOrFailWithOneCheckpointException(@TempDir Path dir) throws IOException {
        Path data = TestData.writeText(dir, TestData.text(1500, 5));
        Path run = dir.resolve("run");
        PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
        new Trainer(s -> { }, quiet).train(TestData.tinyBuilder(data, run, "correlation", 2, 2).nLayer(1).nEmbd(8).blockSize(8)
                .option("lags", 2).batchSize(2).warmup(0).evalBatches(1).sampleTokens(0).seed(1).build());
        Path state = run.resolve(Trainer.STATE_FILE);
        byte[] original = Files.readAllBytes(state);
        long deadline = System.nanoTime() + MAX_NANOS / 4;
        int done = 0;
        for (int i = 0; i < MAX_ITERATIONS / 8 && (i < MIN_ITERATIONS / 10 || System.nanoTime() < deadline); i++, done++) {
            SplittableRandom r = new SplittableRandom(SEED + 1_000_000 + i);
            StringBuilder what = new StringBuilder();
            Files.write(state, CheckpointMutator.mutate(original, r, what));
            try {
                new Trainer(s -> { }, quiet).resume(run, 2);
            } catch (RunCompleteException e) {
                // the state loaded and is at the run's last step (as the unmutated one is)
            } catch (CheckpointException e) {
                if (!e.getMessage().startsWith(state + ": ")) fail("iteration " + i + ": " + what + ": message without the file: " + e.getMessage());
            } catch (Throwable t) {
                fail("iteration " + i + " (seed " + (SEED + 1_000_000 + i) + "): " + what + ": " + t, t);
            }
        }
        System.out.printf("state fuzz: %d iterations%n", done);
    }

    /** {@link CheckpointMutator#check}, failing the test (with the mutation) on anything but a load or a clear refusal. */
    static String check(Path file, String what) {
        try {
            return CheckpointMutator.check(file);
        } catch (Throwable t) {
            fail(what + ": " + t, t);
            return null;
        }
    }

    /** Millions of tiny JSON values would take hundreds of MiB of heap to parse: refused by count instead. */
    @Test
    void aHeaderOfMillionsOfValuesIsRefusedBeforeItFillsTheHeap(@TempDir Path dir) throws IOException {
        StringBuilder h = new StringBuilder("{");
        for (int i = 0; i <= Json.MAX_VALUES; i++) h.append(i == 0 ? "" : ",").append('"').append(Integer.toString(i, 36)).append("\":{}");
        byte[] json = h.append('}').toString().getBytes(StandardCharsets.UTF_8);
        Path f = dir.resolve("values.safetensors");
        Files.write(f, ByteBuffer.allocate(8 + json.length).order(ByteOrder.LITTLE_ENDIAN).putLong(json.length).put(json).array());
        var e = org.junit.jupiter.api.Assertions.assertThrows(CheckpointException.class, () -> Checkpoint.load(f));
        assertTrue(e.getMessage().contains("more than " + Json.MAX_VALUES + " JSON values"), e.getMessage());
    }

    /** The float data of a loaded model must be what the file holds (little-endian), not a shifted copy. */
    @Test
    void loadedDataMatchesTheFileBytes(@TempDir Path dir) throws IOException {
        CharTokenizer tok = CharTokenizer.fromText("abcdefg\n ");
        byte[] file = CheckpointMutator.valid(dir, GptConfig.of(tok.vocabSize(), 8, 1, 2, 8, "correlation", 2), tok);
        Path f = dir.resolve("x.safetensors");
        Files.write(f, file);
        SafeTensors.Header h = SafeTensors.readHeader(f);
        try (Checkpoint.Loaded l = Checkpoint.load(f)) {
            for (var t : l.model().params().tensors().values()) {
                SafeTensors.Entry e = h.entries().get(t.name());
                for (long k = 0; k < t.numel(); k++) {
                    float want = ByteBuffer.wrap(file).order(ByteOrder.LITTLE_ENDIAN).getFloat((int) (h.dataStart() + e.begin() + 4 * k));
                    if (Float.floatToRawIntBits(want) != Float.floatToRawIntBits(t.segment().getAtIndex(ValueLayout.JAVA_FLOAT, k))) {
                        fail(t.name() + "[" + k + "] differs from the file");
                    }
                }
            }
        }
    }
}
