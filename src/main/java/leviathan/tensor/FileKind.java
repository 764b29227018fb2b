package leviathan.tensor;

import java.io.IOException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;

/**
 * What a path that is not a readable regular file is, in words, for error messages: a directory,
 * a FIFO, a device, a symbolic-link loop... Callers check a path with {@link #notRegular} before
 * opening it, because opening a FIFO for reading blocks until a writer appears (a hang, not an
 * error) and a device such as {@code /dev/zero} never ends.
 *
 * <p>Lives in {@code tensor}, the bottom package, so that data, model and backend code share it.
 */
public final class FileKind {
    private FileKind() {}

    // file type bits of st_mode (POSIX), as the "unix:mode" attribute reports them
    private static final int S_IFMT = 0170000, S_IFIFO = 0010000, S_IFCHR = 0020000, S_IFBLK = 0060000, S_IFSOCK = 0140000;

    /**
     * Null when {@code path} is (or links to) a regular file; otherwise what it is, as a phrase that
     * follows the path: "does not exist", "is a directory", "is a FIFO (named pipe)", "is a
     * character device", "is a symbolic link loop", "is a broken symbolic link (to x)", ...
     */
    public static String notRegular(Path path) {
        BasicFileAttributes link;
        try {
            link = Files.readAttributes(path, BasicFileAttributes.class, LinkOption.NOFOLLOW_LINKS);
        } catch (NoSuchFileException e) {
            return "does not exist";
        } catch (IOException | SecurityException e) {
            return "cannot be inspected (" + reason(e) + ")";
        }
        BasicFileAttributes target;
        try {
            target = Files.readAttributes(path, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            return "is a broken symbolic link" + linkTarget(path);
        } catch (FileSystemException e) {
            String r = e.getReason();
            if (link.isSymbolicLink() && r != null && r.toLowerCase(java.util.Locale.ROOT).contains("too many levels")) {
                return "is a symbolic link loop";
            }
            return "cannot be inspected (" + reason(e) + ")";
        } catch (IOException | SecurityException e) {
            return "cannot be inspected (" + reason(e) + ")";
        }
        if (target.isRegularFile()) return null;
        String via = link.isSymbolicLink() ? " (through a symbolic link)" : "";
        if (target.isDirectory()) return "is a directory" + via;
        String kind = special(path);
        return "is " + (kind == null ? "not a regular file" + via : kind + via + ", not a regular file");
    }

    /** "a FIFO (named pipe)", "a character device", ... for a path that is neither a file nor a directory; null if unknown. */
    static String special(Path path) {
        try {
            int mode = (Integer) Files.getAttribute(path, "unix:mode") & S_IFMT;
            return switch (mode) {
                case S_IFIFO -> "a FIFO (named pipe)";
                case S_IFCHR -> "a character device";
                case S_IFBLK -> "a block device";
                case S_IFSOCK -> "a socket";
                default -> null;
            };
        } catch (IOException | UnsupportedOperationException | IllegalArgumentException | SecurityException | ClassCastException e) {
            return null;                                         // no "unix" attribute view on this platform
        }
    }

    static String linkTarget(Path path) {
        try {
            return " (to " + Files.readSymbolicLink(path) + ")";
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return "";
        }
    }

    private static String reason(Exception e) {
        if (e instanceof FileSystemException f && f.getReason() != null) return f.getReason();
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }
}
