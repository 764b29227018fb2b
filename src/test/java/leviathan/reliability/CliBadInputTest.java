package leviathan.reliability;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import leviathan.cli.Main;
import leviathan.testing.TestData;
import leviathan.train.Trainer;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * Bad files and bad input through the command line: each is refused with exactly one
 * {@code leviathan:} line naming the problem, a non-zero exit, and no stack trace.
 * ({@code CliTest} covers bad options and impossible configs; these are the files a user can hand
 * the engine. The launcher's answers to both are tabled in {@code benchmarks/results/cli-errors.md}.)
 */
class CliBadInputTest {
    @TempDir
    static Path dir;
    static Path data, run, model, state;

    static final String[] TINY = {"--n-layer", "1", "--n-embd", "16", "--n-head", "2", "--block-size", "16", "--batch-size", "2",
            "--steps", "2", "--eval-interval", "2", "--eval-batches", "1", "--sample-tokens", "0", "--threads", "1", "--backend", "java"};

    @BeforeAll
    static void aRun() throws Exception {
        data = TestData.writeText(dir, TestData.text(3000, 51));
        run = dir.resolve("run");
        assertEquals(0, run(concat(new String[] {"train", "--data", data.toString(), "--out", run.toString()}, TINY)).code());
        model = run.resolve(Trainer.MODEL_FILE);
        state = run.resolve(Trainer.STATE_FILE);
    }

    record Run(int code, String err) {}

    static Run run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err, true));
        cl.setOut(new PrintWriter(new StringWriter(), true));
        return new Run(cl.execute(args), err.toString());
    }

    static String[] concat(String[] a, String... b) {
        String[] r = Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    static void assertRefused(String fragment, String... args) {
        Run r = run(args);
        String cmd = String.join(" ", args);
        assertTrue(r.code() != 0, "exit code 0 for " + cmd);
        long lines = r.err().lines().filter(l -> l.startsWith("leviathan: ")).count();
        assertEquals(1, lines, "one error line for " + cmd + ":\n" + r.err());
        assertTrue(r.err().contains(fragment), "expected '" + fragment + "' for " + cmd + " in:\n" + r.err());
        assertTrue(!r.err().contains("\tat "), "no stack trace: " + r.err());
    }

    static Path copyRun(String name) throws Exception {
        Path copy = dir.resolve(name);
        Files.createDirectories(copy);
        try (var files = Files.list(run)) {
            for (Path f : files.toList()) Files.copy(f, copy.resolve(f.getFileName()));
        }
        return copy;
    }

    @Test
    void checkpointsOfAnotherKindOrBrokenAreRefused() throws Exception {
        String m = model.toString();
        assertRefused("is a training state file", "sample", "--checkpoint", state.toString());
        assertRefused("is a training state file", "eval", "--checkpoint", state.toString(), "--data", data.toString());
        assertRefused("is a training state file", concat(new String[] {"train", "--init-from", state.toString(), "--data", data.toString(),
                "--out", dir.resolve("r1").toString()}, TINY));
        assertRefused("is a directory", "sample", "--checkpoint", dir.toString());
        assertRefused("does not fit the file", "sample", "--checkpoint", data.toString());
        byte[] all = Files.readAllBytes(model);
        Path cut = Files.write(dir.resolve("cut.safetensors"), Arrays.copyOf(all, all.length - 10));
        assertRefused("cut.safetensors: tensor", "sample", "--checkpoint", cut.toString());
        // a valid safetensors file from another tool: F32, but no Leviathan metadata
        byte[] h = "{\"__metadata__\":{\"format\":\"pt\"},\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}".getBytes(StandardCharsets.UTF_8);
        ByteBuffer b = ByteBuffer.allocate(8 + h.length + 8).order(ByteOrder.LITTLE_ENDIAN).putLong(h.length).put(h);
        Path other = Files.write(dir.resolve("other.safetensors"), b.array());
        assertRefused("checkpoint format 'pt' is not supported (expected 'leviathan-1')", "sample", "--checkpoint", other.toString());
        assertRefused("is not in the model's vocabulary", "sample", "--checkpoint", m, "--prompt", "Zed");
    }

    @Test
    void brokenRunDirectoriesAreRefusedOnResume() throws Exception {
        Path torn = copyRun("torn");
        Files.writeString(torn.resolve(Trainer.CONFIG_FILE), Files.readString(torn.resolve(Trainer.CONFIG_FILE)).substring(0, 80));
        assertRefused("is not a valid run config", "train", "--resume", torn.toString());

        Path nan = copyRun("nan");
        byte[] s = Files.readAllBytes(nan.resolve(Trainer.STATE_FILE));
        ByteBuffer.wrap(s).order(ByteOrder.LITTLE_ENDIAN).putFloat(s.length - 4, Float.NaN);
        Files.write(nan.resolve(Trainer.STATE_FILE), s);
        assertRefused("holds a non-finite value (NaN)", "train", "--resume", nan.toString());

        Path mixed = copyRun("mixed");                                   // config.json of another model size
        Path cfg = mixed.resolve(Trainer.CONFIG_FILE);
        Files.writeString(cfg, Files.readString(cfg).replace("\"n_embd\": 16", "\"n_embd\": 32"));
        assertRefused("do not belong to the same run", "train", "--resume", mixed.toString());

        Path swapped = copyRun("swapped");                               // the model file where the state should be
        Files.copy(swapped.resolve(Trainer.MODEL_FILE), swapped.resolve(Trainer.STATE_FILE), java.nio.file.StandardCopyOption.REPLACE_EXISTING);
        assertRefused("is a model file, not a training state", "train", "--resume", swapped.toString());

        Path none = Files.createDirectories(dir.resolve("empty-run"));
        assertRefused("not found (is ", "train", "--resume", none.toString());
    }

    @Test
    void unreadableOrUnusableTextIsRefused() throws Exception {
        Path bad = Files.write(dir.resolve("latin1.txt"), "the king caf\u00e9 is good\n".repeat(50).getBytes(StandardCharsets.ISO_8859_1));
        assertRefused("is not valid UTF-8 near byte", concat(new String[] {"train", "--data", bad.toString(), "--out", dir.resolve("r2").toString()}, TINY));
        assertRefused("is not valid UTF-8 near byte", "eval", "--checkpoint", model.toString(), "--data", bad.toString());
        Path empty = Files.write(dir.resolve("empty.txt"), new byte[0]);
        assertRefused("cannot build a vocabulary from empty text", concat(new String[] {"train", "--data", empty.toString(), "--out",
                dir.resolve("r3").toString()}, TINY));
        assertRefused("' is a directory: give a UTF-8 text file", "train", "--data", dir.toString());
        Path unknown = Files.writeString(dir.resolve("unknown.txt"), TestData.text(500, 3) + "Zebra");
        assertRefused("character 'Z' U+005A at position 500", "eval", "--checkpoint", model.toString(), "--data", unknown.toString());
        assertRefused("character 'Z' U+005A at position 500", concat(new String[] {"train", "--init-from", model.toString(), "--data",
                unknown.toString(), "--out", dir.resolve("r4").toString()}, TINY));
        assertRefused("shorter than one window", "eval", "--checkpoint", model.toString(), "--data",
                Files.writeString(dir.resolve("short.txt"), "the king").toString());
    }
}
