package leviathan.tensor;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.function.Predicate;

/**
 * The one way Leviathan replaces a file it owns (checkpoints, run configs, metrics, token files,
 * extracted native libraries; {@link #move} also places downloaded datasets): the bytes go to
 * {@code <name>.tmp-<pid>} beside it, are forced to disk, and a rename puts them in place, so a
 * reader sees the old file or the new one, never a torn one. A failure deletes the temp file and
 * leaves the old file as it was. Where the file system cannot rename atomically, the rename falls
 * back to a plain replace.
 *
 * <p>Links are never followed: the temp file is created exclusively ({@code O_CREAT|O_EXCL}, which
 * does not follow a link), and the rename replaces the directory entry, not what it points to.
 * A target that is an odd entry (a symbolic link, a directory, a FIFO, a device) is refused with
 * one line naming it ({@link OddEntryException}) rather than replaced or written through.
 *
 * <p>Temp files of processes that died mid-write are deleted the next time the directory is used
 * ({@link #deleteStaleTemps}); a live process's temp file is never touched.
 */
public final class AtomicFile {
    private AtomicFile() {}

    /** Temp files are {@code <name>.tmp-<pid>}: only the rename makes one the real file. */
    public static final String TEMP_MARK = ".tmp-";

    /** Writes a file's content into the channel of its temp file (positioned at 0). */
    @FunctionalInterface
    public interface Body {
        void write(FileChannel ch) throws IOException;
    }

    /** A file Leviathan owns is a symbolic link, directory, FIFO or device: refused, never followed or replaced. */
    public static final class OddEntryException extends IOException {
        private static final long serialVersionUID = 1L;

        public OddEntryException(String message) { super(message); }
    }

    /** Writes {@code body}'s bytes to {@code file} atomically (temp file, fsync, rename, directory fsync). */
    public static void write(Path file, Body body) throws IOException {
        requireOrdinary(file);
        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = claimTemp(file);
        try {
            Files.deleteIfExists(tmp);                                   // this pid's own leftover (or a link there: removed, not followed)
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE,
                    LinkOption.NOFOLLOW_LINKS)) {
                body.write(ch);
                ch.force(true);                                          // data on disk before the rename makes it visible
            }
            move(tmp, file);
            syncDirectory(dir);                                          // the rename itself durable
        } finally {
            try {
                Files.deleteIfExists(tmp);
            } finally {
                WRITING.remove(tmp.toAbsolutePath());
            }
        }
        deleteStaleTemps(file);
    }

    /** Writes {@code text} as UTF-8 to {@code file} atomically. */
    public static void writeString(Path file, String text) throws IOException {
        write(file, ch -> {
            ByteBuffer b = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
            while (b.hasRemaining()) ch.write(b);
        });
    }

    /**
     * Renames {@code from} over {@code to} (atomically where the file system can; else a plain
     * replace). An odd {@code to} is refused first. The directory is not fsynced here, so that two
     * renames meant to land together (a checkpoint's model and state) follow each other at once;
     * call {@link #syncDirectory} after the last.
     */
    public static void move(Path from, Path to) throws IOException {
        requireOrdinary(to);
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING, LinkOption.NOFOLLOW_LINKS);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING, LinkOption.NOFOLLOW_LINKS);
        }
    }

    /**
     * Null when {@code p} is absent or a regular file (not a link to one); otherwise what it is, as a
     * phrase following the path: "is a symbolic link (to x)", "is a directory", "is a FIFO (named pipe)".
     */
    public static String odd(Path p) {
        BasicFileAttributes a;
        try {
            a = Files.readAttributes(p, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return null;
        } catch (IOException | SecurityException e) {
            return "cannot be inspected (" + (e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage()) + ")";
        }
        if (a.isRegularFile()) return null;
        if (a.isSymbolicLink()) return "is a symbolic link" + FileKind.linkTarget(p);
        if (a.isDirectory()) return "is a directory";
        String kind = FileKind.special(p);
        return "is " + (kind == null ? "not a regular file" : kind);
    }

    /** Refuses an odd {@code p} (see {@link #odd}) in one line naming it and the way on. */
    public static void requireOrdinary(Path p) throws OddEntryException {
        String what = odd(p);
        if (what != null) {
            throw new OddEntryException(p + " " + what + ", not a regular file: Leviathan writes this file itself and never follows a"
                    + " link or writes into a directory or FIFO there; move it away and try again");
        }
    }

    /** The temp file of this process for {@code file}: {@code <name>.tmp-<pid>}, or {@code <name>.tmp-<pid>.<n>} for a concurrent write. */
    public static Path tempOf(Path file) {
        return file.resolveSibling(file.getFileName() + TEMP_MARK + ProcessHandle.current().pid());
    }

    /** Temp names in use by writes of this process: two threads writing the same file get two temp files. */
    private static final java.util.Set<Path> WRITING = java.util.concurrent.ConcurrentHashMap.newKeySet();

    private static Path claimTemp(Path file) {
        Path tmp = tempOf(file);
        for (int n = 1; !WRITING.add(tmp.toAbsolutePath()); n++) tmp = file.resolveSibling(tempOf(file).getFileName() + "." + n);
        return tmp;
    }

    /**
     * Deletes the temp files of {@code file} left by writes of processes that no longer run (killed
     * mid-write). They are never read; this only reclaims their space.
     */
    public static void deleteStaleTemps(Path file) {
        String name = file.getFileName().toString();
        deleteStaleTemps(file.toAbsolutePath().getParent(), name::equals);
    }

    /**
     * Deletes, in {@code dir}, every {@code <target>.tmp-<pid>} whose {@code target} name {@code targets}
     * accepts and whose process no longer runs. Only regular files are deleted (a link is left alone,
     * never followed). Best effort: a stale temp file costs disk space, never correctness.
     */
    public static void deleteStaleTemps(Path dir, Predicate<String> targets) {
        long self = ProcessHandle.current().pid();
        try (var list = Files.newDirectoryStream(dir, p -> p.getFileName().toString().contains(TEMP_MARK))) {
            for (Path p : list) {
                String n = p.getFileName().toString();
                int at = n.lastIndexOf(TEMP_MARK);
                long pid;
                try {
                    String id = n.substring(at + TEMP_MARK.length());
                    pid = Long.parseLong(id.indexOf('.') < 0 ? id : id.substring(0, id.indexOf('.')));
                } catch (NumberFormatException e) {
                    continue;                                            // not ours
                }
                if (!targets.test(n.substring(0, at)) || pid == self) continue;
                if (!Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)) continue;
                if (ProcessHandle.of(pid).map(ph -> !ph.isAlive()).orElse(true)) Files.deleteIfExists(p);
            }
        } catch (IOException | UncheckedIOException | SecurityException ignored) {
            // best effort, see above
        }
    }

    /** Makes renames in {@code dir} durable (Linux; a no-op where directories cannot be opened). */
    public static void syncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // not every platform can fsync a directory; the rename itself is still atomic
        }
    }
}
