package leviathan.backend;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.List;
import java.util.Locale;
import leviathan.ffi.onednn.Lookups;
import leviathan.ffi.onednn.dnnl_h;
import leviathan.ffi.onednn.dnnl_version_t;
import leviathan.ffi.onednn.stdlib_h;
import leviathan.tensor.FileKind;

/**
 * Finds and opens oneDNN once per JVM, with {@code SymbolLookup.libraryLookup} (no JNI): either
 * the copy bundled in the {@code org.bytedeco:dnnl} jar, extracted by {@link NativeCache}, or a
 * library the user points at with {@code -Dleviathan.onednn.path} / {@code LEVIATHAN_ONEDNN_PATH}
 * (a file such as {@code /usr/lib/x86_64-linux-gnu/libdnnl.so.2}, or the directory holding it).
 *
 * <p>Facts this relies on: the bundled {@code libdnnl.so.3} finds {@code libgomp.so.1} through its
 * RUNPATH {@code $ORIGIN/}, so both are extracted into one directory, and libgomp is opened first
 * anyway; libgomp reads {@code OMP_WAIT_POLICY} from the environment when it is loaded, so the
 * policy is set (with libc {@code setenv}, unless the user set it) before anything is opened; a
 * library that cannot be opened surfaces as {@code IllegalArgumentException: Cannot open library}.
 */
public final class OneDnnLoader {
    private OneDnnLoader() {}

    public static final String PATH_PROPERTY = "leviathan.onednn.path";
    public static final String PATH_ENV = "LEVIATHAN_ONEDNN_PATH";
    /** OpenMP wait policy set before libgomp loads: {@code passive} (default), {@code active}, or {@code default} to leave libgomp's own. */
    public static final String WAIT_POLICY_PROPERTY = "leviathan.onednn.waitPolicy";
    /** What to tell a user whose oneDNN did not load. */
    public static final String HINT = "set -D" + PATH_PROPERTY + " or " + PATH_ENV + " to a libdnnl.so";

    static final String RESOURCE_DIR = "org/bytedeco/dnnl/linux-x86_64/";
    /** Opened in this order: libgomp first, so libdnnl's dependency is already resolved. */
    static final List<String> BUNDLED = List.of("libgomp.so.1", "libdnnl.so.3");
    /** Names tried, in order, when the user's path is a directory. */
    static final List<String> SYSTEM_NAMES = List.of("libdnnl.so.3", "libdnnl.so.2", "libdnnl.so", "libdnnl.3.dylib", "libdnnl.dylib");

    private static final int RUNTIME_OMP = 2;   // DNNL_RUNTIME_OMP in dnnl_config.h

    /** Why oneDNN could not be loaded; the message is one line, fit for a log. */
    public static final class UnavailableException extends Exception {
        private static final long serialVersionUID = 1L;

        UnavailableException(String message) { super(message); }

        UnavailableException(String message, Throwable cause) { super(message, cause); }
    }

    /**
     * The loaded library: version, {@code path} of {@code libdnnl}, whether it is the bundled copy,
     * whether its CPU runtime is OpenMP with {@code omp_set_num_threads} found (so thread counts
     * can be set), and the OpenMP wait policy in effect ({@code null}: libgomp's default).
     */
    public record Library(int major, int minor, int patch, String hash, int cpuRuntime, Path path,
                          boolean bundled, boolean openMp, String waitPolicy) {
        public String version() { return major + "." + minor + "." + patch; }

        /** Where the library came from, for {@code info}. */
        public String source() {
            return (bundled ? "bundled org.bytedeco:dnnl, cached at " : "") + path;
        }
    }

    private static Library loaded;

    /** The path the user asked for ({@link #PATH_PROPERTY}, then {@link #PATH_ENV}), or null for the bundled copy. */
    public static String configuredPath() {
        String p = System.getProperty(PATH_PROPERTY);
        if (p == null || p.isBlank()) p = System.getenv(PATH_ENV);
        return p == null || p.isBlank() ? null : p.trim();
    }

