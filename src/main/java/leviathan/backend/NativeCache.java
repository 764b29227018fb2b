package leviathan.backend;

import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.net.JarURLConnection;
import java.net.URL;
import java.net.URLConnection;
import java.nio.channels.Channels;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFileAttributeView;
import java.nio.file.attribute.PosixFilePermissions;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.util.ArrayList;
import java.util.HexFormat;
import java.util.List;
import java.util.jar.JarEntry;
import java.util.zip.CRC32;
import leviathan.tensor.AtomicFile;

/**
 * Copies native libraries from the classpath (the {@code org.bytedeco:dnnl} jar) into a per-user
 * cache directory once, so that they can be opened with {@code SymbolLookup.libraryLookup}.
 *
 * <p>The directory is {@code <root>/<key>/}, where {@code key} is a SHA-256 prefix over the name,
 * size and CRC-32 of each library as the jar records them: reading those takes no decompression,
 * so a warm start costs one checksum pass over the cached files, not an unpacking of ~90 MiB.
 * Each cached file is verified against its CRC-32 and size at every load and re-extracted when it
 * does not match (a truncated or damaged file). Files are written to a temporary name in the same
 * directory and renamed into place, so concurrent JVMs never see a half-written library, and a
 * JVM that already mapped the old file keeps its copy. A cache root owned by another user is
 * refused, and one this class creates is made private to its user.
 */
final class NativeCache {
    private NativeCache() {}

    /** Property naming the cache root; the default is {@code ${XDG_CACHE_HOME:-~/.cache}/leviathan/native}. */
    static final String ROOT_PROPERTY = "leviathan.native.cache";

    /** One library on the classpath: its name in the cache, and what the jar says of it. */
    record Resource(String name, URL url, long size, long crc) {}

    /** Where the libraries were put; {@code written} counts files (re)extracted by this call. */
    record Result(Path dir, int written) {}

    /** The default cache root (see {@link #ROOT_PROPERTY}). */
    static Path defaultRoot() { return root(ROOT_PROPERTY, "native"); }

    /**
     * A cache directory of the engine: the path in property {@code property} when set, else
     * {@code ${XDG_CACHE_HOME:-~/.cache}/leviathan/<name>} (native libraries, tuning results).
     */
    static Path root(String property, String name) {
        String p = System.getProperty(property);
        if (p != null && !p.isBlank()) return Path.of(p);
        String xdg = System.getenv("XDG_CACHE_HOME");
        Path base = xdg != null && !xdg.isBlank() ? Path.of(xdg) : Path.of(System.getProperty("user.home"), ".cache");
        return base.resolve("leviathan").resolve(name);
    }

    /**
     * Creates {@code root} (private to its user when this call creates it) and refuses one another
     * user owns; see {@link #extract}.
     */
    static void prepare(Path root) throws IOException {
        boolean existed = Files.isDirectory(root);
        Files.createDirectories(root);
        secure(root, !existed);
    }


    /** Finds {@code dir + name} for each name on {@code loader}'s classpath, with size and CRC-32. */
    static List<Resource> find(ClassLoader loader, String dir, List<String> names) throws IOException {
        List<Resource> out = new ArrayList<>();
        for (String name : names) {
            URL url = loader.getResource(dir + name);
            if (url == null) {
                throw new IOException(dir + name + " is not on the classpath (the org.bytedeco:dnnl:linux-x86_64 jar, "
                        + "copied to app/target/lib by the build)");
            }
            long size = -1, crc = -1;
            URLConnection c = url.openConnection();
            if (c instanceof JarURLConnection jc) {
                jc.setUseCaches(false);
                JarEntry e = jc.getJarEntry();
                size = e.getSize();
                crc = e.getCrc();
            }
            if (size < 0 || crc < 0) {           // not in a jar, or the jar did not record them
                CRC32 sum = new CRC32();
                try (InputStream in = url.openStream()) {
                    size = checksum(in, sum, null);
                }
                crc = sum.getValue();
            }
            out.add(new Resource(name, url, size, crc));
        }
        return out;
    }

    /** The cache key: a SHA-256 prefix over each resource's name, size and CRC-32. */
    static String key(List<Resource> resources) {
        try {
            MessageDigest sha = MessageDigest.getInstance("SHA-256");
            for (Resource r : resources) {
                sha.update((r.name() + '\0' + r.size() + '\0' + Long.toHexString(r.crc()) + '\n').getBytes(StandardCharsets.UTF_8));
            }
            return HexFormat.of().formatHex(sha.digest(), 0, 8);
        } catch (NoSuchAlgorithmException e) {
            throw new AssertionError("every JDK has SHA-256", e);
        }
    }

    /**
     * Makes sure {@code root/<key>/} holds an intact copy of every resource, extracting the missing
     * or damaged ones; returns that directory.
     */
    static Result extract(List<Resource> resources, Path root) throws IOException {
        prepare(root);
        Path dir = root.resolve(key(resources));
        Files.createDirectories(dir);
        int written = 0;
        for (Resource r : resources) {
            Path target = dir.resolve(r.name());
            if (intact(target, r)) continue;
            if (AtomicFile.odd(target) != null) Files.delete(target);  // a FIFO or link in our private cache: replaced, never opened
            AtomicFile.write(target, ch -> {
                CRC32 sum = new CRC32();
                long n;
                try (InputStream in = r.url().openStream()) {
                    n = checksum(in, sum, Channels.newOutputStream(ch));  // unbuffered; the channel stays open for the fsync
                }
                if (n != r.size() || sum.getValue() != r.crc()) {
                    throw new IOException("reading " + r.url() + " gave " + n + " bytes with CRC-32 " + Long.toHexString(sum.getValue())
                            + ", expected " + r.size() + " bytes with " + Long.toHexString(r.crc()) + ": the jar is damaged");
                }
            });
            written++;
        }
        return new Result(dir, written);
    }

    /**
     * Refuses a cache root that another user owns (they could swap the libraries we are about to
     * load: CRC-32 catches damage, not tampering), and makes one we just created private.
     */
    private static void secure(Path root, boolean created) throws IOException {
        PosixFileAttributeView view = Files.getFileAttributeView(root, PosixFileAttributeView.class);
        if (view == null) return;       // not a POSIX file system
        String owner = view.getOwner().getName(), me = System.getProperty("user.name");
        if (me != null && !owner.equals(me)) {
            throw new IOException(root + " belongs to " + owner + ", not " + me + ": not loading libraries from it");
        }
        if (created) view.setPermissions(PosixFilePermissions.fromString("rwx------"));
    }

    /** True if {@code file} exists with the resource's size and CRC-32. */
    static boolean intact(Path file, Resource r) throws IOException {
        if (!Files.isRegularFile(file) || Files.size(file) != r.size()) return false;
        CRC32 sum = new CRC32();
        try (InputStream in = Files.newInputStream(file)) {
            checksum(in, sum, null);
        }
        return sum.getValue() == r.crc();
    }

    /** Streams {@code in} through {@code sum} (and into {@code out} when not null); returns the byte count. */
    private static long checksum(InputStream in, CRC32 sum, OutputStream out) throws IOException {
        byte[] buf = new byte[1 << 16];
        long n = 0;
        for (int r; (r = in.read(buf)) > 0; n += r) {
            sum.update(buf, 0, r);
            if (out != null) out.write(buf, 0, r);
        }
        return n;
    }
}
