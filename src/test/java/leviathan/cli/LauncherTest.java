package leviathan.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;

/** The {@code ./leviathan} launcher script in environments a user may run it from. */
class LauncherTest {

    @Test
    void findsTheJdkWithoutHomeOrJavaHome() throws Exception {
        Path launcher = Path.of("leviathan").toAbsolutePath();
        Assumptions.assumeTrue(Files.isRegularFile(launcher), "run from the project directory: " + launcher + " not found");
        Assumptions.assumeTrue(Files.isExecutable(Path.of("/bin/bash")) || Files.isExecutable(Path.of("/usr/bin/bash")), "no bash here");
        // `env -u HOME` as cron or systemd run it: the script is `set -u`, and HOME was once an unbound variable there
        ProcessBuilder pb = new ProcessBuilder("bash", launcher.toString(), "java-home").redirectErrorStream(true);
        pb.environment().remove("HOME");
        pb.environment().remove("JAVA_HOME");
        Process p = pb.start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "launcher did not finish");
        String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
        assertTrue(!out.contains("unbound variable"), out);
        // a machine whose only JDK is named by JAVA_HOME has none for the scan to find: nothing more to check
        Assumptions.assumeFalse(p.exitValue() == 2 && out.contains("needs a JDK"), "no JDK outside JAVA_HOME: " + out);
        assertEquals(0, p.exitValue(), out);
        assertTrue(Files.isExecutable(Path.of(out, "bin", "java")), "not a JDK: " + out);
    }

    /**
     * The launcher reads a JDK's version from its {@code release} file instead of starting a JVM
     * to ask (each start cost a tenth of a second or more): a JAVA_HOME whose {@code bin/java} would
     * leave a mark if run is accepted for release 25 without running it, and refused for 17.
     */
    @Test
    void readsTheJdkVersionFromItsReleaseFile(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path launcher = Path.of("leviathan").toAbsolutePath();
        Assumptions.assumeTrue(Files.isRegularFile(launcher), "run from the project directory: " + launcher + " not found");
        for (String version : new String[] {"25.0.1", "17.0.9"}) {
            Path jdk = dir.resolve("jdk-" + version), bin = jdk.resolve("bin"), mark = dir.resolve("ran-" + version);
            Files.createDirectories(bin);
            Files.writeString(jdk.resolve("release"), "IMPLEMENTOR=\"Test\"\nJAVA_VERSION=\"" + version + "\"\n");
            for (String tool : new String[] {"java", "javac"}) {
                Path f = bin.resolve(tool);
                Files.writeString(f, "#!/bin/sh\ntouch '" + mark + "'\nexit 3\n");
                f.toFile().setExecutable(true);
            }
            ProcessBuilder pb = new ProcessBuilder("bash", launcher.toString(), "java-home").redirectErrorStream(true);
            pb.environment().put("JAVA_HOME", jdk.toString());
            Process p = pb.start();
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "launcher did not finish");
            String out = new String(p.getInputStream().readAllBytes(), StandardCharsets.UTF_8).trim();
            assertTrue(!Files.exists(mark), "the launcher ran " + bin.resolve("java") + " to learn its version");
            if (version.startsWith("25")) {
                assertEquals(0, p.exitValue(), out);
                assertEquals(jdk.toString(), out);
            } else {
                assertTrue(!out.equals(jdk.toString()), "a JDK 17 was accepted: " + out);
            }
        }
    }

    /**
     * Issue 25: a JAVA_HOME older than 25 is not passed over without a word, and a LEVIATHAN_HEAP the
     * JVM cannot start with is refused in one line by the launcher (before any build or JVM).
     */
    @Test
    void saysWhichJavaHomeItSkipsAndRefusesAnImpossibleHeap(@org.junit.jupiter.api.io.TempDir Path dir) throws Exception {
        Path launcher = Path.of("leviathan").toAbsolutePath();
        Assumptions.assumeTrue(Files.isRegularFile(launcher), "run from the project directory: " + launcher + " not found");
        Path jdk = dir.resolve("jdk-17"), bin = jdk.resolve("bin");
        Files.createDirectories(bin);
        Files.writeString(jdk.resolve("release"), "JAVA_VERSION=\"17.0.9\"\n");
        for (String tool : new String[] {"java", "javac"}) {
            Path f = bin.resolve(tool);
            Files.writeString(f, "#!/bin/sh\nexit 3\n");
            f.toFile().setExecutable(true);
        }
        ProcessBuilder pb = new ProcessBuilder("bash", launcher.toString(), "java-home");
        pb.environment().put("JAVA_HOME", jdk.toString());
        Process p = pb.start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "launcher did not finish");
        String err = new String(p.getErrorStream().readAllBytes(), StandardCharsets.UTF_8);
        Assumptions.assumeTrue(p.exitValue() == 0, "no JDK 25 outside JAVA_HOME here: " + err);
        assertTrue(err.contains("leviathan: JAVA_HOME=" + jdk + " is JDK 17, older than 25; using "), err);

        for (String heap : new String[] {"4m", "lots"}) {
            ProcessBuilder h = new ProcessBuilder("bash", launcher.toString(), "info").redirectErrorStream(true);
            h.environment().put("LEVIATHAN_HEAP", heap);
            Process q = h.start();
            assertTrue(q.waitFor(60, TimeUnit.SECONDS), "launcher did not finish");
            String out = new String(q.getInputStream().readAllBytes(), StandardCharsets.UTF_8);
            assertEquals(2, q.exitValue(), out);
            assertTrue(out.startsWith("leviathan: LEVIATHAN_HEAP=" + heap + " is "), out);
            assertEquals(1, out.lines().count(), out);
        }
    }

    /**
     * Every command starts with a class-data archive of its own build (HotSpot's CDS), made once by a
     * serve of the fixture: after a command ran, the archive lies beside the jar, newer than it, and the
     * JVM given the launcher's flags validates it and finds Jetty's and the engine's classes in it
     * ({@code -XX:+PrintSharedArchiveAndExit}); {@code LEVIATHAN_CDS=false} starts without it. Needs the built jar, which the suite's {@code mvn test} does not make: skipped, saying so, where
     * it is missing or older than the sources (the launcher would build inside the test).
     */
    @Test
    void startsWithAClassDataArchiveOfItsOwnBuild() throws Exception {
        Path launcher = Path.of("leviathan").toAbsolutePath(), jar = Path.of("app/target/leviathan.jar"), jsa = Path.of("app/target/leviathan.jsa");
        Assumptions.assumeTrue(Files.isRegularFile(launcher), "run from the project directory: " + launcher + " not found");
        Assumptions.assumeTrue(Files.isRegularFile(jar) && Files.isDirectory(Path.of("app/target/lib")), "the jar is not built (mvn test does not package)");
        long built = Files.getLastModifiedTime(jar).toMillis();
        for (String src : new String[] {"pom.xml", "core/pom.xml", "app/pom.xml", "core/src", "src/main", "data/datasets.tsv"}) {
            try (var files = Files.walk(Path.of(src))) {
                Assumptions.assumeTrue(files.filter(Files::isRegularFile).allMatch(f -> f.toFile().lastModified() <= built),
                        "the jar is older than " + src + ": the launcher would build it inside this test");
            }
        }
        String info = launch(launcher, Map.of());
        assertTrue(info.contains("vector"), info);
        assertTrue(Files.isRegularFile(jsa) && Files.getLastModifiedTime(jsa).toMillis() > built, "no archive newer than the jar: " + jsa);

        String mapped = launch(launcher, Map.of("LEVIATHAN_JAVA_OPTS", "-XX:+PrintSharedArchiveAndExit"));
        assertTrue(mapped.contains(jsa.toAbsolutePath().toString()), mapped.lines().limit(20).toList().toString());
        for (String cls : new String[] {"org.eclipse.jetty.server.Server", "leviathan.server.CompletionServer", "leviathan.cli.Main"}) {
            assertTrue(mapped.contains(cls), cls + " is not in the archive: " + mapped.lines().limit(20).toList());
        }
        String off = launch(launcher, Map.of("LEVIATHAN_JAVA_OPTS", "-XX:+PrintSharedArchiveAndExit", "LEVIATHAN_CDS", "false"));
        assertFalse(off.contains(jsa.toAbsolutePath().toString()), off.lines().limit(20).toList().toString());
    }

    /** Runs {@code ./leviathan info} with {@code env}; returns its output (stdout and stderr). */
    private static String launch(Path launcher, Map<String, String> env) throws Exception {
        ProcessBuilder pb = new ProcessBuilder("bash", launcher.toString(), "info").redirectErrorStream(true);
        pb.environment().putAll(env);
        Process p = pb.start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "launcher did not finish");
        return new String(out, StandardCharsets.UTF_8);
    }
}