    /**
     * Opens oneDNN: the library at {@code explicitPath} (a file or a directory), or the bundled one
     * when it is null. Once a library is loaded the JVM keeps it, so asking for another one later is
     * an error; asking for the same one returns it.
     */
    public static synchronized Library load(String explicitPath) throws UnavailableException {
        Path wanted = explicitPath == null ? null : resolve(explicitPath);
        if (loaded != null) {
            if (wanted == null ? loaded.bundled() : samePath(wanted, loaded.path())) return loaded;
            if (wanted != null) open(wanted);                  // a damaged file still says so first
            throw new UnavailableException("oneDNN is already loaded from " + loaded.path() + " in this JVM; cannot also load "
                    + (wanted == null ? "the bundled copy" : wanted));
        }
        if (nativeDenied) throw new UnavailableException(nativeDeniedMessage());
        try {
            return loadOnce(wanted);
        } catch (ExceptionInInitializerError e) {
            // the bindings' static initializers call restricted methods: under --illegal-native-access=deny
            // without the flag their class fails to initialize (and stays unusable in this JVM)
            if (!(e.getCause() instanceof IllegalCallerException)) throw e;
            nativeDenied = true;
            throw new UnavailableException(nativeDeniedMessage(), e);
        }
    }

    private static boolean nativeDenied;

    private static String nativeDeniedMessage() { return "native access is disabled: run with " + nativeAccessFlag(); }

    private static Library loadOnce(Path wanted) throws UnavailableException {
        if (wanted == null) {          // before anything native: prepareEnvironment calls libc's setenv, which Windows lacks
            String why = noBundledLibrary(System.getProperty("os.name", ""), System.getProperty("os.arch", ""));
            if (why != null) throw new UnavailableException(why);
        }
        String policy = prepareEnvironment();
        SymbolLookup dnnl, gomp;
        Path path;
        if (wanted == null) {
            Path dir = bundledDirectory();
            gomp = open(dir.resolve(BUNDLED.get(0)));
            path = dir.resolve(BUNDLED.get(1));
            dnnl = open(path);
        } else {
            path = wanted;
            dnnl = open(path);
            gomp = dnnl;    // dlsym on a library handle also searches its dependencies: its OpenMP runtime
        }
        for (String symbol : List.of("dnnl_sgemm", "dnnl_version")) {
            if (dnnl.find(symbol).isEmpty()) {
                throw new UnavailableException(path + " has no symbol " + symbol + ": not a oneDNN library (need oneDNN 2.x or 3.x)");
            }
        }
        boolean hasOmp = gomp.find("omp_set_num_threads").isPresent() && gomp.find("omp_get_max_threads").isPresent();
        Lookups.bind(dnnl, gomp);
        MemorySegment v = dnnl_version_t.reinterpret(dnnl_h.dnnl_version(), Arena.global(), null);
        MemorySegment hashPtr = dnnl_version_t.hash(v);
        String hash = hashPtr.equals(MemorySegment.NULL) ? "" : hashPtr.reinterpret(Long.MAX_VALUE).getString(0);
        int runtime = dnnl_version_t.cpu_runtime(v);
        loaded = new Library(dnnl_version_t.major(v), dnnl_version_t.minor(v), dnnl_version_t.patch(v), hash, runtime,
                path, wanted == null, hasOmp && runtime == RUNTIME_OMP, policy);
        return loaded;
    }

    /**
     * The JVM flag that grants this code native access: {@code --enable-native-access=} the module's
     * name ({@code leviathan.core} on the module path) or {@code ALL-UNNAMED} (on the class path).
     */
    public static String nativeAccessFlag() {
        Module m = OneDnnLoader.class.getModule();
        return "--enable-native-access=" + (m.isNamed() ? m.getName() : "ALL-UNNAMED");
    }

    /** The library this JVM loaded, or null. */
    public static synchronized Library loaded() { return loaded; }

