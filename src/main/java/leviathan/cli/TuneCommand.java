package leviathan.cli;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import leviathan.backend.Backend;
import leviathan.backend.Backends;
import leviathan.backend.Tuning;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.model.Workspace;
import leviathan.train.TrainConfig;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/**
 * {@code leviathan tune}: forgets this machine's cached kernel choices ({@link Tuning}), times
 * them again on training steps of the default recipe's model, its dot-product and 8-lag variants
 * (and the same three at the nanoGPT size with {@code --nanogpt}), with no time budget, and
 * prints the table.
 */
@Command(name = "tune", mixinStandardHelpOptions = true,
        description = "Time the kernel choices (GEMM engine, threads and tile; correlation implementation and tile) on this machine, "
                + "cache them and print the table.")
final class TuneCommand implements Callable<Integer> {

    @Option(names = "--nanogpt", description = "Also tune the nanoGPT-sized model (6 layers, 6 heads, n_embd 384, block 256, batch 12), with the default attention, with dot and with 8 lags.")
    boolean nanogpt;

    @Override
    public Integer call() {
        if (!Tuning.enabledBySystem()) throw new IllegalArgumentException("tuning is off (-D" + Tuning.PROPERTY + "=false or " + Tuning.ENV + "=false): nothing to time");
        Tuning tuning = Tuning.global(System.err::println);
        tuning.forget();
        tuning.unbounded();
        TrainConfig d = TrainConfig.defaults();
        Map<String, GptConfig> models = models(d, nanogpt);
        long t0 = System.nanoTime();
        try (Backend b = Backends.select(null, System.err::println)) {
            for (var m : models.entrySet()) {
                int B = m.getKey().startsWith("nanoGPT") ? 12 : d.schedule().batchSize(), T = m.getValue().blockSize();
                System.err.println("tuning on " + m.getValue().describe() + " (" + m.getKey() + ")");
                try (Gpt g = Gpt.init(m.getValue(), 1); Workspace ws = g.workspace(b, B, T, true)) {
                    for (int step = 0; step <= Tuning.WARM_CALLS; step++) {      // every choice is made at its WARM_CALLS-th use
                        g.forward(ws, B, T, true);
                        g.zeroGrad();
                        g.backward(ws, B, T, 1f);
                    }
                }
            }
        }
        System.out.printf("machine   %s%n", tuning.key().describe());
        System.out.printf("cache     %s%n", tuning.summary());
        System.out.printf("took      %.1f s (training steps included)%n", (System.nanoTime() - t0) / 1e9);
        for (String line : tuning.table()) System.out.println(line);
        return 0;
    }

    /**
     * The models whose training steps are timed: the default recipe's, with the attention shapes of the
     * other common mixers (dot product and 8 lags; their GEMM shapes are the default's), and with
     * {@code nanogpt} the same three at the nanoGPT size. A key starting "nanoGPT" runs at batch 12.
     */
    static Map<String, GptConfig> models(TrainConfig d, boolean nanogpt) {
        Map<String, GptConfig> models = new LinkedHashMap<>();
        GptConfig base = d.model().toGptConfig(65);                     // Tiny Shakespeare's vocabulary
        models.put("default recipe, batch " + d.schedule().batchSize(), base);
        models.put("default recipe, dot, batch " + d.schedule().batchSize(),
                GptConfig.of(65, base.blockSize(), base.nLayer(), base.nHead(), base.nEmbd(), "dot", 1));
        models.put("default recipe, 8 lags, batch " + d.schedule().batchSize(),
                GptConfig.of(65, base.blockSize(), base.nLayer(), base.nHead(), base.nEmbd(), "correlation", 8));
        if (nanogpt) {
            models.put("nanoGPT size, batch 12", new GptConfig(65, 256, 6, 6, 384, base.mixer(0), base.mlp()));
            models.put("nanoGPT size, dot, batch 12", GptConfig.of(65, 256, 6, 6, 384, "dot", 1));
            models.put("nanoGPT size, 8 lags, batch 12", GptConfig.of(65, 256, 6, 6, 384, "correlation", 8));
        }
        return models;
    }
}
