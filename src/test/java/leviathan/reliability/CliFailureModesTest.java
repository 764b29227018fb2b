package leviathan.reliability;

import static leviathan.reliability.CliBadInputTest.assertRefused;
import static leviathan.reliability.CliBadInputTest.concat;
import static leviathan.reliability.CliBadInputTest.run;
import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.Map;
import java.util.concurrent.Callable;
import leviathan.cli.Main;
import leviathan.kernel.Parallel;
import leviathan.model.Checkpoint;
import leviathan.testing.TestData;
import leviathan.train.Trainer;
import org.junit.jupiter.api.AfterEach;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * Faults beyond bad option values, through the command line: files that are not files, resource
 * limits (threads, memory, JVM errors), results that are not finite, run directories that cannot
 * be one, and a disk that fills during a save. Each ends in one {@code leviathan:} line, a
 * non-zero exit, and no stack trace.
 */
class CliFailureModesTest {
    @TempDir
    static Path dir;
    static Path data, run, model;
    static final String[] TINY = CliBadInputTest.TINY;
    private final int threads = Parallel.threads();

    @BeforeAll
    static void aRun() throws Exception {
        data = TestData.writeText(dir, TestData.text(3000, 52));
        run = dir.resolve("run");
        assertEquals(0, run(concat(new String[] {"train", "--data", data.toString(), "--out", run.toString()}, TINY)).code());
        model = run.resolve(Trainer.MODEL_FILE);
    }

    @AfterEach
    void restoreThreads() { Parallel.setThreads(threads); }

    /** {@code train --data <data> --out <out>} with the tiny options, {@code overrides} (option, value pairs) replacing or adding. */
    static String[] train(Path out, String... overrides) {
        var opts = new java.util.LinkedHashMap<String, String>();
        opts.put("--data", data.toString());
        opts.put("--out", out.toString());
        for (int i = 0; i < TINY.length; i += 2) opts.put(TINY[i], TINY[i + 1]);
        for (int i = 0; i < overrides.length; i += 2) opts.put(overrides[i], overrides[i + 1]);
        var args = new java.util.ArrayList<String>(java.util.List.of("train"));
        opts.forEach((k, v) -> { args.add(k); args.add(v); });
        return args.toArray(String[]::new);
    }

    @Test
    void filesThatAreNotFilesSayWhatTheyAre() throws Exception {
        Path fifo = TestData.fifo(dir.resolve("pipe"));
        assertTimeoutPreemptively(Duration.ofSeconds(60), () -> {      // opening a FIFO would block until a writer came
            assertRefused("dataset '" + fifo + "' is a FIFO (named pipe), not a regular file", train(dir.resolve("r1"), "--data", fifo.toString()));
            assertRefused(fifo + ": is a FIFO (named pipe), not a regular file", "sample", "--checkpoint", fifo.toString());
            assertRefused(fifo + ": is a FIFO (named pipe), not a regular file", "eval", "--checkpoint", fifo.toString(), "--data", data.toString());
            assertRefused("is a FIFO (named pipe)", concat(new String[] {"train", "--init-from", fifo.toString(), "--data", data.toString(),
                    "--out", dir.resolve("r2").toString()}, TINY));
        });
        if (Files.exists(Path.of("/dev/null"))) {
            assertRefused("dataset '/dev/null' is a character device, not a regular file", "train", "--data", "/dev/null");
            assertRefused("dataset '/dev/null' is a character device", "eval", "--checkpoint", model.toString(), "--data", "/dev/null");
        }
        assertRefused("dataset '" + dir + "' is a directory", "train", "--data", dir.toString());
        Path loop = dir.resolve("loop.safetensors");
        Files.createSymbolicLink(loop, loop.getFileName());            // a link to itself
        assertRefused(loop + ": is a symbolic link loop", "sample", "--checkpoint", loop.toString());
        Path dangling = Files.createSymbolicLink(dir.resolve("gone.safetensors"), dir.resolve("never-written.safetensors"));
        assertRefused(dangling + ": is a broken symbolic link (to ", "eval", "--checkpoint", dangling.toString(), "--data", data.toString());
        assertRefused("no such file", "sample", "--checkpoint", dir.resolve("absent.safetensors").toString());
    }

    @Test
    void threadCountsAreBounded() {
        String max = Integer.toString(Parallel.maxThreads());
        assertRefused("--threads must be at most " + max + " (the larger of 64 and 8 per core", train(dir.resolve("r3"), "--threads", "100000"));
        assertRefused("--threads must be at most " + max, "eval", "--checkpoint", model.toString(), "--data", data.toString(), "--threads", "100000");
        assertRefused("threads must be at most " + max, "sample", "--checkpoint", model.toString(), "--threads", "100000");
        assertEquals(threads, Parallel.threads(), "a refused count changes nothing");
    }