    /** An explicit path as a library file: the file itself, or the first known library name in a directory. */
    static Path resolve(String explicitPath) throws UnavailableException {
        Path p = Path.of(explicitPath).toAbsolutePath().normalize();
        if (Files.isDirectory(p)) {
            for (String name : SYSTEM_NAMES) {
                if (Files.isRegularFile(p.resolve(name))) return p.resolve(name);
            }
            throw new UnavailableException("no libdnnl in directory " + p + " (looked for " + String.join(", ", SYSTEM_NAMES) + ")");
        }
        if (!Files.exists(p, java.nio.file.LinkOption.NOFOLLOW_LINKS)) throw new UnavailableException(p + " does not exist");
        String kind = FileKind.notRegular(p);                   // never open a FIFO or a device: dlopen would block on it
        if (kind != null) throw new UnavailableException(p + " " + kind + " (expected a libdnnl.so file or its directory)");
        return p;
    }

    private static boolean samePath(Path a, Path b) {
        try {
            return Files.isSameFile(a, b);
        } catch (IOException e) {
            return false;
        }
    }

    /** Extracts the bundled libraries (once per cache key) and returns their directory. */
    private static Path bundledDirectory() throws UnavailableException {
        String why = noBundledLibrary(System.getProperty("os.name", ""), System.getProperty("os.arch", ""));
        if (why != null) throw new UnavailableException(why);
        List<NativeCache.Resource> resources;
        try {
            resources = NativeCache.find(OneDnnLoader.class.getClassLoader(), RESOURCE_DIR, BUNDLED);
        } catch (IOException e) {
            throw new UnavailableException(e.getMessage(), e);
        }
        Path root = NativeCache.defaultRoot();
        try {
            return NativeCache.extract(resources, root).dir();
        } catch (IOException first) {
            // An unwritable home (read-only container, no $HOME): fall back to the temp directory.
            Path tmp = Path.of(System.getProperty("java.io.tmpdir"), "leviathan-" + System.getProperty("user.name", "user"), "native");
            try {
                return NativeCache.extract(resources, tmp).dir();
            } catch (IOException e) {
                throw new UnavailableException("cannot extract the bundled oneDNN to " + root + " (" + first.getMessage()
                        + ") nor to " + tmp + " (" + e.getMessage() + ")", e);
            }
        }
    }

    /**
     * Why the bundled oneDNN cannot run on this OS and architecture (the jar holds a linux-x86_64
     * build only: macOS, Windows and ARM machines run the Java GEMM), or null where it can.
     */
    static String noBundledLibrary(String osName, String osArch) {
        String os = osName.toLowerCase(Locale.ROOT), arch = osArch.toLowerCase(Locale.ROOT);
        if (os.contains("linux") && (arch.equals("amd64") || arch.equals("x86_64"))) return null;
        return "no bundled oneDNN for " + os + "/" + arch + " (the jar is linux-x86_64)";
    }

    /** Opens one library for the life of the JVM. */
    private static SymbolLookup open(Path file) throws UnavailableException {
        checkElf(file);
        try {
            return SymbolLookup.libraryLookup(file, Arena.global());
        } catch (IllegalArgumentException e) {       // "Cannot open library: <path>": missing, damaged, wrong architecture
            throw new UnavailableException("cannot open " + file + " (" + e.getMessage() + ")", e);
        } catch (IllegalCallerException e) {         // run without --enable-native-access under --illegal-native-access=deny
            throw new UnavailableException(nativeDeniedMessage(), e);
        }
    }

