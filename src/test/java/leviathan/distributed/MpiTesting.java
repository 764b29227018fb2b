package leviathan.distributed;

import static org.junit.jupiter.api.Assertions.fail;

import java.io.File;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;

/** Runs real {@code mpirun} for the tests, or skips with the reason; on CI (CI=true) a missing Open MPI fails. */
public final class MpiTesting {
    private MpiTesting() {}

    /** The output and exit status of one mpirun, and whether it had to be killed at the time limit. */
    public record Run(int exitCode, String output, boolean timedOut, long millis) {}

    /** The mpirun on PATH, or a skip ("Open MPI not found: ..."); CI installs it (.ci/run), so there a miss fails. */
    public static Path mpirunOrSkip() {
        String reason = null;
        Path mpirun = onPath("mpirun");
        if (mpirun == null) reason = "no mpirun on PATH";
        else if (!Mpi.available()) reason = "mpirun found but " + Mpi.status();
        if (reason != null) {
            if ("true".equals(System.getenv("CI"))) fail("Open MPI must be present on CI (.ci/run installs openmpi-bin) but: " + reason);
            Assumptions.assumeTrue(false, "Open MPI not found: " + reason + "; " + Mpi.INSTALL_HINT);
        }
        return mpirun;
    }

    static Path onPath(String name) {
        for (String dir : System.getenv().getOrDefault("PATH", "").split(File.pathSeparator)) {
            if (dir.isEmpty()) continue;
            Path p = Path.of(dir, name);
            if (Files.isExecutable(p)) return p;
        }
        return null;
    }

    /** Whether this process runs as root (mpirun then needs OMPI_ALLOW_RUN_AS_ROOT and its confirmation). */
    public static boolean root() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("Uid:")) return line.split("\\s+")[1].equals("0");
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: fall back to the name
        }
        return "root".equals(System.getProperty("user.name"));
    }

    /** The command line of one rank: this JVM's java, the engine's JVM flags, -ea, one kernel thread, this class path. */
    public static List<String> javaCommand(String mainClass, String... args) {
        return javaCommand(List.of(), mainClass, args);
    }

    /** {@link #javaCommand(String, String...)} with further JVM options (e.g. {@code -Dleviathan.overlap=false}) before the class. */
    public static List<String> javaCommand(List<String> jvmOptions, String mainClass, String... args) {
        String java = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        List<String> cmd = new ArrayList<>(List.of(java, "--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-ea",
                "-Dleviathan.threads=1"));
        cmd.addAll(jvmOptions);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), mainClass));
        cmd.addAll(List.of(args));
        return cmd;
    }

    /**
     * Runs {@code mpirun -np ranks} of a Java main class of this test class path (same JDK, the
     * engine's JVM flags, -ea), waiting at most {@code limitSeconds}; on the limit the whole process
     * tree is killed and {@link Run#timedOut()} is true.
     */
    public static Run run(Path mpirun, int ranks, long limitSeconds, String mainClass, String... args)
            throws IOException, InterruptedException {
        return run(mpirun, ranks, limitSeconds, List.of(), mainClass, args);
    }

    /** {@link #run(Path, int, long, String, String...)} with further JVM options for every rank. */
    public static Run run(Path mpirun, int ranks, long limitSeconds, List<String> jvmOptions, String mainClass, String... args)
            throws IOException, InterruptedException {
        List<String> cmd = new ArrayList<>(List.of(mpirun.toString(), "-np", Integer.toString(ranks), "--oversubscribe"));
        cmd.addAll(javaCommand(jvmOptions, mainClass, args));
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        Path log = Files.createTempFile("leviathan-mpirun", ".log");
        pb.redirectOutput(log.toFile());
        if (root()) {
            pb.environment().put("OMPI_ALLOW_RUN_AS_ROOT", "1");
            pb.environment().put("OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1");
        }
        long t0 = System.nanoTime();
        Process p = pb.start();
        boolean done = p.waitFor(limitSeconds, TimeUnit.SECONDS);
        if (!done) {
            p.descendants().forEach(ProcessHandle::destroyForcibly);
            p.destroyForcibly();
            p.waitFor(10, TimeUnit.SECONDS);
        }
        long ms = (System.nanoTime() - t0) / 1_000_000;
        String out = Files.readString(log);
        Files.deleteIfExists(log);
        return new Run(done ? p.exitValue() : -1, out, !done, ms);
    }
}
