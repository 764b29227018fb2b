package leviathan.backend;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Extraction of native libraries into the per-user cache: once, verified, repaired, safe to race. */
class NativeCacheTest {
    private static final String DIR = "leviathan/backend/fakelib/";
    private static final List<String> NAMES = List.of("liba.so.1", "libb.so.2");

    @TempDir
    Path root;

    private static List<NativeCache.Resource> fake() throws IOException {
        return NativeCache.find(NativeCacheTest.class.getClassLoader(), DIR, NAMES);
    }

    @Test
    void extractsOnceThenReusesTheCache() throws IOException {
        var first = NativeCache.extract(fake(), root);
        assertEquals(2, first.written());
        assertEquals(root.resolve(NativeCache.key(fake())), first.dir());
        assertContent(first.dir());
        var second = NativeCache.extract(fake(), root);
        assertEquals(first.dir(), second.dir());
        assertEquals(0, second.written(), "an intact cache is not rewritten");
    }

    @Test
    void corruptedOrTruncatedFilesAreExtractedAgain() throws IOException {
        Path dir = NativeCache.extract(fake(), root).dir();
        byte[] damaged = Files.readAllBytes(dir.resolve("libb.so.2"));
        damaged[damaged.length / 2] ^= 0x40;                          // same size, one flipped bit
        Files.write(dir.resolve("libb.so.2"), damaged);
        Files.write(dir.resolve("liba.so.1"), new byte[] {1, 2, 3});  // truncated
        assertEquals(2, NativeCache.extract(fake(), root).written());
        assertContent(dir);
        Files.delete(dir.resolve("liba.so.1"));
        assertEquals(1, NativeCache.extract(fake(), root).written());
        assertContent(dir);
        try (var files = Files.list(dir)) {
            assertEquals(2, files.count(), "no temporary files are left behind");
        }
    }

    @Test
    void aFifoInTheCacheIsReplacedNeverOpened() throws Exception {
        Path dir = NativeCache.extract(fake(), root).dir();
        Files.delete(dir.resolve("liba.so.1"));
        leviathan.testing.TestData.fifo(dir.resolve("liba.so.1"));     // reading it would block until a writer came
        var again = org.junit.jupiter.api.Assertions.assertTimeoutPreemptively(java.time.Duration.ofSeconds(20),
                () -> NativeCache.extract(fake(), root));
        assertEquals(1, again.written());
        assertTrue(Files.isRegularFile(dir.resolve("liba.so.1")));
        assertContent(dir);
    }

    @Test
    void theKeyChangesWithTheContent() throws IOException {
        List<NativeCache.Resource> r = fake();
        var changed = new ArrayList<>(r);
        var b = r.get(1);
        changed.set(1, new NativeCache.Resource(b.name(), b.url(), b.size(), b.crc() ^ 1));
        assertNotEquals(NativeCache.key(r), NativeCache.key(changed));
        assertEquals(16, NativeCache.key(r).length());
    }

    @Test
    void concurrentExtractionsAgree() throws Exception {
        ExecutorService pool = Executors.newFixedThreadPool(4);
        try {
            List<Future<NativeCache.Result>> results = new ArrayList<>();
            for (int i = 0; i < 8; i++) results.add(pool.submit((Callable<NativeCache.Result>) () -> NativeCache.extract(fake(), root)));
            Path dir = null;
            for (var f : results) {
                Path d = f.get().dir();
                if (dir != null) assertEquals(dir, d);
                dir = d;
            }
            assertContent(dir);
        } finally {
            pool.shutdownNow();
        }
    }

    @Test
    void aRootOwnedBySomeoneElseIsRefused() throws IOException {
        Path shared = Files.createDirectory(root.resolve("shared"));
        try {
            var nobody = shared.getFileSystem().getUserPrincipalLookupService().lookupPrincipalByName("nobody");
            Files.setOwner(shared, nobody);
        } catch (IOException | UnsupportedOperationException e) {
            Assumptions.abort("cannot hand a directory to user nobody here (needs root): " + e);
        }
        var e = assertThrows(IOException.class, () -> NativeCache.extract(fake(), shared));
        assertTrue(e.getMessage().contains("belongs to nobody"), e.getMessage());
    }

    @Test
    void aRootItCreatesIsPrivate() throws IOException {
        Path fresh = root.resolve("fresh/native");
        NativeCache.extract(fake(), fresh);
        if (Files.getFileAttributeView(fresh, PosixFileAttributeView.class) != null) {
            assertEquals("rwx------", PosixFilePermissions.toString(Files.getPosixFilePermissions(fresh)));
        }
    }

    /** The real jar: entries carry size and CRC; a damaged cached libgomp is replaced. */
    @Test
    void bundledLibrariesFromTheJar() throws IOException {
        var resources = NativeCache.find(NativeCacheTest.class.getClassLoader(), OneDnnLoader.RESOURCE_DIR, List.of("libgomp.so.1"));
        assertTrue(resources.get(0).url().getProtocol().equals("jar"), resources.get(0).url().toString());
        Path dir = NativeCache.extract(resources, root).dir();
        Path gomp = dir.resolve("libgomp.so.1");
        Files.write(gomp, new byte[] {0x7f, 'E', 'L', 'F'});
        assertEquals(1, NativeCache.extract(resources, root).written());
        assertTrue(NativeCache.intact(gomp, resources.get(0)));
    }

    private static void assertContent(Path dir) throws IOException {
        for (String name : NAMES) {
            try (InputStream in = NativeCacheTest.class.getClassLoader().getResourceAsStream(DIR + name)) {
                assertArrayEquals(in.readAllBytes(), Files.readAllBytes(dir.resolve(name)), name);
            }
        }
    }
}
