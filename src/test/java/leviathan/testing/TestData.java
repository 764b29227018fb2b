package leviathan.testing;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.SplittableRandom;
import leviathan.model.GptConfig;
import leviathan.train.Optimizer;
import leviathan.train.TrainConfig;
import org.junit.jupiter.api.Assumptions;

/** Small generated texts and configs for tests (the real dataset is never needed). */
public final class TestData {
    private TestData() {}

    /** A text of about {@code n} characters: words from a small list, with lines and punctuation. */
    public static String text(int n, long seed) {
        String[] words = {"the", "king", "queen", "lord", "is", "of", "my", "and", "shall", "thou", "not", "to", "be", "good"};
        SplittableRandom r = new SplittableRandom(seed);
        StringBuilder sb = new StringBuilder();
        while (sb.length() < n) {
            sb.append(words[r.nextInt(words.length)]);
            int p = r.nextInt(10);
            sb.append(p == 0 ? ",\n" : p == 1 ? ".\n" : " ");
        }
        return sb.substring(0, n);
    }

    public static Path writeText(Path dir, String text) throws IOException {
        Path f = dir.resolve("text.txt");
        Files.writeString(f, text);
        return f;
    }

    /**
     * Makes a FIFO (named pipe) at {@code path} with {@code mkfifo}; the calling test is skipped where
     * that is not possible (no mkfifo, not a POSIX system). Opening it for reading would block.
     */
    public static Path fifo(Path path) throws IOException, InterruptedException {
        boolean made;
        try {
            made = new ProcessBuilder("mkfifo", path.toString()).redirectErrorStream(true).start().waitFor() == 0;
        } catch (IOException e) {
            made = false;
        }
        Assumptions.assumeTrue(made, "mkfifo is not available here: cannot make a FIFO");
        return path;
    }

    /** A tiny training config over {@code data}: 2 layers, n_embd 16, block 16, batch 4. */
    public static TrainConfig tinyTrain(Path data, Path out, String attention, int steps, int evalInterval) {
        return tinyBuilder(data, out, attention, steps, evalInterval).build();
    }

    /** {@link #tinyTrain}'s values in a builder, to change a few by name. */
    public static TrainConfig.Builder tinyBuilder(Path data, Path out, String attention, int steps, int evalInterval) {
        return TrainConfig.builder().data(data.toString()).out(out.toString()).nLayer(2).nHead(2).nEmbd(16).blockSize(16)
                .attention(attention).option("lags", 3).batchSize(4).accum(1).steps(steps).lr(3e-3f).minLr(3e-4f).warmup(5)
                .optimizer(Optimizer.Kind.ADAMW).beta1(0.9f).beta2(0.99f).eps(1e-8f).weightDecay(0.1f).clip(1.0f)
                .evalInterval(evalInterval).evalBatches(2).logInterval(10).sampleTokens(20).seed(1337).threads(1).backend("java")
                .option("impl", "auto").nanPolicy(TrainConfig.NanPolicy.STOP);
    }
}
