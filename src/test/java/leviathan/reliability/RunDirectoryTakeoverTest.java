package leviathan.reliability;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import leviathan.data.CharTokenizer;
import leviathan.data.TokenFiles;
import leviathan.model.Checkpoint;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.tensor.AtomicFile;
import leviathan.testing.TestData;
import leviathan.train.RunDirectory;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Issue 25, defects 1, 2 and 4: a new run never takes over a directory that is not a run
 * directory, nor an earlier run without {@code --overwrite}; the files a run directory owns are
 * never followed through a link; a killed token preparation's temp file goes the next time its
 * directory is used.
 */
class RunDirectoryTakeoverTest {
    private static String config(Path dir) {
        return TestData.tinyTrain(dir.resolve("text.txt"), dir, "correlation", 4, 2).toJson();
    }

    @Test
    void aDirectoryWithOtherFilesIsNeverTakenOverEvenWithOverwrite(@TempDir Path tmp) throws IOException {
        Path dir = Files.createDirectory(tmp.resolve("mine"));
        Files.writeString(dir.resolve("config.json"), "{\"my\": \"own settings\"}");
        Files.writeString(dir.resolve("notes.txt"), "mine");
        for (boolean overwrite : new boolean[] {false, true}) {
            var e = assertThrows(IOException.class, () -> RunDirectory.create(dir, overwrite).close());
            assertTrue(e.getMessage().contains("is not empty and not a Leviathan run directory (it holds notes.txt)"), e.getMessage());
        }
        // someone's own model.safetensors (not Leviathan's format) or metrics.jsonl under a run file's name
        Path other = Files.createDirectory(tmp.resolve("other"));
        Files.write(other.resolve("model.safetensors"), new byte[] {1, 2, 3});
        var m = assertThrows(IOException.class, () -> RunDirectory.create(other, true).close());
        assertTrue(m.getMessage().contains("holds a model.safetensors that is not a Leviathan checkpoint"), m.getMessage());
        Files.delete(other.resolve("model.safetensors"));
        Files.writeString(other.resolve("metrics.jsonl"), "epoch,loss\n1,2.5\n");
        var x = assertThrows(IOException.class, () -> RunDirectory.create(other, true).close());
        assertTrue(x.getMessage().contains("holds a metrics.jsonl that is not a Leviathan run's metrics"), x.getMessage());
        assertEquals("epoch,loss\n1,2.5\n", Files.readString(other.resolve("metrics.jsonl")));

        Files.delete(dir.resolve("notes.txt"));                    // only a config.json left, and it is not a run's
        var e = assertThrows(IOException.class, () -> RunDirectory.create(dir, true).close());
        assertTrue(e.getMessage().contains("holds a config.json that is not a Leviathan run config"), e.getMessage());
        assertEquals("{\"my\": \"own settings\"}", Files.readString(dir.resolve("config.json")));
    }

    @Test
    void anEarlierRunIsReplacedOnlyWithOverwrite(@TempDir Path dir) throws IOException {
        // a finished run whose user kept only the model and config
        Path run = Files.createDirectory(dir.resolve("run"));
        Files.writeString(run.resolve("config.json"), config(run));
        CharTokenizer tok = CharTokenizer.fromText("abc");
        try (Gpt g = Gpt.init(GptConfig.of(tok.vocabSize(), 8, 1, 2, 8, "correlation", 2), 1)) {
            Checkpoint.save(run.resolve("model.safetensors"), g, tok, Map.of("step", "4"));
        }
        byte[] model = Files.readAllBytes(run.resolve("model.safetensors"));
        var e = assertThrows(IOException.class, () -> RunDirectory.create(run, false).close());
        assertTrue(e.getMessage().contains("holds an earlier run (model.safetensors of step 4, no training state to resume)")
                && e.getMessage().contains("--overwrite"), e.getMessage());
        assertArrayEquals(model, Files.readAllBytes(run.resolve("model.safetensors")));
        // with a state: --resume or --overwrite
        Files.write(run.resolve("state.safetensors"), model);
        var s = assertThrows(IOException.class, () -> RunDirectory.create(run, false).close());
        assertTrue(s.getMessage().contains("already holds a run; continue it with --resume " + run + ", start it over with --overwrite"),
                s.getMessage());
        RunDirectory.create(run, true).close();
        assertFalse(Files.exists(run.resolve("model.safetensors")));
        assertFalse(Files.exists(run.resolve("state.safetensors")));
        // empty, or holding only the emptied lock of a run that failed before writing anything: used as it is
        RunDirectory.create(run, false).close();
        RunDirectory.create(Files.createDirectory(dir.resolve("empty")), false).close();
    }

    @Test
    void aLinkedOrOddLockIsRefusedAndItsTargetKept(@TempDir Path dir) throws Exception {
        Path victim = dir.resolve("precious.txt");
        Files.writeString(victim, "precious");
        Path run = Files.createDirectory(dir.resolve("run"));
        Files.createSymbolicLink(run.resolve("lock"), victim);
        var e = assertThrows(IOException.class, () -> RunDirectory.create(run, false).close());
        assertTrue(e.getMessage().startsWith(run.resolve("lock") + " is a symbolic link (to " + victim + ")"), e.getMessage());
        assertEquals("precious", Files.readString(victim));

        Path fifoRun = Files.createDirectory(dir.resolve("fifo"));
        TestData.fifo(fifoRun.resolve("lock"));
        var f = assertThrows(IOException.class, () -> RunDirectory.create(fifoRun, false).close());
        assertTrue(f.getMessage().startsWith(fifoRun.resolve("lock") + " is a FIFO (named pipe)"), f.getMessage());

        Path dirRun = Files.createDirectories(dir.resolve("dirs").resolve("metrics.jsonl")).getParent();
        var d = assertThrows(IOException.class, () -> RunDirectory.create(dirRun, true).close());
        assertTrue(d.getMessage().startsWith(dirRun.resolve("metrics.jsonl") + " is a directory"), d.getMessage());

        // resume: a FIFO as config.json is named as such, not "not found"
        Path resume = Files.createDirectory(dir.resolve("resume"));
        TestData.fifo(resume.resolve("config.json"));
        var r = assertThrows(IOException.class, () -> RunDirectory.open(resume).close());
        assertTrue(r.getMessage().startsWith(resume.resolve("config.json") + " is a FIFO (named pipe)"), r.getMessage());
    }

    @Test
    void aKilledPreparationsTempFileGoesWhenItsDirectoryIsNextUsed(@TempDir Path dir) throws Exception {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        Path text = TestData.writeText(dir, TestData.text(500, 3));
        Path stale = dir.resolve("other.txt.tokens.tmp-" + p.pid());
        Files.write(stale, new byte[4096]);
        TokenFiles.prepare(text, dir.resolve("text.tokens"), null, false, TokenFiles.Progress.NONE);
        assertFalse(Files.exists(stale), "the dead preparation's temp file was removed");
        assertTrue(Files.isRegularFile(dir.resolve("text.tokens")));
        assertFalse(Files.exists(AtomicFile.tempOf(dir.resolve("text.tokens"))));
    }
}
