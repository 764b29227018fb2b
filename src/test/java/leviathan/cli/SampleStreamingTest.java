package leviathan.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.InputStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/** {@code sample} streams in constant memory whatever {@code --tokens} is, and stops when its output closes. */
class SampleStreamingTest {

    @Test
    @Timeout(value = 120, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void hugeTokenCountStreamsInASmallHeapAndStopsWhenStdoutCloses(@TempDir Path dir) throws Exception {
        Path ckpt = Path.of("src/test/resources/reference/tiny-correlation.safetensors").toAbsolutePath();
        String java = ProcessHandle.current().info().command().orElse(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        Path err = dir.resolve("err.txt");
        // 32 MiB of heap: an array of 2^31 ints (8 GiB) could not exist, and int overflow would show as a negative size
        Process p = new ProcessBuilder(java, "-Xmx32m", "--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED", "-ea",
                "-cp", System.getProperty("java.class.path"), Main.class.getName(), "sample", "--checkpoint", ckpt.toString(),
                "--prompt", "a", "--tokens", "2147483647", "--backend", "java", "--threads", "1", "--stop", "zzzz")
                .redirectError(err.toFile()).start();
        try {
            InputStream out = p.getInputStream();
            byte[] buf = new byte[3000];
            int n = out.readNBytes(buf, 0, buf.length);
            assertEquals(buf.length, n, Files.readString(err));
            String text = new String(buf, StandardCharsets.UTF_8);
            assertTrue(text.startsWith("a"), text);
            out.close();                                   // like `| head`: the next writes fail, and sample stops
            assertTrue(p.waitFor(60, TimeUnit.SECONDS), "sample stops once its output is closed");
            assertEquals(0, p.exitValue(), Files.readString(err));
        } finally {
            p.destroyForcibly();
        }
    }
}
