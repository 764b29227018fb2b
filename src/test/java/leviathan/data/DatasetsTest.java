package leviathan.data;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.io.OutputStream;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Dataset lookup, offline and deterministic: files in temporary directories, and downloads from a
 * real HTTP server on the loopback interface (the JDK's), named by a test manifest. Nothing here
 * reaches the network.
 */
class DatasetsTest {

    private static final byte[] TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n".getBytes(StandardCharsets.UTF_8);

    /** A manifest of one entry, {@code tiny}, whose URL is {@code url}. */
    private static Map<String, Datasets.Entry> manifest(String url) throws IOException {
        Path tmp = Files.createTempFile("leviathan-dataset", ".txt");
        try {
            Files.write(tmp, TEXT);
            return Map.of("tiny", new Datasets.Entry("tiny", "tiny.txt", TEXT.length, Datasets.sha256(tmp), url));
        } finally {
            Files.delete(tmp);
        }
    }

    /** A loopback server answering every request with {@code status} and {@code body}; counts requests. */
    private static final class Server implements AutoCloseable {
        final HttpServer http;
        final List<String> requests = new ArrayList<>();

        Server(int status, byte[] body) throws IOException {
            http = HttpServer.create(new InetSocketAddress(InetAddress.getLoopbackAddress(), 0), 0);
            http.createContext("/", ex -> {
                synchronized (requests) { requests.add(ex.getRequestURI().getPath()); }
                ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length);
                try (OutputStream out = ex.getResponseBody()) { out.write(body); }
            });
            http.start();
        }

        String url() { return "http://" + http.getAddress().getHostString() + ":" + http.getAddress().getPort() + "/tiny.txt"; }

        @Override
        public void close() { http.stop(0); }
    }

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
    void aVerifiedCopyInDataIsUsedWithoutDownloading(@TempDir Path home) throws IOException {
        try (Server server = new Server(200, TEXT)) {
            Path f = Files.write(Files.createDirectories(home.resolve("data")).resolve("tiny.txt"), TEXT);
            assertEquals(f, Datasets.resolve("tiny", home, manifest(server.url()), s -> { }));
            assertTrue(server.requests.isEmpty(), "downloaded although a verified copy exists: " + server.requests);
        }
    }

    @Test
    void aVerifiedCopyInSharedDataBesideTheProjectIsUsed(@TempDir Path dir) throws IOException {
        try (Server server = new Server(200, TEXT)) {
            Path f = Files.write(Files.createDirectories(dir.resolve("shared").resolve("data")).resolve("tiny.txt"), TEXT);
            assertEquals(f, Datasets.resolve("tiny", dir.resolve("project"), manifest(server.url()), s -> { }));
            assertTrue(server.requests.isEmpty(), "downloaded although a verified copy exists: " + server.requests);
        }
    }

    @Test
    void missingLocallyIsDownloadedVerifiedAndKept(@TempDir Path home) throws IOException {
        try (Server server = new Server(200, TEXT)) {
            List<String> log = new ArrayList<>();
            Path f = Datasets.resolve("tiny", home, manifest(server.url()), log::add);
            assertEquals(home.resolve("data").resolve("tiny.txt"), f);
            assertEquals(new String(TEXT, StandardCharsets.UTF_8), Files.readString(f));
            assertEquals(List.of("/tiny.txt"), server.requests);
            assertTrue(log.size() == 1 && log.get(0).contains("downloading " + server.url()), log.toString());
            assertFalse(Files.exists(home.resolve("data").resolve("tiny.txt.part")), "partial file left behind");
        }
    }

    @Test
    void aDownloadThatDoesNotMatchTheManifestIsRefusedAndNotKept(@TempDir Path home) throws IOException {
        try (Server server = new Server(200, "something else entirely".getBytes(StandardCharsets.UTF_8))) {
            var e = assertThrows(IOException.class, () -> Datasets.resolve("tiny", home, manifest(server.url()), s -> { }));
            assertTrue(e.getMessage().contains("does not match") && e.getMessage().contains("--data"), e.getMessage());
            assertFalse(Files.exists(home.resolve("data").resolve("tiny.txt")), "a bad download was kept");
            assertFalse(Files.exists(home.resolve("data").resolve("tiny.txt.part")), "partial file left behind");
        }
    }

    @Test
    void missingEverywhereSaysWhereItLookedAndHowToProvideIt(@TempDir Path home) throws IOException {
        try (Server server = new Server(404, new byte[0])) {
            var e = assertThrows(IOException.class, () -> Datasets.resolve("tiny", home.resolve("project"), manifest(server.url()), s -> { }));
            String m = e.getMessage();
            assertTrue(m.contains("looked in " + home.resolve("project").resolve("data").resolve("tiny.txt")), m);
            assertTrue(m.contains(home.resolve("shared").resolve("data").resolve("tiny.txt").toString()), m);
            assertTrue(m.contains("HTTP 404") && m.contains("--data") && m.contains(server.url()), m);
        }
    }
}