    @Test
    void aRunTooLargeForTheMachineIsRefusedBeforeAllocating() {
        // 2^24 tokens per micro-batch at n_embd 2048: terabytes, refused with the estimate and the budget
        assertRefused("needs about ", "train", "--data", data.toString(), "--out", dir.resolve("r4").toString(), "--n-layer", "1",
                "--n-embd", "2048", "--n-head", "32", "--block-size", "1024", "--batch-size", "16384", "--threads", "1");
        var r = run("train", "--data", data.toString(), "--out", dir.resolve("r4").toString(), "--n-layer", "1",
                "--n-embd", "2048", "--n-head", "32", "--block-size", "1024", "--batch-size", "16384", "--threads", "1");
        assertTrue(r.err().contains("of memory this machine has (physical RAM or container limit); use a smaller --batch-size"), r.err());
        assertTrue(!Files.exists(dir.resolve("r4")), "nothing written for a refused run");
    }

    /** A subcommand that fails with a JVM error, to reach the top-level handler as a real command would. */
    @CommandLine.Command(name = "fail")
    static final class Failing implements Callable<Integer> {
        @CommandLine.Option(names = "--verbose") boolean verbose;
        @CommandLine.Option(names = "--what") String what = "oom";

        @Override
        public Integer call() {
            if (what.equals("oom")) throw new OutOfMemoryError("Unable to allocate 144568320048 bytes");
            return recurse(0);
        }

        private static int recurse(int n) { return recurse(n + 1) + 1; }
    }

