package leviathan.backend;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTimeoutPreemptively;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Backend selection: auto falls back with one log line, an explicit onednn that cannot load is an error. */
class BackendsTest {
    @TempDir
    Path tmp;

    private static OneDnnBackend.Options path(String p) {
        return OneDnnBackend.Options.fromSystem().withPath(p);
    }

    @Test
    void javaIsAlwaysThere() {
        List<String> log = new ArrayList<>();
        try (Backend b = Backends.select("java", log::add)) {
            assertInstanceOf(JavaBackend.class, b);
        }
        assertEquals(List.of("backend: java (Vector API GEMM)"), log);
    }

    @Test
    void unknownNamesAreRejected() {
        var e = assertThrows(IllegalArgumentException.class, () -> Backends.select("cuda-ish", s -> {}));
        assertTrue(e.getMessage().contains("expected auto, java or onednn"), e.getMessage());
    }

    @Test
    void autoPicksOneDnnWhereItLoads() {
        OneDnnTesting.backendOrSkip();
        List<String> log = new ArrayList<>();
        try (Backend b = Backends.select(" AUTO ", log::add)) {
            assertInstanceOf(OneDnnBackend.class, b);
            assertEquals(1, log.size());
            assertTrue(log.get(0).matches("backend: onednn \\(oneDNN \\d+\\.\\d+\\.\\d+, \\d+ threads?\\)"), log.get(0));
        }
        try (Backend b = Backends.select("onednn", s -> {})) {
            assertInstanceOf(OneDnnBackend.class, b);
        }
    }

    @Test
    void missingExplicitPathFallsBackInAutoAndFailsWhenRequested() {
        String missing = tmp.resolve("nowhere/libdnnl.so.3").toString();
        List<String> log = new ArrayList<>();
        try (Backend b = Backends.select("auto", path(missing), log::add)) {
            assertInstanceOf(JavaBackend.class, b);
        }
        assertEquals(1, log.size());
        assertTrue(log.get(0).startsWith("backend: java (oneDNN not found: " + missing + " does not exist; set -Dleviathan.onednn.path"),
                log.get(0));
        var e = assertThrows(IllegalArgumentException.class, () -> Backends.select("onednn", path(missing), s -> {}));
        assertTrue(e.getMessage().startsWith("backend onednn was requested but oneDNN cannot be loaded: " + missing + " does not exist"),
                e.getMessage());
    }

    @Test
    void aFileThatIsNoLibraryGivesAClearReason() throws Exception {
        Path junk = Files.writeString(tmp.resolve("libdnnl.so.3"), "not a shared library\n");
        List<String> log = new ArrayList<>();
        try (Backend b = Backends.select("auto", path(junk.toString()), log::add)) {
            assertInstanceOf(JavaBackend.class, b);
        }
        assertTrue(log.get(0).contains("cannot open " + junk + ": not a shared library (no ELF header)"), log.get(0));
        // a directory is searched for the library names
        List<String> log2 = new ArrayList<>();
        try (Backend b = Backends.select("auto", path(tmp.toString()), log2::add)) {
            assertInstanceOf(JavaBackend.class, b);
        }
        assertTrue(log2.get(0).contains("cannot open " + junk), log2.get(0));
        Path empty = Files.createDirectory(tmp.resolve("empty"));
        var e = assertThrows(IllegalArgumentException.class, () -> Backends.select("onednn", path(empty.toString()), s -> {}));
        assertTrue(e.getMessage().contains("no libdnnl in directory " + empty), e.getMessage());
    }

    @Test
    void aFifoOrADeviceIsNeverOpened() throws Exception {
        // opening a FIFO for reading blocks until a writer comes: this used to hang info, sample and train
        Path fifo = leviathan.testing.TestData.fifo(tmp.resolve("libdnnl.so.3"));
        List<String> log = new ArrayList<>();
        assertTimeoutPreemptively(java.time.Duration.ofSeconds(20), () -> {
            try (Backend b = Backends.select("auto", path(fifo.toString()), log::add)) {
                assertInstanceOf(JavaBackend.class, b);
            }
        });
        assertTrue(log.get(0).contains(fifo + " is a FIFO (named pipe), not a regular file"), log.get(0));
        // a directory whose library name is a FIFO: the directory search skips it
        var e = assertThrows(IllegalArgumentException.class, () -> Backends.select("onednn", path(tmp.toString()), s -> {}));
        assertTrue(e.getMessage().contains("no libdnnl in directory " + tmp), e.getMessage());
        Path devNull = Path.of("/dev/null");
        if (Files.exists(devNull)) {
            var d = assertThrows(IllegalArgumentException.class, () -> Backends.select("onednn", path(devNull.toString()), s -> {}));
            assertTrue(d.getMessage().contains("/dev/null is a character device"), d.getMessage());
        }
    }

