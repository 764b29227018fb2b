package leviathan.cli;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.PrintStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import leviathan.data.CharTokenizer;
import leviathan.data.TokenFile;
import leviathan.model.Checkpoint;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.testing.TestData;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/** {@code prepare}, and {@code eval} on a token file: the same numbers as on the text, one-line refusals. */
class PrepareCommandTest {
    record Run(int code, String out, String err) {}

    static synchronized Run run(String... args) {
        CommandLine cl = Main.commandLine();
        StringWriter err = new StringWriter();
        cl.setErr(new PrintWriter(err, true));
        PrintStream old = System.out;
        ByteArrayOutputStream out = new ByteArrayOutputStream();
        System.setOut(new PrintStream(out, true, StandardCharsets.UTF_8));
        try {
            int code = cl.execute(args);
            return new Run(code, out.toString(StandardCharsets.UTF_8), err.toString());
        } finally {
            System.setOut(old);
        }
    }

    static final Pattern LOSS = Pattern.compile("loss ([0-9.]+) nats, bpc [0-9.]+ over ([0-9,]+) predictions");

    static double[] loss(Run r) {
        Matcher m = LOSS.matcher(r.out());
        assertTrue(m.find(), r.out() + r.err());
        return new double[] {Double.parseDouble(m.group(1)), Double.parseDouble(m.group(2).replace(",", ""))};
    }

    @Test
    void evalOnAPreparedTextEqualsEvalOnTheText(@TempDir Path dir) throws Exception {
        String text = TestData.text(4000, 21);
        Path data = TestData.writeText(dir, text);
        CharTokenizer tok = CharTokenizer.fromText(text);
        Path model = dir.resolve("model.safetensors");
        try (Gpt g = Gpt.init(GptConfig.of(tok.vocabSize(), 16, 1, 2, 16, "correlation", 3), 5)) {
            Checkpoint.save(model, g, tok, Map.of());
        }
        Run p = run("prepare", "--data", data.toString(), "--out", dir.resolve("tok").toString());
        assertEquals(0, p.code(), p.err());
        Path tokens = dir.resolve("tok").resolve("text.txt.tokens");
        assertTrue(TokenFile.isTokenFile(tokens), p.out());
        assertTrue(p.out().contains("4,000 characters (3,600 train, 400 val)"), p.out());

        String[] common = {"eval", "--checkpoint", model.toString(), "--threads", "1", "--backend", "java"};
        for (String split : new String[] {"train", "val", "all"}) {
            double[] onText = loss(run(concat(common, "--data", data.toString(), "--split", split)));
            double[] onTokens = loss(run(concat(common, "--data", tokens.toString(), "--split", split, "--full")));
            assertEquals(onText[1], onTokens[1], split + ": predictions");
            assertEquals(onText[0], onTokens[0], 1e-4, split + ": loss");
        }
        // a sample: few batches of random windows, said so
        Run sampled = run(concat(common, "--data", tokens.toString(), "--eval-batches", "2"));
        assertEquals(0, sampled.code(), sampled.err());
        assertEquals(2 * 16 * 16, loss(sampled)[1]);
        assertTrue(sampled.out().contains("random windows of 235"), sampled.out());

        // the source changed since: refused in one line, naming the fix
        Files.setLastModifiedTime(data, FileTime.fromMillis(Files.getLastModifiedTime(data).toMillis() + 3000));
        Run changed = run(concat(common, "--data", tokens.toString()));
        assertEquals(1, changed.code());
        assertTrue(changed.err().startsWith("leviathan: token file " + tokens), changed.err());
        assertTrue(changed.err().contains("leviathan prepare --data"), changed.err());
        assertFalse(changed.err().contains("\tat "), changed.err());

        // a truncated one: the same
        byte[] all = Files.readAllBytes(tokens);
        Files.write(tokens, java.util.Arrays.copyOf(all, all.length - 7));
        Run cut = run(concat(common, "--data", tokens.toString()));
        assertEquals(1, cut.code());
        assertTrue(cut.err().contains("truncated"), cut.err());
        assertEquals(2, cut.err().lines().count(), cut.err());            // the message and the --verbose hint
    }

    static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }
}