    static CliBadInputTest.Run runFailing(String... args) {
        CommandLine cl = Main.commandLine().addSubcommand(new Failing());
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err, true));
        cl.setOut(new PrintWriter(new StringWriter(), true));
        return new CliBadInputTest.Run(cl.execute(args), err.toString());
    }

    @Test
    void jvmErrorsAreOneLineAndTheTraceIsThereWithVerbose() {
        var oom = runFailing("fail");
        assertEquals(1, oom.code());
        assertTrue(oom.err().startsWith("leviathan: out of memory (Unable to allocate 144568320048 bytes): use a smaller --batch-size"), oom.err());
        assertTrue(!oom.err().contains("\tat "), oom.err());
        assertEquals(1, oom.err().lines().filter(l -> l.startsWith("leviathan: ")).count(), oom.err());
        var so = runFailing("fail", "--what", "recurse");
        assertEquals(1, so.code());
        assertTrue(so.err().startsWith("leviathan: internal error: stack overflow"), so.err());
        assertTrue(!so.err().contains("\tat "), so.err());
        var verbose = runFailing("fail", "--verbose");
        assertTrue(verbose.err().contains("Caused by: java.lang.OutOfMemoryError") && verbose.err().contains("\tat "), verbose.err());
    }

    @Test
    void resultsThatAreNotFiniteExitNonZero() throws Exception {
        // a checkpoint whose weights are finite but overflow the forward pass, as a diverged run leaves
        Path diverged = dir.resolve("diverged.safetensors");
        try (var l = Checkpoint.load(model)) {
            var p = l.model().params().all();
            for (long i = 0, n = p.byteSize() / Float.BYTES; i < n; i++) p.setAtIndex(ValueLayout.JAVA_FLOAT, i, (i % 2 == 0 ? 1 : -1) * 1e30f);
            Checkpoint.save(diverged, l.model(), l.tokenizer(), Map.of("step", "2"));
        }
        assertRefused("gives loss NaN on text.txt, not a finite number", "eval", "--checkpoint", diverged.toString(), "--data", data.toString());
        assertEquals(0, run("eval", "--checkpoint", model.toString(), "--data", data.toString()).code(), "a healthy model still scores");

        assertRefused("--steps must be >= 1, got 0", train(dir.resolve("r5"), "--steps", "0"));
        assertRefused("--steps must be >= 1, got 0", "train", "--resume", run.toString(), "--steps", "0");
        assertTrue(!Files.exists(dir.resolve("r5")));

        // skipping every non-finite step can still end at a model whose val loss is NaN
        Path skip = dir.resolve("skip");
        var r = run(train(skip, "--nan-policy", "skip", "--lr", "1e9", "--warmup", "0", "--steps", "6", "--eval-interval", "6",
                "--clip", "0"));
        assertTrue(r.code() != 0, "exit 0 for a run ending at val loss NaN: " + r.err());
        assertEquals(1, r.err().lines().filter(l -> l.startsWith("leviathan: ")).count(), r.err());
        assertTrue(r.err().contains("leviathan: step 6: the evaluation is not finite (val loss NaN"), r.err());
    }

    @Test
    void anOutThatCannotBeARunDirectorySaysWhy() throws Exception {
        assertRefused("--out is empty", train(dir.resolve("unused"), "--out", ""));
        Path file = Files.writeString(dir.resolve("a-file"), "x");
        assertRefused("--out " + file + " is an existing file, not a directory", train(file));
        assertRefused("--out " + file.resolve("run") + " cannot be created: " + file + " is a file, not a directory", train(file.resolve("run")));
        Path readOnly = Path.of("/proc/leviathan-run");
        Assumptions.assumeTrue(Files.isDirectory(Path.of("/proc")) && Files.getFileStore(Path.of("/proc")) != null);
        var r = run(train(readOnly));
        assertTrue(r.code() != 0 && r.err().startsWith("leviathan: ") && r.err().contains("/proc"), r.err());
        assertTrue(!r.err().startsWith("leviathan: /proc/leviathan-run\n"), "more than the bare path: " + r.err());
    }

    /**
     * A real full disk: a 1 MiB tmpfs (mounting one needs root; elsewhere the test is skipped with
     * the reason). Links at temp names no longer fake one: the writer removes them, never follows them.
     */
    @Test
    void aFullDiskNamesTheFileKeepsTheCheckpointAndSaysHowToResume() throws Exception {
        Path mp = Files.createDirectories(dir.resolve("fullfs"));
        boolean mounted;
        try {
            mounted = new ProcessBuilder("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", mp.toString()).redirectErrorStream(true)
                    .start().waitFor() == 0;
        } catch (java.io.IOException e) {
            mounted = false;
        }
        Assumptions.assumeTrue(mounted, "cannot mount a small tmpfs here (needs root): no real full disk to test with");
        try {
            Path r = mp.resolve("run");
            assertEquals(0, run(train(r, "--steps", "4", "--stop-after", "2", "--n-embd", "32", "--n-head", "2")).code());
            byte[] before = Files.readAllBytes(r.resolve(Trainer.MODEL_FILE));
            Path filler = mp.resolve("filler");
            fill(filler, 8 * 4096);                              // room for the lock, config and metrics, not for a checkpoint
            var res = run("train", "--resume", r.toString());
            assertTrue(res.code() != 0, res.err());
            assertEquals(1, res.err().lines().filter(l -> l.startsWith("leviathan: ")).count(), res.err());
            assertTrue(res.err().contains("the checkpoint was not written (writing " + r.resolve(Trainer.MODEL_FILE + ".next")), res.err());
            assertTrue(res.err().contains("No space left on device"), res.err());
            assertTrue(res.err().contains("kept: model.safetensors and state.safetensors of step 2"), res.err());
            assertTrue(res.err().contains("continue with --resume " + r), res.err());
            assertArrayEquals(before, Files.readAllBytes(r.resolve(Trainer.MODEL_FILE)), "the previous checkpoint is untouched");
            try (var left = Files.list(r)) {
                assertTrue(left.noneMatch(p -> p.getFileName().toString().contains(".next")), "the failed save cleaned up");
            }

            fill(filler, 0);                                     // not a byte left: the lock write itself fails, nothing changes
            var locked = run("train", "--resume", r.toString());
            assertTrue(locked.code() != 0, locked.err());
            assertTrue(locked.err().contains("leviathan: cannot write " + r.resolve(Trainer.LOCK_FILE) + " (No space left on device): nothing in "
                    + r + " was changed; fix the cause (e.g. free disk space) and start again"), locked.err());
            assertArrayEquals(before, Files.readAllBytes(r.resolve(Trainer.MODEL_FILE)));

            // a token preparation that finds the disk full: named, with the way on, and no temp file left
            var prep = run("prepare", "--data", data.toString(), "--out", mp.toString());
            assertTrue(prep.code() != 0, prep.err());
            assertTrue(prep.err().contains("leviathan: cannot write the token file " + mp.resolve(data.getFileName() + ".tokens")
                    + " (No space left on device); nothing was replaced: free space in " + mp), prep.err());
            try (var left = Files.list(mp)) {
                assertTrue(left.noneMatch(p -> p.getFileName().toString().contains(".tmp-")), "no temp file left");
            }

            Files.delete(filler);
            assertEquals(0, run("train", "--resume", r.toString()).code(), "and the run resumes once there is room");
        } finally {
            new ProcessBuilder("umount", mp.toString()).start().waitFor();
        }
    }

    /** Fills the file system of {@code filler} until a write fails, then frees {@code leave} bytes of it. */
    private static void fill(Path filler, long leave) throws Exception {
        Files.deleteIfExists(filler);
        byte[] page = new byte[4096];
        try (var out = Files.newOutputStream(filler)) {
            while (true) out.write(page);
        } catch (java.io.IOException full) {
            // ENOSPC: the disk is full
        }
        if (leave > 0) {
            try (var ch = java.nio.channels.FileChannel.open(filler, java.nio.file.StandardOpenOption.WRITE)) {
                ch.truncate(Math.max(0, ch.size() / 4096 * 4096 - leave));
            }
        }
    }
}
