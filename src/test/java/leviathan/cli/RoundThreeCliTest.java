package leviathan.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import leviathan.model.GptConfig;
import leviathan.model.MemoryEstimate;
import leviathan.testing.TestData;
import leviathan.train.Trainer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * Issue 25 through the command line: --out never takes over a directory silently (defect 1),
 * --ranks is checked before any rank starts (5), the end-of-run sample streams (6), --init-from
 * is checked with the checkpoint's model (9), and the messages of defect 10.
 */
@Timeout(value = 180, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
class RoundThreeCliTest {
    @TempDir
    static Path dir;
    static Path data, run, model;

    static final String[] TINY = {"--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--block-size", "16", "--batch-size", "2",
            "--steps", "2", "--eval-interval", "2", "--eval-batches", "1", "--sample-tokens", "0", "--threads", "1", "--backend", "java"};

    record Run(int code, String err) {}

    static Run run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err, true));
        cl.setOut(new PrintWriter(new StringWriter(), true));
        return new Run(cl.execute(args), err.toString());
    }

    static String[] train(String out, String... more) {
        List<String> a = new ArrayList<>(List.of("train", "--data", data.toString(), "--out", out));
        a.addAll(Arrays.asList(TINY));
        for (int i = 0; i < more.length; i++) {                          // an option of TINY given again replaces its value
            int at = a.indexOf(more[i]);
            if (at >= 0 && i + 1 < more.length && !more[i + 1].startsWith("--")) a.set(at + 1, more[++i]);
            else a.add(more[i]);
        }
        return a.toArray(String[]::new);
    }

    static void assertRefused(String fragment, String... args) {
        Run r = run(args);
        assertTrue(r.code() != 0, "exit 0 for " + String.join(" ", args));
        assertEquals(1, r.err().lines().filter(l -> l.startsWith("leviathan: ")).count(), r.err());
        assertTrue(r.err().contains(fragment), "expected '" + fragment + "' in:\n" + r.err());
    }

    @BeforeAll
    static void aRun() throws Exception {
        data = TestData.writeText(dir, TestData.text(3000, 51));
        run = dir.resolve("run");
        Run r = run(train(run.toString()));
        assertEquals(0, r.code(), r.err());
        model = run.resolve(Trainer.MODEL_FILE);
    }

    @Test
    void outNeverTakesOverSomeonesDirectoryNorARunWithoutOverwrite() throws Exception {
        Path mine = Files.createDirectory(dir.resolve("mine"));
        Files.writeString(mine.resolve("config.json"), "{\"theme\": \"dark\"}");
        assertRefused("holds a config.json that is not a Leviathan run config", train(mine.toString(), "--overwrite"));
        assertEquals("{\"theme\": \"dark\"}", Files.readString(mine.resolve("config.json")));
        assertFalse(Files.exists(mine.resolve("metrics.jsonl")));

        Path kept = Files.createDirectory(dir.resolve("kept"));                   // a finished run whose user kept only the model
        Files.copy(model, kept.resolve(Trainer.MODEL_FILE));
        Files.copy(run.resolve(Trainer.CONFIG_FILE), kept.resolve(Trainer.CONFIG_FILE));
        byte[] before = Files.readAllBytes(kept.resolve(Trainer.MODEL_FILE));
        assertRefused("holds an earlier run (model.safetensors of step 2, no training state to resume)", train(kept.toString()));
        assertTrue(Arrays.equals(before, Files.readAllBytes(kept.resolve(Trainer.MODEL_FILE))));
        assertEquals(0, run(train(kept.toString(), "--overwrite")).code());
    }

    @Test
    void ranksAreCheckedBeforeAnyRankStarts() {
        int cores = Runtime.getRuntime().availableProcessors(), most = cores * TrainCommand.RANKS_PER_CORE;
        assertRefused("is more than 4 ranks per core", train(dir.resolve("r1").toString(), "--preflight-ranks", Integer.toString(most + 1)));
        assertRefused("--batch-size 2 is the global batch and must divide by the " + (most == 2 ? 2 : 3) + " ranks",
                train(dir.resolve("r1").toString(), "--preflight-ranks", "3", "--batch-size", "2"));
        assertEquals(0, run(train(dir.resolve("r1").toString(), "--preflight-ranks", "2")).code());
        assertFalse(Files.exists(dir.resolve("r1")), "a check starts nothing");
        // a model one copy of which fits, but not one per rank: layers sized from this machine's memory
        int ranks = Math.min(most, 8);
        GptConfig oneLayer = GptConfig.of(1, 16, 1, 8, 1024, "correlation", 4);
        long perLayer = MemoryEstimate.estimateBytes(oneLayer, ranks, 16, true);
        long budget = MemoryEstimate.budgetBytes();
        long layers = budget / ranks / perLayer + 2;
        if (layers * perLayer * 2 < budget && layers < 100_000) {
            assertRefused("--ranks " + ranks + " needs about", "train", "--data", data.toString(), "--n-layer", Long.toString(layers),
                    "--n-embd", "1024", "--n-head", "8", "--block-size", "16", "--batch-size", Integer.toString(ranks), "--preflight-ranks",
                    Integer.toString(ranks));
        }
    }

    @Test
    void initFromIsCheckedWithTheCheckpointsModel() {
        // 70,000 x 256 (the default block) is over the 2^24 tokens a micro-batch may hold; x 16 (the checkpoint's) is not
        assertEquals(0, run(train(dir.resolve("i1").toString(), "--init-from", model.toString(), "--batch-size", "70000",
                "--preflight-ranks", "1")).code());
        assertRefused("the model and its block size are " + model + "'s", train(dir.resolve("i1").toString(), "--init-from", model.toString(),
                "--batch-size", "1000000", "--preflight-ranks", "1"));
    }

    @Test
    void messagesNameTheProblemAndAWayThatWorks() throws Exception {
        assertRefused("--steps must be >= 1, got -1", "train", "--steps", "-1", "--data", data.toString());
        System.setProperty("leviathan.precision", "fp8");
        try {
            assertRefused("-Dleviathan.precision=fp8: unknown precision 'fp8'", train(dir.resolve("p1").toString()));
        } finally {
            System.clearProperty("leviathan.precision");
        }
        assertEquals("leviathan.threads must be a positive integer, got 'x'",
                Main.describe(new ExceptionInInitializerError(new IllegalArgumentException("leviathan.threads must be a positive integer, got 'x'"))));

        // a damaged token file: its magic, or ids beyond its header's vocabulary
        Path tokens = dir.resolve("prepared").resolve(data.getFileName() + ".tokens");
        assertEquals(0, run("prepare", "--data", data.toString(), "--out", tokens.getParent().toString()).code());
        byte[] b = Files.readAllBytes(tokens);
        byte[] badMagic = b.clone();
        badMagic[0] = 'X';
        Files.write(dir.resolve("magic.tokens"), badMagic);
        assertRefused("not a token file", "eval", "--checkpoint", model.toString(), "--data", dir.resolve("magic.tokens").toString());
        byte[] badId = b.clone();
        badId[badId.length - 1000] = (byte) 250;                               // an id in the middle; the vocabulary is far smaller
        Files.write(dir.resolve("ids.tokens"), badId);
        assertRefused("has id 250, but the vocabulary in its header has only", "eval", "--checkpoint", model.toString(), "--data",
                dir.resolve("ids.tokens").toString());

        // a FIFO as the state of a run to resume
        Path fifoRun = Files.createDirectory(dir.resolve("fifo-run"));
        Files.copy(run.resolve(Trainer.CONFIG_FILE), fifoRun.resolve(Trainer.CONFIG_FILE));
        TestData.fifo(fifoRun.resolve(Trainer.STATE_FILE));
        assertRefused(fifoRun.resolve(Trainer.STATE_FILE) + " is a FIFO (named pipe)", "train", "--resume", fifoRun.toString());
    }

    /** Advice after a failed resume names only options that --resume accepts. */
    @Test
    void aResumedRunIsAdvisedWaysThatWorkWithResume() throws Exception {
        Path changed = Files.createDirectory(dir.resolve("changed"));
        Path text = changed.resolve("text.txt");
        Files.writeString(text, Files.readString(data) + "Zebra");
        Path r = changed.resolve("run");
        assertEquals(0, run(train(r.toString(), "--data", text.toString(), "--steps", "4", "--stop-after", "2")).code());
        Files.writeString(text, Files.readString(data) + "Quagga");            // 'Q' is in no vocabulary of this run
        Run res = run("train", "--resume", r.toString());
        assertTrue(res.code() != 0, res.err());
        assertTrue(res.err().contains("a resumed run keeps its vocabulary") && res.err().contains("--init-from " + r.resolve(Trainer.MODEL_FILE)),
                res.err());
        assertFalse(res.err().contains("pass --drop-unknown"), "--resume refuses --drop-unknown: " + res.err());
    }

    static Process cli(Path stdout, String... args) throws Exception {
        String java = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Xmx256m", "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(Arrays.asList(args));
        return new ProcessBuilder(cmd).redirectOutput(stdout.toFile()).redirectError(ProcessBuilder.Redirect.DISCARD).start();
    }

    /** sample prints the prompt as the model reads it, and only once the model has produced a character. */
    @Test
    void samplePrintsThePromptAsReadAndNothingForARefusedModel() throws Exception {
        Path out = dir.resolve("sample.out");
        Process p = cli(out, "sample", "--checkpoint", model.toString(), "--prompt", "the \u00e9king", "--drop-unknown", "--tokens", "3",
                "--backend", "java", "--threads", "1");
        assertTrue(p.waitFor(60, TimeUnit.SECONDS));
        assertEquals(0, p.exitValue());
        String text = Files.readString(out);
        assertTrue(text.startsWith("the king") && !text.contains("\u00e9"), "the dropped character is not echoed: " + text);

        // a diverged model (finite weights of +-1e30 that overflow the forward pass) is refused at its first character
        Path diverged = dir.resolve("diverged.safetensors");
        try (leviathan.model.Checkpoint.Loaded l = leviathan.model.Checkpoint.load(model)) {
            var all = l.model().params().all();
            for (long i = 0; i < all.byteSize() / Float.BYTES; i++) {
                all.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, i % 2 == 0 ? 1e30f : -1e30f);
            }
            leviathan.model.Checkpoint.save(diverged, l.model(), l.tokenizer(), null);
        } catch (java.io.IOException e) {
            // a checkpoint of non-finite activations may be refused on save; then there is nothing to sample
            org.junit.jupiter.api.Assumptions.abort("cannot write a diverged checkpoint: " + e.getMessage());
        }
        Process q = cli(out, "sample", "--checkpoint", diverged.toString(), "--prompt", "the king", "--tokens", "3",
                "--backend", "java", "--threads", "1");
        assertTrue(q.waitFor(60, TimeUnit.SECONDS));
        assertEquals(1, q.exitValue());
        assertEquals("", Files.readString(out), "nothing printed before the refusal");
    }

    /** A 2e9-character end-of-run sample streams: the reader closing stdout ends it, and the finished run exits 0. */
    @Test
    void theEndOfRunSampleStreamsAndAFinishedRunExitsZero() throws Exception {
        String java = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
                "-Xmx256m", "-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(Arrays.asList(train(dir.resolve("s1").toString())));
        cmd.set(cmd.indexOf("--sample-tokens") + 1, "2000000000");
        Process p = new ProcessBuilder(cmd).redirectError(ProcessBuilder.Redirect.DISCARD).start();
        try (InputStream out = p.getInputStream()) {
            StringBuilder seen = new StringBuilder();
            byte[] buf = new byte[4096];
            while (!(seen.indexOf("sample:\n") >= 0 && seen.length() - seen.indexOf("sample:\n") > 500)) {
                int n = out.read(buf);
                assertTrue(n > 0, "the sample began to stream: " + seen);
                seen.append(new String(buf, 0, n, StandardCharsets.UTF_8));
            }
        }                                                                          // like `| head`: the reader goes away
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the sample stops once stdout is closed");
        assertEquals(0, p.exitValue());
        assertTrue(Files.isRegularFile(dir.resolve("s1").resolve(Trainer.MODEL_FILE)));
    }
}
