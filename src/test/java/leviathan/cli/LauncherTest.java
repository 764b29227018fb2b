package leviathan.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
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
}
