package leviathan.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

class DatasetsTest {

    @Test
    void manifestNamesTinyShakespeare() {
        var e = Datasets.manifest().get("tinyshakespeare");
        assertEquals(1_115_394, e.size());
        assertEquals("86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", e.sha256());
    }

    @Test
    void aPathResolvesToItself(@TempDir Path dir) throws IOException {
        Path f = Files.writeString(dir.resolve("t.txt"), "abc");
        assertEquals(f, Datasets.resolve(f.toString(), dir, s -> { }));
    }

    @Test
    void unknownNameListsTheKnownOnes(@TempDir Path dir) {
        var e = assertThrows(IOException.class, () -> Datasets.resolve("nope", dir, s -> { }));
        assertTrue(e.getMessage().contains("tinyshakespeare"), e.getMessage());
    }

    @Test
    void aCorruptLocalCopyIsRefusedWithAFix(@TempDir Path home) throws IOException {
        Files.createDirectories(home.resolve("data"));
        Files.writeString(home.resolve("data").resolve("tinyshakespeare.txt"), "not the real file");
        var e = assertThrows(IOException.class, () -> Datasets.resolve("tinyshakespeare", home, s -> { }));
        assertTrue(e.getMessage().contains("does not match") && e.getMessage().contains("delete it"), e.getMessage());
    }

    @Test
    void missingEverywhereSaysWhereItLookedAndHowToProvideIt(@TempDir Path home) {
        // no data/ and no ../shared/data beside the temp dir; the download cannot succeed offline or
        // succeeds and is verified: either way the result is a file or one clear message
        try {
            Path p = Datasets.resolve("tinyshakespeare", home.resolve("project"), s -> { });
            assertTrue(Files.size(p) == 1_115_394);
        } catch (IOException e) {
            assertTrue(e.getMessage().contains("looked in") && e.getMessage().contains("--data"), e.getMessage());
        }
    }
}
