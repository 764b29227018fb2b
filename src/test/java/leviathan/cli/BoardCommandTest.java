package leviathan.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code leviathan board}: its options, shared with serve, and its refusals (one line each, exit 1 or 2). */
class BoardCommandTest {
    @TempDir
    Path tmp;

    @Test
    void aMissingDirectoryIsOneLineAndExitOne() {
        Path missing = tmp.resolve("no-such-runs");
        CliTest.Run r = CliTest.run("board", missing.toString());
        assertEquals(1, r.code());
        List<String> lines = r.err().lines().toList();
        assertEquals("leviathan: " + missing + " does not exist: give directories that hold runs (train writes them to runs/ or --out)", lines.get(0));
        assertEquals(List.of("  (run with --verbose for the stack trace)"), lines.subList(1, lines.size()), "the usual hint line, nothing else");
    }

    @Test
    void refusesWhatCannotBeServed() throws Exception {
        Path file = Files.writeString(tmp.resolve("file.txt"), "x");
        CliTest.assertRejected(file + " is not a directory", "board", file.toString());
        CliTest.assertRejected("--port must be in [0, 65535], got 70000", "board", tmp.toString(), "--port", "70000");
        Path empty = Files.writeString(tmp.resolve("key"), "  \n");
        CliTest.assertRejected("--api-key-file " + empty + " is empty", "board", tmp.toString(), "--api-key-file", empty.toString());
        CliTest.assertRejected("--interval must be in [0.05, 3600] seconds, got 0.0", "board", tmp.toString(), "--interval", "0");
    }

    @Test
    void boardAndServeShareTheListeningOptions() {
        for (String cmd : List.of("board", "serve")) {
            CommandLine cl = Main.commandLine(new String[] {cmd}).getSubcommands().get(cmd);
            StringWriter help = new StringWriter();
            cl.usage(new PrintWriter(help));
            for (String o : List.of("--host", "--port", "--api-key-file")) assertTrue(help.toString().contains(o), cmd + " has " + o);
        }
        assertEquals(8090, (int) Main.commandLine(new String[] {"board"}).getSubcommands().get("board").getCommandSpec().findOption("--port").getValue());
        assertEquals(8080, (int) Main.commandLine(new String[] {"serve"}).getSubcommands().get("serve").getCommandSpec().findOption("--port").getValue());
    }
}
