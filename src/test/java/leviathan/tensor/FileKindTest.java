package leviathan.tensor;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;

import java.nio.file.Files;
import java.nio.file.Path;
import leviathan.testing.TestData;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Every kind of path that is not a regular file is named, without opening it. */
class FileKindTest {
    @TempDir
    Path dir;

    @Test
    void regularFilesAndLinksToThemAreFine() throws Exception {
        Path f = Files.writeString(dir.resolve("f.txt"), "x");
        assertNull(FileKind.notRegular(f));
        assertNull(FileKind.notRegular(Files.createSymbolicLink(dir.resolve("link"), f)));
    }

    @Test
    void everythingElseIsNamed() throws Exception {
        assertEquals("does not exist", FileKind.notRegular(dir.resolve("absent")));
        assertEquals("is a directory", FileKind.notRegular(dir));
        assertEquals("is a directory (through a symbolic link)", FileKind.notRegular(Files.createSymbolicLink(dir.resolve("d"), dir)));
        Path loop = dir.resolve("loop");
        Files.createSymbolicLink(loop, loop.getFileName());
        assertEquals("is a symbolic link loop", FileKind.notRegular(loop));
        Path dangling = Files.createSymbolicLink(dir.resolve("dangling"), dir.resolve("nowhere"));
        assertEquals("is a broken symbolic link (to " + dir.resolve("nowhere") + ")", FileKind.notRegular(dangling));
        Path fifo = TestData.fifo(dir.resolve("fifo"));
        assertEquals("is a FIFO (named pipe), not a regular file", FileKind.notRegular(fifo));
        assertEquals("is a FIFO (named pipe) (through a symbolic link), not a regular file",
                FileKind.notRegular(Files.createSymbolicLink(dir.resolve("to-fifo"), fifo)));
        Assumptions.assumeTrue(Files.exists(Path.of("/dev/null")), "no /dev/null here");
        assertEquals("is a character device, not a regular file", FileKind.notRegular(Path.of("/dev/null")));
    }
}