    /**
     * Refuses anything but a regular file (a FIFO would block {@code dlopen} forever) and, on Linux,
     * a file that {@code dlopen} would choke on before calling it: no ELF header, another word size
     * or architecture, or a truncated file (segments past its end are mapped anyway, and touching
     * them kills the JVM with SIGBUS instead of failing the open).
     */
    static void checkElf(Path file) throws UnavailableException {
        String kind = FileKind.notRegular(file);
        if (kind != null) throw new UnavailableException("cannot open " + file + ": it " + kind);
        if (!System.getProperty("os.name", "").toLowerCase(Locale.ROOT).contains("linux")) return;
        ByteBuffer h = ByteBuffer.allocate(64).order(ByteOrder.LITTLE_ENDIAN);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            while (h.hasRemaining() && ch.read(h) > 0) { /* fill the header */ }
            if (h.position() < 4 || h.get(0) != 0x7f || h.get(1) != 'E' || h.get(2) != 'L' || h.get(3) != 'F') {
                throw new UnavailableException("cannot open " + file + ": not a shared library (no ELF header)");
            }
            if (h.position() < 64 || h.get(4) != 2 || h.get(5) != 1) {
                throw new UnavailableException("cannot open " + file + ": not a 64-bit little-endian ELF library");
            }
            int machine = Short.toUnsignedInt(h.getShort(18));
            String arch = System.getProperty("os.arch", "");
            int want = arch.equals("amd64") || arch.equals("x86_64") ? 62 : arch.equals("aarch64") ? 183 : machine;
            if (machine != want) {
                throw new UnavailableException("cannot open " + file + ": built for ELF machine " + machine + ", this JVM is " + arch);
            }
            long phoff = h.getLong(32), shoff = h.getLong(40);
            int phentsize = Short.toUnsignedInt(h.getShort(54)), phnum = Short.toUnsignedInt(h.getShort(56));
            int shentsize = Short.toUnsignedInt(h.getShort(58)), shnum = Short.toUnsignedInt(h.getShort(60));
            boolean ok = phentsize >= 56 && phoff >= 0 && phoff + (long) phnum * phentsize <= size
                    && (shnum == 0 || shoff >= 0 && shoff + (long) shnum * shentsize <= size);
            if (ok) {
                ByteBuffer ph = ByteBuffer.allocate(phnum * phentsize).order(ByteOrder.LITTLE_ENDIAN);
                while (ph.hasRemaining() && ch.read(ph, phoff + ph.position()) > 0) { /* fill the program headers */ }
                for (int i = 0; i < phnum && ok; i++) {
                    long offset = ph.getLong(i * phentsize + 8), filesz = ph.getLong(i * phentsize + 32);
                    ok = offset >= 0 && filesz >= 0 && offset + filesz <= size;
                }
            }
            if (!ok) throw new UnavailableException("cannot open " + file + ": truncated or damaged (" + size + " bytes, its ELF headers point past the end)");
        } catch (IOException e) {
            throw new UnavailableException("cannot read " + file + " (" + e + ")", e);
        }
    }

    /**
     * Sets {@code OMP_WAIT_POLICY} in the process environment before libgomp reads it, unless the
     * user set it; returns the policy in effect ({@code null}: libgomp's default).
     */
    private static String prepareEnvironment() throws UnavailableException {
        String want = System.getProperty(WAIT_POLICY_PROPERTY, "passive").trim().toLowerCase(Locale.ROOT);
        if (!List.of("passive", "active", "default").contains(want)) {
            throw new UnavailableException(WAIT_POLICY_PROPERTY + " must be passive, active or default, got '" + want + "'");
        }
        try (Arena arena = Arena.ofConfined()) {
            MemorySegment name = arena.allocateFrom("OMP_WAIT_POLICY");
            MemorySegment current = stdlib_h.getenv(name);
            if (!current.equals(MemorySegment.NULL)) {
                return current.reinterpret(Long.MAX_VALUE).getString(0) + " (from the environment)";
            }
            if (want.equals("default")) return null;
            if (stdlib_h.setenv(name, arena.allocateFrom(want.toUpperCase(Locale.ROOT)), 0) != 0) {
                throw new UnavailableException("setenv(OMP_WAIT_POLICY) failed");
            }
            return want;
        } catch (IllegalCallerException e) {
            throw new UnavailableException(nativeDeniedMessage(), e);
        } catch (LinkageError e) {
            // the bindings' class initialiser looks the functions up: without native access that is refused in it
            for (Throwable c = e; c != null; c = c.getCause()) {
                if (c instanceof IllegalCallerException) throw new UnavailableException(nativeDeniedMessage(), e);
            }
            // a C library without getenv/setenv (Windows' has _putenv_s)
            throw new UnavailableException("cannot set OMP_WAIT_POLICY here (" + e.getMessage() + ")", e);
        }
    }
}
