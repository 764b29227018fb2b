package leviathan.reliability;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.foreign.ValueLayout;
import java.lang.management.ManagementFactory;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Comparator;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import javax.management.ObjectName;
import leviathan.api.LanguageModel;
import leviathan.backend.JavaBackend;
import leviathan.data.CharTokenizer;
import leviathan.data.TextDataset;
import leviathan.model.Checkpoint;
import leviathan.model.CheckpointException;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.model.Workspace;
import leviathan.testing.TestData;
import leviathan.train.Optimizer;
import leviathan.train.Sampler;
import leviathan.train.TrainConfig;
import leviathan.train.Trainer;

/**
 * Runs in a child JVM started with {@code -XX:NativeMemoryTracking=summary} (see
 * {@link NativeMemoryTest}): repeats load / train / sample / close cycles, and the failure paths
 * that allocate before they refuse, then prints the native memory the JVM's malloc tracking
 * attributes to {@code Other} (where {@code Arena} allocations land) and the resident set size.
 * Output: one {@code key=value} line per figure, in bytes.
 */
public final class NativeMemoryProbe {
    private NativeMemoryProbe() {}

    public static void main(String[] args) throws Exception {
        Path dir = Path.of(args[0]);
        int warmup = Integer.parseInt(args[1]), cycles = Integer.parseInt(args[2]);
        String text = TestData.text(3000, 31);
        Path data = TestData.writeText(dir, text);
        CharTokenizer tok = CharTokenizer.fromText(text);
        // n_embd 64, block 64: a training workspace for 16×64 tokens is ~17 MB, so one leaked cycle is plain to see
        GptConfig cfg = GptConfig.of(tok.vocabSize(), 64, 2, 4, 64, "correlation", 3);
        Path ckpt = dir.resolve("m.safetensors"), poisoned = dir.resolve("nan.safetensors");
        try (Gpt g = Gpt.init(cfg, 1)) {
            Checkpoint.save(ckpt, g, tok, null);
            g.params().get("ln_f.bias").setFlat(3, Float.NaN);
            Checkpoint.save(poisoned, g, tok, null);
        }
        Files.writeString(dir.resolve("unknown.txt"), text + "\u00a7");      // a character outside the vocabulary

        for (int i = 0; i < warmup; i++) cycle(dir, ckpt, poisoned, data, text, i);
        System.gc();
        long otherBefore = nmtOther(), rssBefore = rss();
        long inUse = 0;
        for (int i = 0; i < cycles; i++) inUse = Math.max(inUse, cycle(dir, ckpt, poisoned, data, text, warmup + i));
        System.gc();
        long otherAfter = nmtOther(), rssAfter = rss();
        System.out.println("other_before=" + otherBefore);
        System.out.println("other_after=" + otherAfter);
        System.out.println("in_use_per_cycle=" + inUse);
        System.out.println("rss_before=" + rssBefore);
        System.out.println("rss_after=" + rssAfter);
    }

    private static final PrintStream QUIET = new PrintStream(OutputStream.nullOutputStream());

    /** One cycle; returns the tracked native memory in use (above the level at its start) while everything was open. */
    static long cycle(Path dir, Path ckpt, Path poisoned, Path data, String text, int i) throws Exception {
        long start = nmtOther(), peak;
        // 1. load, train a few steps, sample, close
        try (Checkpoint.Loaded l = Checkpoint.load(ckpt);
             JavaBackend backend = new JavaBackend();
             Workspace ws = l.model().workspace(backend, 16, 64, true);
             Optimizer opt = new Optimizer(l.model(), Optimizer.Kind.ADAMW, 0.9f, 0.99f, 1e-8f, 0.1f)) {
            Gpt m = l.model();
            int[] ids = l.tokenizer().encode(text);
            for (int step = 0; step < 2; step++) {
                for (int t = 0; t < 2 * 64; t++) {
                    ws.tokens().setAtIndex(ValueLayout.JAVA_INT, t, ids[(step * 7 + t) % (ids.length - 1)]);
                    ws.targets().setAtIndex(ValueLayout.JAVA_INT, t, ids[(step * 7 + t) % (ids.length - 1) + 1]);
                }
                m.zeroGrad();
                m.forward(ws, 2, 64, true);
                m.backward(ws, 2, 64, 1f);
                opt.step(1e-3f);
            }
            try (Sampler s = new Sampler(m, backend)) {
                s.generate(new int[] {1, 2}, new Sampler.Options(10, 1f, 0, i), null);
                peak = nmtOther();
            }
        }
        // 2. the service API: load, generate, evaluate, close
        try (LanguageModel lm = LanguageModel.load(ckpt, new LanguageModel.Settings("java", 1, s -> { }))) {
            lm.generate("the ", new LanguageModel.Generation(10, 0.8f, 5, i, false), null);
            lm.evaluate(text.substring(0, 600), TextDataset.Split.ALL, 0, false);
        }
        // 3. failure paths that allocate before they refuse
        try (Checkpoint.Loaded l = Checkpoint.load(poisoned)) {
            throw new IllegalStateException("a NaN weight was accepted");
        } catch (CheckpointException expected) {
            // refused after the model was allocated: it must have been freed
        }
        Path runs = dir.resolve("runs-" + i);
        TrainConfig tiny = TestData.tinyTrain(data, runs.resolve("ok"), "correlation", 2, 2);
        new Trainer(s -> { }, QUIET).train(tiny);
        TrainConfig init = TestData.tinyBuilder(dir.resolve("unknown.txt"), runs.resolve("bad"), "correlation", 2, 2)
                .initFrom(ckpt.toString()).lr(1e-3f).minLr(1e-4f).warmup(0).evalBatches(1).logInterval(1).sampleTokens(0).seed(1).build();
        try {
            new Trainer(s -> { }, QUIET).train(init);
            throw new IllegalStateException("an unknown character was accepted");
        } catch (CharTokenizer.UnknownCharacterException expected) {
            // refused after the checkpoint was loaded: the model must have been freed
        }
        try (Stream<Path> files = Files.walk(runs)) {
            files.sorted(Comparator.reverseOrder()).forEach(p -> p.toFile().delete());
        }
        return peak - start;
    }

    private static final Pattern OTHER = Pattern.compile("Other \\(reserved=(\\d+)KB, committed=(\\d+)KB\\)");

    /** Bytes of native memory NMT attributes to {@code Other}: malloc'ed memory such as FFM arenas. */
    static long nmtOther() throws Exception {
        String summary = (String) ManagementFactory.getPlatformMBeanServer().invoke(new ObjectName("com.sun.management:type=DiagnosticCommand"),
                "vmNativeMemory", new Object[] {new String[] {"summary"}}, new String[] {String[].class.getName()});
        Matcher m = OTHER.matcher(summary);
        if (!m.find()) throw new IllegalStateException("no 'Other' line in the NMT summary: is -XX:NativeMemoryTracking=summary set?\n" + summary);
        return Long.parseLong(m.group(2)) * 1024;
    }

    /** Resident set size from /proc/self/status, or -1. */
    static long rss() throws IOException {
        Path status = Path.of("/proc/self/status");
        if (!Files.isReadable(status)) return -1;
        for (String line : Files.readAllLines(status)) {
            if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
        }
        return -1;
    }
}
