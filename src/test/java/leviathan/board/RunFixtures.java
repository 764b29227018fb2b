package leviathan.board;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;
import leviathan.data.CharTokenizer;
import leviathan.model.Checkpoint;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.train.RunDirectory;
import leviathan.train.TrainConfig;

/** Run directories for the board's tests, written as train writes them (config.json, metrics.jsonl rows, model.safetensors). */
final class RunFixtures {
    private RunFixtures() {}

    static final String TEXT = "the quick brown fox jumps over the lazy dog\n";

    /** The config of a tiny run of {@code steps} steps with the given mixer and MLP. */
    static TrainConfig config(String attention, String mlp, int steps) {
        TrainConfig.Builder b = TrainConfig.builder().attention(attention).mlp(mlp).nLayer(2).nHead(2).nEmbd(16).blockSize(16)
                .steps(steps).evalInterval(50).logInterval(10);
        if (attention.equals("correlation")) b.option("lags", 3);
        if (mlp.equals("moe")) b.option("n_expert", 3);
        return b.build();
    }

    /** A run directory {@code name} under {@code parent} with its config and nothing else yet. */
    static Path run(Path parent, String name, TrainConfig cfg) throws IOException {
        Path dir = Files.createDirectories(parent.resolve(name));
        Files.writeString(dir.resolve(RunDirectory.CONFIG_FILE), cfg.withOut(dir.toString()).toJson(), StandardCharsets.UTF_8);
        return dir;
    }

    /** Training loss at {@code step} of a made-up curve that falls from about 4.2 towards 1.5. */
    static double loss(int step, int seed) { return 1.5 + 2.7 * Math.exp(-step / (300.0 + 40 * seed)) + 0.02 * Math.sin(step * 0.7 + seed); }

    /** The training row of {@code step}, as Reporter writes it; with {@code experts} > 0, the expert loads of two layers. */
    static String trainRow(int step, int seed, int experts) {
        StringBuilder sb = new StringBuilder(String.format(Locale.ROOT, "{\"step\":%d,\"lr\":%.6g,\"train_loss\":%.6f,\"tokens_per_s\":%.1f,\"elapsed_s\":%.3f",
                step, 1e-3, loss(step, seed), 5000.0 + seed, step * 0.05));
        for (int l = 0; l < 2 && experts > 0; l++) {
            for (int e = 0; e < experts; e++) sb.append(String.format(Locale.ROOT, ",\"h.%d.mlp.load.%d\":%.6f", l, e, (e + 1.0) / (experts * (experts + 1) / 2.0)));
        }
        return sb.append("}\n").toString();
    }

    /** The evaluation row of {@code step}, as Reporter writes it. */
    static String evalRow(int step, int seed) {
        double v = loss(step, seed) + 0.05;
        return String.format(Locale.ROOT, "{\"step\":%d,\"lr\":%.6g,\"eval_train_loss\":%.6f,\"val_loss\":%.6f,\"val_bpc\":%.6f,\"tokens_per_s\":%.1f,\"train_s\":%.3f,\"elapsed_s\":%.3f}\n",
                step, 1e-3, loss(step, seed), v, v / Math.log(2), 5000.0 + seed, step * 0.04, step * 0.05);
    }

    /** Appends the rows of steps (from, to], a training row every {@code every} steps and an eval row every 50. */
    static void appendSteps(Path dir, int from, int to, int every, int seed, int experts) throws IOException {
        StringBuilder sb = new StringBuilder();
        for (int s = from + 1; s <= to; s++) {
            if (s % every == 0) sb.append(trainRow(s, seed, experts));
            if (s % 50 == 0) sb.append(evalRow(s, seed));
        }
        append(dir, sb.toString());
    }

    static void append(Path dir, String text) throws IOException {
        Files.writeString(dir.resolve(RunDirectory.METRICS_FILE), text, StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND);
    }

    /** A real model.safetensors of {@code cfg}'s model whose layer-{@code l} lag bias is {@code 0.1·(l+1)·(h - n)} (correlation). */
    static void model(Path dir, TrainConfig cfg) throws IOException {
        CharTokenizer tok = CharTokenizer.fromText(TEXT);
        GptConfig g = cfg.model().toGptConfig(tok.vocabSize());
        try (Gpt m = Gpt.init(g, 7)) {
            for (int l = 0; l < g.nLayer(); l++) {
                String name = "h." + l + ".attn.lag_bias";
                if (!m.params().has(name)) continue;
                var t = m.params().get(name);
                for (int h = 0; h < t.shape()[0]; h++) for (int n = 0; n < t.shape()[1]; n++) t.set(lagBias(l, h, n), h, n);
            }
            Checkpoint.save(dir.resolve(RunDirectory.MODEL_FILE), m, tok, null);
        }
    }

    static float lagBias(int layer, int head, int lag) { return 0.1f * (layer + 1) * (head - lag); }
}
