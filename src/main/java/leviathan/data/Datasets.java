package leviathan.data;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Consumer;
import leviathan.tensor.FileKind;

/**
 * Named datasets from the manifest {@code data/datasets.tsv} (name, file, size, sha256, URL).
 * A name resolves to the file under {@code <home>/data/}, else {@code <home>/../shared/data/},
 * else it is downloaded from its URL into {@code <home>/data/} and verified. Any other argument is
 * a path to a UTF-8 text file. {@code home} is the project directory ({@code -Dleviathan.home},
 * set by the launcher; the working directory otherwise).
 */
public final class Datasets {
    private Datasets() {}

    /** One manifest line. */
    public record Entry(String name, String file, long size, String sha256, String url) {}

    /** The manifest bundled in the jar. */
    public static Map<String, Entry> manifest() {
        Map<String, Entry> m = new LinkedHashMap<>();
        try (InputStream in = Datasets.class.getResourceAsStream("/leviathan/data/datasets.tsv")) {
            if (in == null) return m;
            BufferedReader r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            for (String line; (line = r.readLine()) != null; ) {
                if (line.isBlank() || line.startsWith("#")) continue;
                String[] f = line.split("\t");
                if (f.length != 5) throw new IllegalStateException("bad manifest line: " + line);
                m.put(f[0], new Entry(f[0], f[1], Long.parseLong(f[2]), f[3], f[4]));
            }
        } catch (IOException e) {
            throw new IllegalStateException("cannot read the dataset manifest: " + e.getMessage(), e);
        }
        return m;
    }

    /** The project directory datasets are resolved against. */
    public static Path home() {
        return Path.of(System.getProperty("leviathan.home", ".")).toAbsolutePath().normalize();
    }

    /** True when {@code nameOrPath} is a manifest name rather than a file path. */
    public static boolean isNamed(String nameOrPath) {
        return manifest().containsKey(nameOrPath) && !Files.isRegularFile(Path.of(nameOrPath));
    }

    /** Resolves a dataset name or a file path to a readable file; progress goes to {@code log}. */
    public static Path resolve(String nameOrPath, Path home, Consumer<String> log) throws IOException {
        return resolve(nameOrPath, home, manifest(), log);
    }

    /**
     * {@link #resolve(String, Path, Consumer)} against the given manifest instead of the bundled one
     * (tests use a manifest whose URL points at a local server).
     */
    static Path resolve(String nameOrPath, Path home, Map<String, Entry> manifest, Consumer<String> log) throws IOException {
        Entry e = manifest.get(nameOrPath);
        Path asPath = Path.of(nameOrPath);
        if (e == null || Files.isRegularFile(asPath)) {
            if (!Files.isRegularFile(asPath)) {
                String kind = FileKind.notRegular(asPath);
                if (kind != null && !kind.equals("does not exist")) {    // a directory, a FIFO, /dev/null, a link loop...
                    throw new IOException("dataset '" + nameOrPath + "' " + kind + ": give a UTF-8 text file or a dataset name (known: "
                            + String.join(", ", manifest().keySet()) + ")");
                }
                throw new IOException("dataset '" + nameOrPath + "' is neither a file nor a known name (known: "
                        + String.join(", ", manifest.keySet()) + ")");
            }
            if (!Files.isReadable(asPath)) throw new IOException("cannot read " + asPath + " (permission denied)");
            return asPath;
        }
        List<String> looked = new ArrayList<>();
        for (Path dir : List.of(home.resolve("data"), home.resolve("..").resolve("shared").resolve("data").normalize())) {
            Path f = dir.resolve(e.file());
            looked.add(f.toString());
            if (Files.isRegularFile(f)) {
                verify(f, e);
                return f;
            }
        }
        Path target = home.resolve("data").resolve(e.file());
        log.accept("dataset " + e.name() + ": not found locally, downloading " + e.url());
        try {
            download(e, target);
            return target;
        } catch (IOException | InterruptedException ex) {
            if (ex instanceof InterruptedException) Thread.currentThread().interrupt();
            throw new IOException("dataset '" + e.name() + "' not found (looked in " + String.join(", ", looked)
                    + ") and the download from " + e.url() + " failed (" + describe(ex) + "). Download it by hand to "
                    + target + " (" + e.size() + " bytes, sha256 " + e.sha256() + "), or pass --data with a path to a text file.");
        }
    }

    private static String describe(Exception ex) {
        String m = ex.getMessage();
        return ex.getClass().getSimpleName() + (m == null || m.isBlank() ? "" : ": " + m);
    }

    private static void verify(Path f, Entry e) throws IOException {
        long size = Files.size(f);
        String sha = sha256(f);
        if (size != e.size() || !sha.equals(e.sha256())) {
            throw new IOException(f + " does not match the manifest entry for '" + e.name() + "' (size " + size + " vs "
                    + e.size() + ", sha256 " + sha + " vs " + e.sha256() + "): delete it so it is fetched again, or pass it by path");
        }
    }

    static String sha256(Path f) throws IOException {
        try {
            MessageDigest md = MessageDigest.getInstance("SHA-256");
            try (InputStream in = Files.newInputStream(f)) {
                byte[] buf = new byte[1 << 16];
                for (int r; (r = in.read(buf)) > 0; ) md.update(buf, 0, r);
            }
            return HexFormat.of().formatHex(md.digest());
        } catch (NoSuchAlgorithmException e) {
            throw new IllegalStateException(e);
        }
    }

    private static void download(Entry e, Path target) throws IOException, InterruptedException {
        Files.createDirectories(target.getParent());
        Path part = target.resolveSibling(target.getFileName() + ".part");
        HttpClient client = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(15))
                .followRedirects(HttpClient.Redirect.NORMAL).build();
        HttpResponse<Path> r = client.send(HttpRequest.newBuilder(URI.create(e.url())).timeout(Duration.ofMinutes(2)).build(),
                HttpResponse.BodyHandlers.ofFile(part));
        try {
            if (r.statusCode() != 200) throw new IOException("HTTP " + r.statusCode());
            verify(part, e);
            leviathan.tensor.AtomicFile.move(part, target);
        } finally {
            Files.deleteIfExists(part);
        }
    }
}
