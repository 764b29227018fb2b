package leviathan.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import leviathan.testing.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** Bad input to every command: one line of message, a non-zero exit, no stack trace. */
class CliTest {

    record Run(int code, String err) {}

    static Run run(String... args) {
        CommandLine cl = Main.commandLine(args);                 // as main() builds it: only the named command
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err, true));
        cl.setOut(new PrintWriter(new StringWriter(), true));
        int code = cl.execute(args);
        return new Run(code, err.toString());
    }

    static void assertRejected(String fragment, String... args) {
        Run r = run(args);
        assertTrue(r.code() != 0, "exit code for " + String.join(" ", args));
        assertTrue(r.err().contains(fragment), "expected '" + fragment + "' in: " + r.err());
        assertTrue(!r.err().contains("\tat "), "no stack trace: " + r.err());
    }

    /** A command built on its own parses and documents itself exactly as in the full command line. */
    @Test
    void aCommandBuiltAloneIsTheSameCommand() {
        CommandLine all = Main.commandLine();
        for (String name : all.getSubcommands().keySet()) {
            if (name.equals("help")) continue;
            CommandLine alone = Main.commandLine(new String[] {name});
            assertEquals(java.util.Set.of(name), alone.getSubcommands().keySet(), name);
            assertEquals(all.getSubcommands().get(name).getUsageMessage(CommandLine.Help.Ansi.OFF),
                    alone.getSubcommands().get(name).getUsageMessage(CommandLine.Help.Ansi.OFF), name + " usage");
        }
        assertEquals(all.getSubcommands().keySet(), Main.commandLine(new String[] {"help", "train"}).getSubcommands().keySet());
        assertEquals(all.getSubcommands().keySet(), Main.commandLine(new String[] {"--version"}).getSubcommands().keySet());
        assertEquals(java.util.List.of("train", "sample", "eval", "info", "serve", "prepare", "board", "tune", "help"),
                java.util.List.copyOf(all.getSubcommands().keySet()));
    }

    @Test
    void badOptionsAndImpossibleConfigsAreOneLine(@TempDir Path dir) throws Exception {
        Path data = TestData.writeText(dir, TestData.text(2000, 1));
        assertRejected("Unknown option", "train", "--no-such-flag");
        assertRejected("Invalid value", "train", "--steps", "ten");
        assertRejected("not divisible by n_head", "train", "--n-embd", "130", "--n-head", "4", "--data", data.toString());
        assertRejected("lags must be between 1 and the head dim", "train", "--lags", "64", "--data", data.toString());
        assertRejected("attention must be", "train", "--attention", "sparse", "--data", data.toString());
        assertRejected("batch_size must be >= 1", "train", "--batch-size", "0", "--data", data.toString());
        assertRejected("neither a file nor a known name", "train", "--data", dir.resolve("none.txt").toString());
        assertRejected("too short for block_size", "train", "--data", data.toString(), "--block-size", "1000", "--out", dir.resolve("r").toString());
        assertRejected("Missing required option", "sample");
        assertRejected("no such file", "sample", "--checkpoint", dir.resolve("none.safetensors").toString());
        assertRejected("no such file", "eval", "--checkpoint", dir.resolve("none.safetensors").toString(), "--data", data.toString());
        Path notCkpt = Files.writeString(dir.resolve("x.safetensors"), "definitely not a checkpoint");
        assertRejected("x.safetensors", "sample", "--checkpoint", notCkpt.toString());
        assertRejected("split must be", "eval", "--checkpoint", notCkpt.toString(), "--data", data.toString(), "--split", "test");
        assertRejected("tuning is off", "tune");                  // the tests run with -Dleviathan.tune=false
    }

    @Test
    void infoSaysPlainlyThatTheCudaPathIsUntested() {
        var buf = new java.io.ByteArrayOutputStream();
        var old = System.out;
        System.setOut(new java.io.PrintStream(buf, true, java.nio.charset.StandardCharsets.UTF_8));
        try {
            assertEquals(0, Main.commandLine().execute("info"));
        } finally {
            System.setOut(old);
        }
        String out = buf.toString(java.nio.charset.StandardCharsets.UTF_8);
        assertTrue(out.contains("CUDA") && out.contains("has not yet run on a GPU"), out);
        assertTrue(out.contains("tuning        off (-Dleviathan.tune=false"), out);
        assertTrue(out.contains("registers     "), out);
    }

    @Test
    void trainSampleAndEvalWorkTogether(@TempDir Path dir) throws Exception {
        Path data = TestData.writeText(dir, TestData.text(3000, 2));
        Path out = dir.resolve("run");
        Run r = run("train", "--data", data.toString(), "--out", out.toString(), "--steps", "5", "--n-layer", "1", "--n-embd", "16",
                "--n-head", "2", "--block-size", "16", "--batch-size", "2", "--eval-interval", "5", "--eval-batches", "1",
                "--sample-tokens", "0", "--threads", "1", "--backend", "java");
        assertEquals(0, r.code(), r.err());
        Path model = out.resolve("model.safetensors");
        assertEquals(0, run("sample", "--checkpoint", model.toString(), "--prompt", "the ", "--tokens", "5").code());
        assertRejected("is not in the model's vocabulary", "sample", "--checkpoint", model.toString(), "--prompt", "the Z");
        assertEquals(0, run("sample", "--checkpoint", model.toString(), "--prompt", "the Z", "--drop-unknown", "--tokens", "3").code());
        assertEquals(0, run("eval", "--checkpoint", model.toString(), "--data", data.toString()).code());
        assertRejected("cannot be combined with --resume", "train", "--resume", out.toString(), "--n-layer", "3");
        assertRejected("--block-size must be >= 1", "eval", "--checkpoint", model.toString(), "--data", data.toString(), "--block-size", "0");
        assertRejected("already holds a run", "train", "--data", data.toString(), "--out", out.toString(), "--steps", "5",
                "--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--block-size", "16");
    }
}
