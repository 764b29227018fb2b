package leviathan.backend.cuda;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Optional;
import java.util.stream.Stream;

/**
 * Finds the CUDA libraries the GPU path needs: the runtime ({@code libcudart}), cuFFT
 * ({@code libcufft}) and the driver ({@code libcuda}, installed with the NVIDIA driver). Directories
 * are searched in this order, the first holding one of the names wins:
 * <ol>
 *   <li>{@code -Dleviathan.cuda.path}, else {@code LEVIATHAN_CUDA_PATH}: directories or files, ':'-separated;</li>
 *   <li>{@code CUDA_HOME}, {@code CUDA_PATH}: their {@code lib64}, {@code lib}, {@code targets/x86_64-linux/lib};</li>
 *   <li>the usual system locations: {@code /usr/local/cuda/lib64}, {@code /usr/local/cuda/lib},
 *       {@code /usr/local/cuda-*}/{lib64,lib} (newest first), {@code /opt/cuda/lib64},
 *       {@code /usr/lib/x86_64-linux-gnu}, {@code /usr/lib64}, {@code /usr/lib/wsl/lib};</li>
 *   <li>the library path: {@code LD_LIBRARY_PATH}, then {@code java.library.path};</li>
 *   <li>CUDA libraries installed as Python wheels: {@code site-packages/nvidia/*}/lib (e.g.
 *       {@code nvidia/cu13/lib}, {@code nvidia/cufft/lib}) under {@code VIRTUAL_ENV}, {@code CONDA_PREFIX},
 *       {@code PYTHONPATH}, {@code ~/.local/lib/python3.*}, {@code /usr/local/lib/python3.*},
 *       {@code /usr/lib/python3*}, {@code /opt/conda/lib/python3.*} ({@code site-packages} or {@code dist-packages});</li>
 *   <li>last, the dynamic loader by name (its cache: how the driver's {@code libcuda.so.1} is usually found).</li>
 * </ol>
 * Directories named {@code stubs} are skipped: the toolkit's link-time stub of libcuda loads but fails every call.
 */
public final class CudaLibraries {
    private CudaLibraries() {}

    /** Names tried per directory, newest first. */
    public static final List<String> CUDART = List.of("libcudart.so.13", "libcudart.so.12", "libcudart.so");
    public static final List<String> CUFFT = List.of("libcufft.so.12", "libcufft.so.11", "libcufft.so");
    public static final List<String> DRIVER = List.of("libcuda.so.1", "libcuda.so");

    /** The directories searched, in order, without duplicates (only those that exist). */
    public static List<Path> searchPath() {
        LinkedHashSet<Path> dirs = new LinkedHashSet<>();
        String explicit = System.getProperty("leviathan.cuda.path", System.getenv("LEVIATHAN_CUDA_PATH"));
        addAll(dirs, explicit);
        for (String env : new String[] {"CUDA_HOME", "CUDA_PATH"}) {
            String home = System.getenv(env);
            if (home != null && !home.isBlank()) {
                for (String sub : new String[] {"lib64", "lib", "targets/x86_64-linux/lib"}) dirs.add(Path.of(home, sub));
            }
        }
        dirs.add(Path.of("/usr/local/cuda/lib64"));
        dirs.add(Path.of("/usr/local/cuda/lib"));
        for (Path p : children(Path.of("/usr/local"), "cuda-", true)) {
            dirs.add(p.resolve("lib64"));
            dirs.add(p.resolve("lib"));
        }
        for (String s : new String[] {"/opt/cuda/lib64", "/usr/lib/x86_64-linux-gnu", "/usr/lib64", "/usr/lib/wsl/lib"}) dirs.add(Path.of(s));
        addAll(dirs, System.getenv("LD_LIBRARY_PATH"));
        addAll(dirs, System.getProperty("java.library.path"));
        for (Path site : sitePackages()) dirs.addAll(children(site.resolve("nvidia"), "", false).stream().map(p -> p.resolve("lib")).toList());
        return dirs.stream().filter(Files::isDirectory).filter(p -> !p.getFileName().toString().equals("stubs")).toList();
    }

    /** Python package directories that may hold {@code nvidia/*}/lib wheels. */
    static List<Path> sitePackages() {
        List<Path> roots = new ArrayList<>();
        for (String env : new String[] {"VIRTUAL_ENV", "CONDA_PREFIX"}) {
            String v = System.getenv(env);
            if (v != null && !v.isBlank()) roots.add(Path.of(v, "lib"));
        }
        roots.add(Path.of(System.getProperty("user.home"), ".local", "lib"));
        roots.add(Path.of("/usr/local/lib"));
        roots.add(Path.of("/usr/lib"));
        roots.add(Path.of("/opt/conda/lib"));
        List<Path> sites = new ArrayList<>();
        String pp = System.getenv("PYTHONPATH");
        if (pp != null) for (String s : pp.split(File.pathSeparator)) if (!s.isBlank()) sites.add(Path.of(s));
        for (Path root : roots) {
            for (Path py : children(root, "python3", true)) {
                sites.add(py.resolve("site-packages"));
                sites.add(py.resolve("dist-packages"));
            }
        }
        return sites.stream().filter(Files::isDirectory).toList();
    }

    /** The first file named one of {@code names} in {@code dirs} (or a listed file itself). */
    public static Optional<Path> locate(List<String> names, List<Path> dirs) {
        for (Path d : dirs) {
            for (String n : names) {
                Path f = d.resolve(n);
                if (Files.isRegularFile(f)) return Optional.of(f);
            }
        }
        String explicit = System.getProperty("leviathan.cuda.path", System.getenv("LEVIATHAN_CUDA_PATH"));
        if (explicit != null) {
            for (String s : explicit.split(File.pathSeparator)) {
                Path f = Path.of(s.trim());
                if (!s.isBlank() && Files.isRegularFile(f) && names.stream().anyMatch(n -> f.getFileName().toString().startsWith(n.replaceAll("\\.so.*", ".so")))) {
                    return Optional.of(f);
                }
            }
        }
        return Optional.empty();
    }

    /** A short description of where {@link #searchPath()} looked, for error lines. */
    public static String lookedIn() {
        return "looked in -Dleviathan.cuda.path/LEVIATHAN_CUDA_PATH, CUDA_HOME, /usr/local/cuda*, system lib dirs, "
                + "LD_LIBRARY_PATH and site-packages/nvidia/*/lib (" + searchPath().size() + " existing dirs)";
    }

    private static void addAll(LinkedHashSet<Path> dirs, String list) {
        if (list == null) return;
        for (String s : list.split(File.pathSeparator)) {
            if (s.isBlank()) continue;
            Path p = Path.of(s.trim());
            dirs.add(Files.isRegularFile(p) ? p.getParent() : p);
        }
    }

    /** Subdirectories of {@code dir} whose name starts with {@code prefix}, sorted (newest version first if {@code reverse}). */
    private static List<Path> children(Path dir, String prefix, boolean reverse) {
        if (!Files.isDirectory(dir)) return List.of();
        try (Stream<Path> s = Files.list(dir)) {
            Comparator<Path> byName = Comparator.comparing(p -> p.getFileName().toString());
            return s.filter(Files::isDirectory).filter(p -> p.getFileName().toString().startsWith(prefix))
                    .sorted(reverse ? byName.reversed() : byName).toList();
        } catch (IOException e) {
            return List.of();
        }
    }
}
