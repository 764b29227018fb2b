package leviathan.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import leviathan.testing.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The one atomic writer (issue 24, item 5; issue 25, defect 2): it replaces a file whole or not at
 * all, never writes through a symbolic link, refuses odd entries in one line naming them, and
 * deletes the temp files of dead processes only.
 */
class AtomicFileTest {
    /** The pid of a process that has ended (a finished {@code true}). */
    static long deadPid() throws IOException, InterruptedException {
        Process p = new ProcessBuilder("true").start();
        p.waitFor();
        return p.pid();
    }

    @Test
    void replacesWholeOrNotAtAllAndLeavesNoTemp(@TempDir Path dir) throws IOException {
        Path f = dir.resolve("a.json");
        AtomicFile.writeString(f, "old");
        AtomicFile.writeString(f, "new");
        assertEquals("new", Files.readString(f));
        IOException e = assertThrows(IOException.class, () -> AtomicFile.write(f, ch -> {
            ch.write(ByteBuffer.wrap("half".getBytes()));
            throw new IOException("disk full (simulated)");
        }));
        assertEquals("disk full (simulated)", e.getMessage());
        assertEquals("new", Files.readString(f));
        try (var list = Files.list(dir)) {
            assertEquals(1, list.count(), "only a.json: the failed write's temp file is gone");
        }
    }

    @Test
    void neverWritesThroughALinkAndNamesOddEntries(@TempDir Path dir) throws Exception {
        Path victim = dir.resolve("victim.txt");
        Files.writeString(victim, "someone's data");
        Path link = Files.createSymbolicLink(dir.resolve("config.json"), victim);
        var e = assertThrows(AtomicFile.OddEntryException.class, () -> AtomicFile.writeString(link, "x"));
        assertTrue(e.getMessage().startsWith(link + " is a symbolic link (to " + victim + ")"), e.getMessage());
        assertEquals("someone's data", Files.readString(victim));
        assertTrue(Files.isSymbolicLink(link));

        Path sub = Files.createDirectory(dir.resolve("model.safetensors"));
        var d = assertThrows(AtomicFile.OddEntryException.class, () -> AtomicFile.writeString(sub, "x"));
        assertTrue(d.getMessage().startsWith(sub + " is a directory, not a regular file"), d.getMessage());

        Path fifo = TestData.fifo(dir.resolve("state.safetensors"));
        var p = assertThrows(AtomicFile.OddEntryException.class, () -> AtomicFile.writeString(fifo, "x"));
        assertTrue(p.getMessage().startsWith(fifo + " is a FIFO (named pipe), not a regular file"), p.getMessage());
        assertEquals(1, p.getMessage().lines().count());

        // a link planted at this process's own temp name is removed, not followed
        Path f = dir.resolve("metrics.jsonl");
        Files.createSymbolicLink(AtomicFile.tempOf(f), victim);
        AtomicFile.writeString(f, "row\n");
        assertEquals("row\n", Files.readString(f));
        assertEquals("someone's data", Files.readString(victim));
        assertFalse(Files.exists(AtomicFile.tempOf(f), LinkOption.NOFOLLOW_LINKS));
    }

    @Test
    void deletesTempsOfDeadProcessesOnly(@TempDir Path dir) throws Exception {
        Path f = dir.resolve("text.tokens");
        Path dead = dir.resolve("text.tokens.tmp-" + deadPid()), other = dir.resolve("other.tokens.tmp-" + deadPid());
        Path live = dir.resolve("text.tokens.tmp-" + ProcessHandle.current().parent().orElseThrow().pid());
        Path notOurs = dir.resolve("notes.txt.tmp-" + deadPid());
        for (Path p : new Path[] {dead, other, live, notOurs}) Files.writeString(p, "leftover");
        AtomicFile.deleteStaleTemps(dir, n -> n.endsWith(".tokens"));
        assertFalse(Files.exists(dead));
        assertFalse(Files.exists(other));
        assertTrue(Files.exists(live), "a running process's temp file stays");
        assertTrue(Files.exists(notOurs), "only the names asked for");
        Files.writeString(dead, "leftover");
        AtomicFile.writeString(f, "ids");                 // a write deletes its own stale temps
        assertFalse(Files.exists(dead));
    }
}
