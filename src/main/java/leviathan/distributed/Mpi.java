package leviathan.distributed;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import leviathan.ffi.mpi.Lookups;
import leviathan.ffi.mpi.mpi_h;

/**
 * Finds Open MPI: whether this process was started by {@code mpirun}, and the library
 * ({@code libmpi.so.40}), opened once and bound to {@code leviathan.ffi.mpi}.
 *
 * <p>The bindings are Open MPI's ABI (written against 4.1.4: Debian {@code openmpi-bin} +
 * {@code libopenmpi3}), where {@code MPI_COMM_WORLD}, {@code MPI_FLOAT} and {@code MPI_SUM} are
 * addresses of exported globals; another MPI (MPICH, Intel MPI) is refused with that reason.
 * The library is looked for at {@code -Dleviathan.mpi.path} or {@code LEVIATHAN_MPI_PATH} (a file,
 * or a directory holding {@value #SONAME}), else by soname through the dynamic loader.
 */
public final class Mpi {
    private Mpi() {}

    /** The soname of Open MPI 3.x to 5.x's C library. */
    public static final String SONAME = "libmpi.so.40";

    /** The fix for a missing Open MPI, appended to every "not found" message. */
    public static final String INSTALL_HINT = "install Open MPI with 'apt-get install openmpi-bin' "
            + "(or set LEVIATHAN_MPI_PATH to a " + SONAME + ")";

    /** Environment variables that mpirun sets in every process it starts (Open MPI's, then PMIx's). */
    static final List<String> LAUNCH_VARIABLES = List.of("OMPI_COMM_WORLD_SIZE", "PMIX_RANK");

    /** The opened library: where it lies and what it says it is. */
    public record Library(String path, String version) {}

    private static Library library;
    private static MpiUnavailableException failure;

    /** Whether this process was started by {@code mpirun} (Open MPI's or PMIx's variables are set). */
    public static boolean launched() { return launched(System.getenv()); }

    static boolean launched(Map<String, String> env) {
        return LAUNCH_VARIABLES.stream().anyMatch(v -> env.get(v) != null && !env.get(v).isBlank());
    }

    /** The world size mpirun announced ({@code OMPI_COMM_WORLD_SIZE}), or 1 when not launched by Open MPI's mpirun. */
    public static int launchedSize() {
        String s = System.getenv("OMPI_COMM_WORLD_SIZE");
        try {
            return s == null ? 1 : Integer.parseInt(s.trim());
        } catch (NumberFormatException e) {
            return 1;
        }
    }

    /** Opens Open MPI once (later calls return the same result or throw the same reason). */
    public static synchronized Library library() {
        if (library != null) return library;
        if (failure != null) throw failure;
        try {
            library = open(configuredPath());
            return library;
        } catch (MpiUnavailableException e) {
            failure = e;
            throw e;
        }
    }

    /** Whether Open MPI can be opened here (no exception, for status lines). */
    public static boolean available() {
        try {
            library();
            return true;
        } catch (MpiUnavailableException e) {
            return false;
        }
    }

    /**
     * One line for {@code leviathan info}: {@code "Open MPI v4.1.4 (/usr/lib/.../libmpi.so.40); not under mpirun"},
     * or {@code "not found: ...; install Open MPI with ..."}.
     */
    public static String status() {
        String launch = launched() ? "started by mpirun, " + launchedSize() + " ranks" : "not under mpirun (train --ranks N starts it)";
        try {
            Library l = library();
            return l.version() + " (" + l.path() + "); bindings for Open MPI 4.1's ABI; " + launch;
        } catch (MpiUnavailableException e) {
            return e.getMessage().startsWith("Open MPI not found") ? e.getMessage() : "not usable: " + e.getMessage();
        }
    }

    /** The configured library: {@code -Dleviathan.mpi.path}, else {@code LEVIATHAN_MPI_PATH}, else null (the soname). */
    static String configuredPath() {
        String p = System.getProperty("leviathan.mpi.path");
        if (p == null || p.isBlank()) p = System.getenv("LEVIATHAN_MPI_PATH");
        return p == null || p.isBlank() ? null : p;
    }

    /**
     * Opens {@code path} (a file, a directory holding {@value #SONAME}, or null for the soname),
     * checks that it exports every bound symbol, binds it and reads its version.
     */
    static Library open(String path) {
        String target = SONAME;
        if (path != null) {
            Path p = Path.of(path);
            if (Files.isDirectory(p)) p = p.resolve(SONAME);
            if (!Files.isRegularFile(p)) {
                throw new MpiUnavailableException("Open MPI not found: " + p + " does not exist (from "
                        + (System.getProperty("leviathan.mpi.path") != null ? "-Dleviathan.mpi.path" : "LEVIATHAN_MPI_PATH")
                        + "); " + INSTALL_HINT);
            }
            target = p.toString();
        }
        SymbolLookup lookup;
        try {
            lookup = SymbolLookup.libraryLookup(target, Arena.global());
        } catch (IllegalArgumentException | IllegalCallerException e) {
            throw new MpiUnavailableException("Open MPI not found (cannot open " + target + "); " + INSTALL_HINT);
        }
        List<String> missing = Lookups.missing(lookup);
        if (!missing.isEmpty()) {
            String list = missing.size() <= 3 ? String.join(", ", missing)
                    : String.join(", ", missing.subList(0, 3)) + " and " + (missing.size() - 3) + " more";
            throw new MpiUnavailableException(target + " is not Open MPI (missing " + list
                    + "); the bindings need Open MPI's ABI; " + INSTALL_HINT);
        }
        synchronized (Mpi.class) {
            if (!Lookups.bound()) Lookups.bind(lookup);
        }
        String version = libraryVersion();
        if (!version.startsWith("Open MPI")) {
            throw new MpiUnavailableException(target + " reports '" + version + "', not Open MPI; " + INSTALL_HINT);
        }
        return new Library(loadedPath(target), version);
    }

    /** The first field of {@code MPI_Get_library_version} ("Open MPI v4.1.4"); callable before MPI_Init. */
    private static String libraryVersion() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment buf = a.allocate(mpi_h.MPI_MAX_LIBRARY_VERSION_STRING() + 1L);
            MemorySegment len = a.allocate(ValueLayout.JAVA_INT);
            int rc = mpi_h.MPI_Get_library_version(buf, len);
            if (rc != mpi_h.MPI_SUCCESS()) return "unknown MPI (MPI_Get_library_version returned " + rc + ")";
            String s = buf.getString(0).strip();
            int comma = s.indexOf(',');
            return comma > 0 ? s.substring(0, comma) : s;
        }
    }

    /** The file the loader mapped for {@code target} (from /proc/self/maps), or {@code target} itself. */
    private static String loadedPath(String target) {
        String name = Path.of(target).getFileName().toString();
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
                int slash = line.indexOf('/');
                if (slash < 0) continue;
                String file = line.substring(slash);
                if (Path.of(file).getFileName().toString().startsWith(name)) return file;
            }
        } catch (IOException | RuntimeException e) {
            // not Linux, or /proc unreadable: the name we asked for is still true
        }
        return target;
    }
}
