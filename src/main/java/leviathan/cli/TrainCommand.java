package leviathan.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import leviathan.kernel.Parallel;
import leviathan.model.GptConfig;
import leviathan.model.MemoryEstimate;
import leviathan.model.SafeTensors;
import leviathan.tensor.FileKind;
import leviathan.train.Optimizer;
import leviathan.train.TrainConfig;
import leviathan.train.Trainer;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code leviathan train}: trains a model (defaults: the char-Shakespeare recipe) and samples from it. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train a model. With no options: Leviathan (correlation attention, 4 lags) on Tiny Shakespeare,",
                "2000 steps, then a sample. Each run writes config.json, metrics.jsonl and checkpoints to its directory."})
final class TrainCommand implements Callable<Integer> {
    private static final TrainConfig D = TrainConfig.defaults();
    /** The only options that combine with --resume: the run's config.json fixes everything else. */
    private static final java.util.Set<String> RESUME_OPTIONS = java.util.Set.of("--resume", "--steps", "--stop-after", "--verbose");

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = "--data", paramLabel = "NAME|FILE", description = "Dataset name from data/datasets.tsv or a UTF-8 text file (default: ${DEFAULT-VALUE}).")
    String data = D.data();
    @Option(names = "--out", paramLabel = "DIR", description = "Run directory (default: runs/<time>-<attention>).")
    Path out;
    @Option(names = "--resume", paramLabel = "DIR", description = "Continue the run in DIR from its last checkpoint (its config.json applies; --steps may extend it).")
    Path resume;
    @Option(names = "--init-from", paramLabel = "FILE", description = "Start from a checkpoint's weights and vocabulary (fine-tuning).")
    Path initFrom;
    @Option(names = "--drop-unknown", description = "Skip characters outside the vocabulary instead of failing (with --init-from).")
    boolean dropUnknown;

    @Option(names = "--attention", paramLabel = "correlation|dot", description = "Attention kind (default: ${DEFAULT-VALUE}).")
    String attention = D.attention().id();
    @Option(names = "--lags", description = "Lags per head, 1..head dim (default: ${DEFAULT-VALUE}).")
    int lags = D.lags();
    @Option(names = "--n-layer", description = "Blocks (default: ${DEFAULT-VALUE}).")
    int nLayer = D.nLayer();
    @Option(names = "--n-head", description = "Heads (default: ${DEFAULT-VALUE}).")
    int nHead = D.nHead();
    @Option(names = "--n-embd", description = "Embedding width, a multiple of n_head (default: ${DEFAULT-VALUE}).")
    int nEmbd = D.nEmbd();
    @Option(names = "--block-size", description = "Context length (default: ${DEFAULT-VALUE}).")
    int blockSize = D.blockSize();

    @Option(names = "--batch-size", description = "Sequences per micro-batch (default: ${DEFAULT-VALUE}).")
    int batchSize = D.batchSize();
    @Option(names = "--accum", description = "Micro-batches per step (gradient accumulation) (default: ${DEFAULT-VALUE}).")
    int accum = D.accum();
    @Option(names = "--steps", description = "Optimizer steps (default: ${DEFAULT-VALUE}).")
    Integer steps;
    @Option(names = "--lr", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    float lr = D.lr();
    @Option(names = "--min-lr", description = "Learning rate at the end of the cosine (default: ${DEFAULT-VALUE}).")
    float minLr = D.minLr();
    @Option(names = "--warmup", description = "Linear warmup steps (default: ${DEFAULT-VALUE}).")
    int warmup = D.warmup();
    @Option(names = "--optimizer", paramLabel = "adamw|sgd", description = "Optimizer (default: adamw).")
    String optimizer = "adamw";
    @Option(names = "--beta1", description = "AdamW beta1 (default: ${DEFAULT-VALUE}).")
    float beta1 = D.beta1();
    @Option(names = "--beta2", description = "AdamW beta2 (default: ${DEFAULT-VALUE}).")
    float beta2 = D.beta2();
    @Option(names = "--weight-decay", description = "Decoupled weight decay on 2-D weights (default: ${DEFAULT-VALUE}).")
    float weightDecay = D.weightDecay();
    @Option(names = "--clip", description = "Global gradient-norm clip, 0 = off (default: ${DEFAULT-VALUE}).")
    float clip = D.clip();

    @Option(names = "--eval-interval", description = "Steps between evaluations and checkpoints (default: ${DEFAULT-VALUE}).")
    int evalInterval = D.evalInterval();
    @Option(names = "--eval-batches", description = "Batches per split per evaluation (default: ${DEFAULT-VALUE}).")
    int evalBatches = D.evalBatches();
    @Option(names = "--log-interval", description = "Steps between log lines when output is not a terminal (default: ${DEFAULT-VALUE}).")
    int logInterval = D.logInterval();
    @Option(names = "--sample-tokens", description = "Characters sampled at the end, 0 = none (default: ${DEFAULT-VALUE}).")
    int sampleTokens = D.sampleTokens();
    @Option(names = "--seed", description = "Seed of every random source (default: ${DEFAULT-VALUE}).")
    long seed = D.seed();
    @Option(names = "--threads", description = "Kernel threads, 0 = all cores (default: ${DEFAULT-VALUE}).")
    int threads = D.threads();
    @Option(names = "--backend", paramLabel = "auto|java|onednn", description = "GEMM backend (default: ${DEFAULT-VALUE}).")
    String backend = D.backend();
    @Option(names = "--impl", paramLabel = "auto|scalar|direct|gemm|fft", description = "Correlation implementation (default: ${DEFAULT-VALUE}).")
    String impl = D.impl();
    @Option(names = "--nan-policy", paramLabel = "stop|skip", description = "On a non-finite loss or gradient: stop (default) or skip the step.")
    String nanPolicy = "stop";
    @Option(names = "--lag-bias-init", paramLabel = "X", description = "Initial lag bias of lag 0 (others 0); > 0 starts close to dot attention (default: 0, the spec's).")
    float lagBiasInit = 0f;
    @Option(names = "--stop-after", paramLabel = "STEP", description = "Pause after this many steps (checkpoint saved); continue later with --resume.")
    Integer stopAfter;
    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    @Override
    public Integer call() throws Exception {
        Trainer trainer = new Trainer(System.out::println, System.out);
        if (stopAfter != null) trainer.stopAfter(stopAfter);
        // --steps 0 would train nothing and name a model file it never wrote; eval scores a checkpoint
        if (steps != null && steps == 0) {
            throw new IllegalArgumentException("--steps must be >= 1, got 0 (to score a checkpoint without training, use leviathan eval)");
        }
        if (resume != null) {
            for (var o : spec.commandLine().getParseResult().matchedOptions()) {
                if (!RESUME_OPTIONS.contains(o.longestName())) {
                    throw new IllegalArgumentException(o.longestName() + " cannot be combined with --resume: a resumed run keeps its config.json"
                            + " (only --steps and --stop-after may change); start a new run with --init-from to change it");
                }
            }
            return finish(saving(resume, () -> trainer.resume(resume, steps == null ? 0 : steps)));
        }
        if (out != null) checkOut(out);
        Options.threads(threads);
        TrainConfig cfg = new TrainConfig(data, out == null ? null : out.toString(), initFrom == null ? null : initFrom.toString(),
                dropUnknown, nLayer, nHead, nEmbd, blockSize, GptConfig.Attention.parse(attention),
                lags, batchSize, accum, steps == null ? D.steps() : steps, lr, minLr, warmup, Optimizer.Kind.parse(optimizer),
                beta1, beta2, D.eps(), weightDecay, clip, evalInterval, evalBatches, logInterval, sampleTokens, seed, threads,
                backend, Options.impl(impl), Options.nanPolicy(nanPolicy), lagBiasInit);
        // the model config is validated up front, before any data is read, and so is its memory: the
        // estimate with a one-character vocabulary is a lower bound, so this never refuses a run that fits
        if (initFrom == null) {
            GptConfig lowerBound = new GptConfig(1, blockSize, nLayer, nHead, nEmbd, cfg.attention(), lags);
            if (threads > 0) Parallel.setThreads(threads);           // the estimate counts per-thread scratch
            MemoryEstimate.require(lowerBound, batchSize, blockSize, true,
                    "use a smaller --batch-size (with --accum to keep the tokens per step), --block-size, --n-embd or --n-layer");
        }
        return finish(saving(out, () -> trainer.train(cfg)));
    }

    /** The exit status of a run that returned: non-zero, with one line, when its final loss is not finite. */
    private static int finish(Trainer.Result r) {
        if (!Double.isFinite(r.valLoss())) {
            throw new IllegalStateException("the run ended at step " + r.steps() + " with val loss " + r.valLoss()
                    + ", not a finite number: the model diverged" + (r.skippedSteps() > 0 ? " (" + r.skippedSteps() + " steps skipped)" : "")
                    + "; lower --lr or raise --warmup, and see metrics.jsonl in " + r.runDir());
        }
        return 0;
    }

    /** A training call; its IOExceptions are passed through, with a save that failed explained. */
    private interface Run {
        Trainer.Result run() throws IOException;
    }

    private static Trainer.Result saving(Path runDir, Run run) throws IOException {
        try {
            return run.run();
        } catch (java.nio.file.FileSystemException e) {
            // creating the run directory (or a parent) failed: say it is --out, not just the path
            if (runDir == null || e.getFile() == null) throw e;
            Path failed = Path.of(e.getFile()).toAbsolutePath().normalize();
            if (!runDir.toAbsolutePath().normalize().startsWith(failed)) throw e;
            throw new IOException("run directory " + runDir + " cannot be created: " + Main.describe(e), e);
        } catch (SafeTensors.WriteException e) {
            // the run directory holds a resumable state only once a checkpoint was saved whole
            Path dir = e.file().toAbsolutePath().getParent();
            boolean resumable = dir != null && Files.isRegularFile(dir.resolve(Trainer.STATE_FILE));
            throw new IOException(e.getMessage() + (e.previousKept() ? "; the previous " + e.file().getFileName() + " is intact" : "") + (resumable
                    ? "; once there is room, continue from the last saved checkpoint with: leviathan train --resume " + dir
                    : "; the run saved no checkpoint yet: start it again once there is room"), e);
        }
    }

    /** Refuses an {@code --out} that cannot become a run directory, saying what is in the way. */
    static void checkOut(Path out) {
        if (out.toString().isBlank()) throw new IllegalArgumentException("--out is empty: give the run directory to create (or omit --out for runs/<time>-<attention>)");
        Path abs = out.toAbsolutePath().normalize();
        if (Files.isDirectory(abs)) {
            if (!Files.isWritable(abs)) throw new IllegalArgumentException("--out " + out + " is a directory this user cannot write to");
            return;
        }
        String kind = FileKind.notRegular(abs);
        if (kind == null) throw new IllegalArgumentException("--out " + out + " is an existing file, not a directory: choose a new directory name");
        if (!kind.equals("does not exist")) throw new IllegalArgumentException("--out " + out + " " + kind + ": choose a new directory name");
        Path parent = abs.getParent();                           // the nearest existing ancestor must be a writable directory
        while (parent != null && !Files.exists(parent, LinkOption.NOFOLLOW_LINKS)) parent = parent.getParent();
        if (parent == null) return;
        if (!Files.isDirectory(parent)) {
            String pk = FileKind.notRegular(parent);
            throw new IllegalArgumentException("--out " + out + " cannot be created: " + parent + " " + (pk == null ? "is a file" : pk)
                    + ", not a directory");
        }
        if (!Files.isWritable(parent)) {
            throw new IllegalArgumentException("--out " + out + " cannot be created: " + parent + " is not writable by this user"
                    + (isReadOnly(parent) ? " (read-only file system)" : ""));
        }
    }

    private static boolean isReadOnly(Path p) {
        try {
            return Files.getFileStore(p).isReadOnly();
        } catch (IOException e) {
            return false;
        }
    }
}
