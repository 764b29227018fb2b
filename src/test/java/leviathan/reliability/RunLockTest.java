package leviathan.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;
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
import java.util.concurrent.TimeUnit;
import leviathan.cli.Main;
import leviathan.model.Gpt;
import leviathan.testing.KillResume;
import leviathan.testing.TestData;
import leviathan.train.RunDirectory;
import leviathan.train.TrainConfig;
import leviathan.train.Trainer;
import leviathan.train.TrainingHooks;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * One writer per run directory (issue 18, item 2): while a training holds a run directory, a
 * second {@code train --out} or {@code --resume} of it is refused with one line naming the
 * holder's PID; the OS lock goes away with the process, even when it is killed.
 */
class RunLockTest {
    static final PrintStream QUIET = new PrintStream(new ByteArrayOutputStream(), true, StandardCharsets.UTF_8);

    @Test
    void aSecondWriterInTheSameProcessIsRefusedNamingThePid(@TempDir Path dir) throws Exception {
        Path data = TestData.writeText(dir, TestData.text(3000, 41)), run = dir.resolve("run");
        TrainConfig cfg = TestData.tinyBuilder(data, run, "correlation", 6, 3).sampleTokens(0).build();
        List<String> refusals = new ArrayList<>();
        // while the first run is between steps 4 and 5 (a checkpoint exists), two more writers try the directory
        new Trainer(s -> { }, QUIET).hooks(new TrainingHooks() {
            @Override
            public void afterUpdate(int step, Gpt model) {
                if (step != 4) return;
                for (boolean resume : new boolean[] {false, true}) {
                    try {
                        if (resume) new Trainer(s -> { }, QUIET).resume(run, 0);
                        else new Trainer(s -> { }, QUIET).train(cfg);
                        refusals.add("not refused");
                    } catch (IOException e) {
                        refusals.add(e.getMessage());
                    }
                }
            }
        }).train(cfg);
        String expected = run + " is in use by another training (pid " + ProcessHandle.current().pid() + ", which holds "
                + run.resolve(Trainer.LOCK_FILE) + ")";
        assertEquals(2, refusals.size());
        for (String r : refusals) assertTrue(r.startsWith(expected), r);
        // released at the end: the run can be extended
        assertEquals(8, new Trainer(s -> { }, QUIET).resume(run, 8).steps());
    }

    @Test
    @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void anotherProcessIsRefusedNamingItsPidAndTheLockDiesWithIt(@TempDir Path dir) throws Exception {
        Path run = dir.resolve("run"), log = dir.resolve("lock-child.log");
        Process p = KillResume.start(new KillResume(dir, 300, 1).trainArgs(run), log);
        try {
            KillResume.awaitTraining(p, log, 0);
            assertTrue(p.isAlive(), "the child trains: " + Files.readString(log));
            CommandLine cl = Main.commandLine();
            StringWriter err = new StringWriter();
            cl.setErr(new PrintWriter(err, true));
            cl.setOut(new PrintWriter(new StringWriter(), true));
            int code = cl.execute("train", "--resume", run.toString());
            assertEquals(1, code, err.toString());
            List<String> lines = err.toString().lines().filter(l -> l.startsWith("leviathan: ")).toList();
            assertEquals(List.of("leviathan: " + run + " is in use by another training (pid " + p.pid() + ", which holds "
                    + run.resolve(Trainer.LOCK_FILE) + "); wait for it to end, or train into another --out"), lines);
            assertEquals(Long.toString(p.pid()), Files.readString(run.resolve(Trainer.LOCK_FILE)).trim());
        } finally {
            p.destroyForcibly();
            assertTrue(p.waitFor(30, TimeUnit.SECONDS));
        }
        // killed without a chance to unlock: the OS released the lock
        try (RunDirectory rd = RunDirectory.open(run)) {
            assertEquals(Long.toString(ProcessHandle.current().pid()), Files.readString(run.resolve(Trainer.LOCK_FILE)).trim());
        }
    }
}
