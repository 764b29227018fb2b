package leviathan.cli;

import java.nio.file.Path;
import java.util.concurrent.Callable;
import leviathan.api.LanguageModel;
import leviathan.data.Datasets;
import leviathan.data.TextDataset;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code leviathan eval}: loss and bits per character of a checkpoint on a text. */
@Command(name = "eval", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Evaluate a checkpoint on a dataset split or a text file (non-overlapping block_size windows).")
final class EvalCommand implements Callable<Integer> {
    @Option(names = "--checkpoint", required = true, paramLabel = "FILE", description = "A model.safetensors written by train.")
    Path checkpoint;
    @Option(names = "--data", paramLabel = "NAME|FILE", description = "Dataset name or text file (default: ${DEFAULT-VALUE}).")
    String data = "tinyshakespeare";
    @Option(names = "--split", paramLabel = "train|val|all", description = "Part of the text (default: val for a named dataset, all for a file).")
    String split;
    @Option(names = "--block-size", description = "Window length T (default: the model's block_size).")
    Integer blockSize;
    @Option(names = "--drop-unknown", description = "Drop characters outside the vocabulary instead of failing.")
    boolean dropUnknown;
    @Option(names = "--backend", paramLabel = "auto|java|onednn", description = "GEMM backend (default: ${DEFAULT-VALUE}).")
    String backend = "auto";
    @Option(names = "--threads", description = "Kernel threads, 0 = all cores (default: ${DEFAULT-VALUE}).")
    int threads = 0;
    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    @Override
    public Integer call() throws Exception {
        if (blockSize != null && blockSize < 1) throw new IllegalArgumentException("--block-size must be >= 1, got " + blockSize);
        TextDataset.Split s = split != null ? TextDataset.Split.parse(split)
                : Datasets.isNamed(data) ? TextDataset.Split.VAL : TextDataset.Split.ALL;
        Options.threads(threads);
        Path file = Datasets.resolve(data, Datasets.home(), System.err::println);
        String text = TextDataset.readUtf8(file);
        try (LanguageModel lm = LanguageModel.load(checkpoint, new LanguageModel.Settings(backend, threads, System.err::println))) {
            var r = lm.evaluate(text, s, blockSize == null ? 0 : blockSize, dropUnknown);
            if (!Double.isFinite(r.loss())) {                    // finite weights can still overflow the forward pass
                throw new IllegalStateException(checkpoint + " gives loss " + r.loss() + " on " + file.getFileName()
                        + ", not a finite number: its weights overflow the forward pass (a diverged run?); evaluate an earlier checkpoint");
            }
            System.out.printf("%s split=%s windows of %d: loss %.4f nats, bpc %.4f over %,d predictions%n",
                    file.getFileName(), s.name().toLowerCase(java.util.Locale.ROOT),
                    blockSize == null ? lm.config().blockSize() : blockSize, r.loss(), r.bpc(), r.predictions());
        }
        return 0;
    }
}
