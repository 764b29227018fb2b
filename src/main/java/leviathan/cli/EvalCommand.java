package leviathan.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Locale;
import java.util.concurrent.Callable;
import java.util.function.LongBinaryOperator;
import leviathan.api.LanguageModel;
import leviathan.backend.Backend;
import leviathan.backend.Engine;
import leviathan.backend.Precision;
import leviathan.data.Datasets;
import leviathan.data.TextDataset;
import leviathan.data.TokenFile;
import leviathan.data.TokenFiles;
import leviathan.data.Tokens;
import leviathan.model.Checkpoint;
import leviathan.model.Workspace;
import leviathan.train.Evaluator;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code leviathan eval}: loss and bits per character of a checkpoint on a text. */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Evaluate a checkpoint on a dataset split or a text file (non-overlapping block_size windows).",
                "A token file, or a text over 64 MiB, is memory-mapped (prepared into the cache on first use); on it",
                "a split with more windows than --eval-batches batches hold is sampled unless --full is given."})
final class EvalCommand implements Callable<Integer>, PartFlags.Taker {
    @Override public boolean buildsModels() { return false; }

    /** Texts above this many bytes are evaluated from a token file rather than read into memory. */
    static final long MAP_ABOVE_BYTES = 64L << 20;
    /** Windows per forward pass on the mapped path. */
    static final int BATCH = 16;

    @Option(names = "--checkpoint", required = true, paramLabel = "FILE", description = "A model.safetensors written by train.")
    Path checkpoint;
    @Option(names = "--data", paramLabel = "NAME|FILE", description = "Dataset name, text file or token file (default: ${DEFAULT-VALUE}).")
    String data = "tinyshakespeare";
    @Option(names = "--split", paramLabel = "train|val|all", description = "Part of the text (default: val for a named dataset, all for a file).")
    String split;
    @Option(names = "--block-size", description = "Window length T (default: the model's block_size).")
    Integer blockSize;
    @Option(names = "--drop-unknown", description = "Drop characters outside the vocabulary instead of failing.")
    boolean dropUnknown;
    @Option(names = "--full", description = "Score every window of a mapped split (with a progress line), never a sample.")
    boolean full;
    @Option(names = "--eval-batches", description = "On a mapped split: batches of " + BATCH + " random windows to score when not --full (default: ${DEFAULT-VALUE}).")
    int evalBatches = 100;
    @Option(names = "--seed", description = "Seed of the sampled windows (default: ${DEFAULT-VALUE}).")
    long seed = 1337;
    @Mixin
    EngineOptions engine;
    @Mixin
    VerboseOption verbose;

    @Override
    public Integer call() throws Exception {
        if (blockSize != null && blockSize < 1) throw new IllegalArgumentException("--block-size must be >= 1, got " + blockSize);
        if (evalBatches < 1) throw new IllegalArgumentException("--eval-batches must be >= 1, got " + evalBatches);
        TextDataset.Split s = split != null ? TextDataset.Split.parse(split)
                : Datasets.isNamed(data) ? TextDataset.Split.VAL : TextDataset.Split.ALL;
        Path file = Datasets.resolve(data, Datasets.home(), System.err::println);
        if (TokenFile.claimsTokenFile(file) || Files.size(file) > MAP_ABOVE_BYTES) return evaluateMapped(file, s);
        String text = TextDataset.readUtf8(file);
        try (LanguageModel lm = LanguageModel.load(checkpoint, engine.settings(System.err::println))) {
            var r = lm.evaluate(text, s, blockSize == null ? 0 : blockSize, dropUnknown);
            if (!Double.isFinite(r.loss())) {                    // finite weights can still overflow the forward pass
                throw new IllegalStateException(checkpoint + " gives loss " + r.loss() + " on " + file.getFileName()
                        + ", not a finite number: its weights overflow the forward pass (a diverged run?); evaluate an earlier checkpoint");
            }
            System.out.printf("%s split=%s windows of %d: loss %.4f nats, bpc %.4f over %,d predictions%n",
                    file.getFileName(), s.name().toLowerCase(Locale.ROOT),
                    blockSize == null ? lm.config().blockSize() : blockSize, r.loss(), r.bpc(), r.predictions());
        }
        return 0;
    }

    /** The corpus read in place from a token file: every window with --full (or when few), else a sample. */
    private int evaluateMapped(Path file, TextDataset.Split s) throws Exception {
        LanguageModel.Settings settings = engine.settings(System.err::println);
        // the kernels run on the engine's threads (--threads), as they do for a LanguageModel
        try (Engine eng = new Engine(settings.threads(), settings.backend(), Precision.fromSystem(), settings.log());
             Checkpoint.Loaded l = Checkpoint.load(checkpoint)) {
            return eng.call(() -> score(eng, l, file, s, settings));
        }
    }

    /** {@link #evaluateMapped} inside its engine. */
    private int score(Engine eng, Checkpoint.Loaded l, Path file, TextDataset.Split s, LanguageModel.Settings settings) throws IOException {
        int T = blockSize == null ? l.model().config().blockSize() : blockSize;
        if (T > l.model().config().blockSize()) {
            throw new IllegalArgumentException("window length must be in [1, block_size " + l.model().config().blockSize() + "], got " + T);
        }
        Backend be = eng.backend();                                              // closed with the engine
        try (TokenFile tf = TokenFiles.openOrPrepare(file, l.tokenizer(), dropUnknown, System.err::println);
             Workspace ws = l.model().workspace(be, BATCH, T, false, new leviathan.nn.RunOptions(settings.partOptions()))) {
            Tokens tokens = tf.tokens(s, l.tokenizer());
            long windows = Evaluator.windows(tokens.length(), T);
            boolean sample = !full && windows > (long) evalBatches * BATCH;
            LongBinaryOperator progress = progressLine(sample ? "sampled windows" : "windows");
            Evaluator.Result r = sample ? Evaluator.evaluateSample(l.model(), ws, tokens, T, evalBatches, seed, progress)
                    : Evaluator.evaluate(l.model(), ws, tokens, T, progress);
            if (!Double.isFinite(r.loss())) {
                throw new IllegalStateException(checkpoint + " gives loss " + r.loss() + " on " + file.getFileName()
                        + ", not a finite number: its weights overflow the forward pass (a diverged run?); evaluate an earlier checkpoint");
            }
            System.out.printf("%s split=%s windows of %d: loss %.4f nats, bpc %.4f over %,d predictions%s%n",
                    file.getFileName(), s.name().toLowerCase(Locale.ROOT), T, r.loss(), r.bpc(), r.predictions(),
                    sample ? String.format(" (%,d random windows of %,d; --full scores every one)", (long) evalBatches * BATCH, windows) : "");
        }
        return 0;
    }

    /** A progress line on a terminal (nothing otherwise): windows scored of all, rewritten at most 5 times a second. */
    private static LongBinaryOperator progressLine(String what) {
        if (System.console() == null) return Evaluator.NO_PROGRESS;
        long[] last = {0};
        return (done, total) -> {
            long now = System.nanoTime();
            if (done == total || now - last[0] > 200_000_000L) {
                last[0] = now;
                System.err.printf("\r\033[Keval: %,d / %,d %s (%.0f%%)%s", done, total, what, 100.0 * done / total, done == total ? "\n" : "");
                System.err.flush();
            }
            return 0;
        };
    }
}