    @Test
    void aDamagedLibraryReportsTheLinkerError() throws Exception {
        Path gomp = NativeCache.extract(NativeCache.find(getClass().getClassLoader(), OneDnnLoader.RESOURCE_DIR,
                List.of("libgomp.so.1")), tmp).dir().resolve("libgomp.so.1");
        byte[] head = Files.readAllBytes(gomp);
        Path truncated = Files.write(tmp.resolve("libdnnl.so.2"), java.util.Arrays.copyOf(head, 4096));
        List<String> log = new ArrayList<>();
        try (Backend b = Backends.select("auto", path(truncated.toString()), log::add)) {
            assertInstanceOf(JavaBackend.class, b);
        }
        assertTrue(log.get(0).contains("cannot open " + truncated + ": truncated or damaged"), log.get(0));
        // An intact ELF file that the linker still refuses (here: no dynamic section) surfaces as "Cannot open library".
        byte[] header = java.util.Arrays.copyOf(head, 64);
        header[56] = header[57] = header[60] = header[61] = 0;       // e_phnum = e_shnum = 0: nothing to load
        Path noDynamic = Files.write(tmp.resolve("libdnnl.so.1"), header);
        List<String> log2 = new ArrayList<>();
        try (Backend b = Backends.select("auto", path(noDynamic.toString()), log2::add)) {
            assertInstanceOf(JavaBackend.class, b);
        }
        assertTrue(log2.get(0).contains("cannot open " + noDynamic + " (Cannot open library"), log2.get(0));
    }

    @Test
    void nullReadsTheProperty() {
        String old = System.getProperty(Backends.PROPERTY);
        System.setProperty(Backends.PROPERTY, "java");
        try (Backend b = Backends.select(null, s -> {})) {
            assertInstanceOf(JavaBackend.class, b);
        } finally {
            if (old == null) System.clearProperty(Backends.PROPERTY);
            else System.setProperty(Backends.PROPERTY, old);
        }
    }

    /** Where the bundled library cannot run: which platforms, and the reason a log gets. */
    @Test
    void theBundledLibraryIsForLinuxX86Only() {
        assertNull(OneDnnLoader.noBundledLibrary("Linux", "amd64"));
        assertNull(OneDnnLoader.noBundledLibrary("Linux", "x86_64"));
        assertEquals("no bundled oneDNN for mac os x/aarch64 (the jar is linux-x86_64)", OneDnnLoader.noBundledLibrary("Mac OS X", "aarch64"));
        assertNotNull(OneDnnLoader.noBundledLibrary("Windows 11", "amd64"));
        assertNotNull(OneDnnLoader.noBundledLibrary("Linux", "aarch64"));
    }

    /**
     * On macOS, Windows or ARM the automatic backend is the Java GEMM with one line saying why
     * (a child JVM told it is such a platform: nothing native is touched before the check).
     */
    @Test
    void anotherPlatformRunsTheJavaGemmWithOneLine() throws Exception {
        for (String[] platform : new String[][] {{"Mac OS X", "aarch64"}, {"Windows 11", "amd64"}, {"Linux", "aarch64"}}) {
            Process p = new ProcessBuilder(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                    "--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-Dleviathan.tune=false",
                    "-Dos.name=" + platform[0], "-Dos.arch=" + platform[1], "-cp", System.getProperty("java.class.path"),
                    OtherPlatformFallback.class.getName()).redirectErrorStream(true).start();
            String out = new String(p.getInputStream().readAllBytes(), java.nio.charset.StandardCharsets.UTF_8);
            assertEquals(0, p.waitFor(), out);
            java.util.List<String> logs = out.lines().filter(l -> l.startsWith("log: ")).toList();
            assertEquals(1, logs.size(), out);
            String os = platform[0].toLowerCase(java.util.Locale.ROOT) + "/" + platform[1];
            assertTrue(logs.get(0).startsWith("log: backend: java (oneDNN not found: no bundled oneDNN for " + os), logs.get(0));
            assertTrue(out.contains("backend java c00 7.0"), out);
        }
    }
}
