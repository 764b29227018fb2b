package leviathan.cli;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.concurrent.Callable;
import leviathan.api.LanguageModel;
import leviathan.kernel.Parallel;
import leviathan.model.Checkpoint;
import leviathan.model.GptConfig;
import leviathan.model.MemoryEstimate;
import leviathan.nn.PartType;
import leviathan.model.SafeTensors;
import leviathan.tensor.FileKind;
import leviathan.train.Optimizer;
import leviathan.train.RunDirectory;
import leviathan.train.TrainConfig;
import leviathan.train.Trainer;
import leviathan.train.TrainingResult;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code leviathan train}: trains a model (defaults: the char-Shakespeare recipe) and samples from it. */
@Command(name = "train", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Train a model. With no options: Leviathan (correlation attention, 4 lags) on Tiny Shakespeare,",
                "2000 steps, then a sample. Each run writes config.json, metrics.jsonl and checkpoints to its directory."})
final class TrainCommand implements Callable<Integer>, PartFlags.Taker {
    @Override public boolean buildsModels() { return true; }

    private static final TrainConfig D = TrainConfig.defaults();
    /** The only options that combine with --resume: the run's config.json fixes everything else. */
    private static final java.util.Set<String> RESUME_OPTIONS = java.util.Set.of("--resume", "--steps", "--stop-after", "--verbose");

    @picocli.CommandLine.Spec
    picocli.CommandLine.Model.CommandSpec spec;

    @Option(names = Recipes.OPTION, paramLabel = "NAME", completionCandidates = Recipes.Names.class,
            description = "A named recipe (${COMPLETION-CANDIDATES}): its flags, printed at the start, are added to the command; a flag given beside it wins, and --steps replaces its --time. The flags and their measurements: docs/speedrun.md.")
    String recipe;
    @Option(names = "--data", paramLabel = "NAME|FILE", description = "Dataset name from data/datasets.tsv or a UTF-8 text file (default: ${DEFAULT-VALUE}).")
    String data = D.run().data();
    @Option(names = "--out", paramLabel = "DIR", description = "Run directory (default: runs/<time>-<attention>).")
    Path out;
    @Option(names = "--overwrite", description = "Let the new run replace an earlier run in --out (its checkpoints, config and metrics); a directory holding other files is never used.")
    boolean overwrite;
    @Option(names = "--resume", paramLabel = "DIR", description = "Continue the run in DIR from its last checkpoint (its config.json applies; --steps may extend it).")
    Path resume;
    @Option(names = "--init-from", paramLabel = "FILE", description = "Start from a checkpoint's weights and vocabulary (fine-tuning).")
    Path initFrom;
    @Option(names = "--drop-unknown", description = "Skip characters outside the vocabulary instead of failing (with --init-from).")
    boolean dropUnknown;

    @Option(names = "--model-option", paramLabel = "KEY=VALUE", description = "An option of a model part, e.g. lags=4 (repeatable; unknown keys are refused).")
    Map<String, String> modelOptions = new LinkedHashMap<>();
    @Option(names = "--n-layer", description = "Blocks (default: ${DEFAULT-VALUE}).")
    int nLayer = D.model().nLayer();
    @Option(names = "--n-head", description = "Heads (default: ${DEFAULT-VALUE}).")
    int nHead = D.model().nHead();
    @Option(names = "--n-embd", description = "Embedding width, a multiple of n_head (default: ${DEFAULT-VALUE}).")
    int nEmbd = D.model().nEmbd();
    @Option(names = "--block-size", description = "Context length (default: ${DEFAULT-VALUE}).")
    int blockSize = D.model().blockSize();

    @Option(names = "--batch-size", description = "Sequences per micro-batch (default: ${DEFAULT-VALUE}).")
    int batchSize = D.schedule().batchSize();
    @Option(names = "--accum", description = "Micro-batches per step (gradient accumulation) (default: ${DEFAULT-VALUE}).")
    int accum = D.schedule().accum();
    @Option(names = "--steps", description = "Optimizer steps; with --resume, the new total (default: ${DEFAULT-VALUE}).")
    int steps = D.schedule().steps();
    @Option(names = "--time", paramLabel = "DURATION", description = "A wall-clock budget instead of --steps (90s, 10m, 1h): the run measures its speed during the --warmup steps, fixes the steps that fit, evaluations included, and records them in config.json.")
    String time;
    @Option(names = "--lr", description = "Peak learning rate (default: ${DEFAULT-VALUE}).")
    float lr = D.schedule().lr();
    @Option(names = "--min-lr", description = "Learning rate at the end of the cosine (default: ${DEFAULT-VALUE}).")
    float minLr = D.schedule().minLr();
    @Option(names = "--warmup", description = "Linear warmup steps (default: ${DEFAULT-VALUE}).")
    int warmup = D.schedule().warmup();
    @Option(names = "--optimizer", paramLabel = "adamw|sgd", description = "Optimizer (default: adamw).")
    String optimizer = "adamw";
    @Option(names = "--beta1", description = "AdamW beta1 (default: ${DEFAULT-VALUE}).")
    float beta1 = D.optimizer().beta1();
    @Option(names = "--beta2", description = "AdamW beta2 (default: ${DEFAULT-VALUE}).")
    float beta2 = D.optimizer().beta2();
    @Option(names = "--weight-decay", description = "Decoupled weight decay on 2-D weights (default: ${DEFAULT-VALUE}).")
    float weightDecay = D.optimizer().weightDecay();
    @Option(names = "--dropout", paramLabel = "P", description = "Dropout probability in training forward passes, 0 = off: the embedding sum, the mixers' weights and each residual branch's output (LEVIATHAN.md) (default: ${DEFAULT-VALUE}).")
    float dropout = D.optimizer().dropout();
    @Option(names = "--clip", description = "Global gradient-norm clip, 0 = off (default: ${DEFAULT-VALUE}).")
    float clip = D.optimizer().clip();

    @Option(names = "--eval-interval", description = "Steps between evaluations and checkpoints (default: ${DEFAULT-VALUE}).")
    int evalInterval = D.run().evalInterval();
    @Option(names = "--eval-batches", description = "Batches per split per evaluation (default: ${DEFAULT-VALUE}).")
    int evalBatches = D.run().evalBatches();
    @Option(names = "--log-interval", description = "Steps between log lines when output is not a terminal (default: ${DEFAULT-VALUE}).")
    int logInterval = D.run().logInterval();
    @Option(names = "--sample-tokens", description = "Characters sampled at the end, 0 = none (default: ${DEFAULT-VALUE}).")
    int sampleTokens = D.run().sampleTokens();
    @Option(names = "--seed", description = "Seed of every random source (default: ${DEFAULT-VALUE}).")
    long seed = D.run().seed();
    @Option(names = "--threads", description = "Kernel threads, 0 = all cores (default: ${DEFAULT-VALUE}).")
    int threads = D.run().threads();
    @Option(names = "--backend", paramLabel = "auto|java|onednn", description = "GEMM backend (default: ${DEFAULT-VALUE}).")
    String backend = D.run().backend();
    @Option(names = "--precision", paramLabel = "fp32|bf16", description = "GEMM input precision: bf16 runs the GEMMs on oneDNN's bf16 kernels where the CPU has them (fp32 weights, optimizer and reductions); elsewhere one line says so and fp32 runs (default: ${DEFAULT-VALUE}).")
    String precision = D.run().precision();
    @Option(names = "--nan-policy", paramLabel = "stop|skip", description = "On a non-finite loss or gradient: stop (default) or skip the step.")
    String nanPolicy = "stop";
    @Option(names = "--stop-after", paramLabel = "STEP", description = "Pause after this many steps (checkpoint saved); continue later with --resume.")
    Integer stopAfter;
    @Option(names = "--preflight-ranks", hidden = true, paramLabel = "N",
            description = "Check this command for N ranks and exit without training (the launcher's --ranks runs it before mpirun).")
    Integer preflightRanks;
    @Mixin
    VerboseOption verbose;

    /**
     * Ranks per core that {@code --ranks} accepts: beyond this the ranks only take turns on the
     * cores (each still holds a whole model copy and a JVM), so more cannot be faster.
     */
    static final int RANKS_PER_CORE = 4;
    /** What one rank's JVM takes besides the model (heap, code, threads): about 116 MB measured per idle rank. */
    static final long RANK_BASELINE_BYTES = 128L << 20;

    @Override
    public Integer call() throws Exception {
        if (recipe != null) {
            Recipes.Recipe r = Recipes.named(recipe);
            System.out.println("recipe " + r.name() + ": " + r.line() + " (" + r.summary() + "; flags given beside it win)");
        }
        Trainer trainer = new Trainer(System.out::println, System.out);
        if (stopAfter != null) trainer.stopAfter(stopAfter);
        var parsed = spec.commandLine().getParseResult();
        TrainingResult result;
        // --steps 0 would train nothing and name a model file it never wrote; eval scores a checkpoint
        if (time != null && (parsed.hasMatchedOption("--steps") || resume != null)) {
            throw new IllegalArgumentException("--time cannot be combined with " + (resume != null ? "--resume (the run's config.json fixed its steps)"
                    : "--steps: give the run a step count or a time budget, not both"));
        }
        double budget = time == null ? 0 : Options.duration("--time", time);
        if (budget > 0) trainer.clockStart(processStart());             // the budget counts from the start of the process
        if (steps < 1) {
            throw new IllegalArgumentException("--steps must be >= 1, got " + steps
                    + (steps == 0 ? " (to score a checkpoint without training, use leviathan eval)" : ""));
        }
        if (resume != null) {
            for (var o : parsed.matchedOptions()) {
                if (!RESUME_OPTIONS.contains(o.longestName()) && !o.longestName().equals("--preflight-ranks")) {
                    throw new IllegalArgumentException(o.longestName() + " cannot be combined with --resume: a resumed run keeps its config.json"
                            + " (only --steps and --stop-after may change); start a new run with --init-from to change it");
                }
            }
            if (parsed.hasMatchedOption("--steps") && steps < 1) throw new IllegalArgumentException("--steps must be >= 1 with --resume, got " + steps);
            if (preflightRanks != null) {
                TrainConfig run = TrainConfig.fromJson(Files.readString(resume.resolve(RunDirectory.CONFIG_FILE)));
                preflight(preflightRanks, run.schedule().batchSize(), checkpointConfig(resume.resolve(RunDirectory.MODEL_FILE), "--resume"),
                        run.schedule().batchSize());
                return 0;
            }
            result = saving(resume, () -> trainer.resume(resume, parsed.hasMatchedOption("--steps") ? steps : 0));
        } else {
            if (out != null) checkOut(out, overwrite);
            trainer.overwrite(overwrite);
            Options.threads(threads);
            int block = initFrom == null ? blockSize : checkpointConfig(initFrom, "--init-from").blockSize();
            TrainConfig.Builder b = TrainConfig.builder().data(data).out(out == null ? null : out.toString())
                    .initFrom(initFrom == null ? null : initFrom.toString()).dropUnknown(dropUnknown)
                    .attention(PartFlags.kind(parsed, PartType.Slot.MIXER)).mlp(PartFlags.kind(parsed, PartType.Slot.MLP))
                    .nLayer(nLayer).nHead(nHead).nEmbd(nEmbd).blockSize(block)
                    .batchSize(batchSize).accum(accum).steps(budget > 0 ? 0 : steps).timeBudget(budget).lr(lr).minLr(minLr).warmup(warmup)
                    .optimizer(Optimizer.Kind.parse(optimizer)).beta1(beta1).beta2(beta2).weightDecay(weightDecay).clip(clip).dropout(dropout)
                    .evalInterval(evalInterval).evalBatches(evalBatches).logInterval(logInterval).sampleTokens(sampleTokens)
                    .seed(seed).threads(threads).backend(backend).precision(precisionOf(parsed)).nanPolicy(Options.nanPolicy(nanPolicy));
            PartFlags.given(parsed).forEach(b::option);
            modelOptions.forEach(b::option);
            TrainConfig cfg = b.build();
            // the trainer refuses a run that cannot fit in memory before it reads anything (Trainer.requireMemory);
            // --ranks checks N such runs against the machine before mpirun starts any
            if (preflightRanks != null) {
                if (threads > 0) Parallel.setThreads(threads);           // the estimate counts per-thread scratch
                Trainer.requireMemory(cfg);
                preflight(preflightRanks, batchSize, Trainer.plannedModel(cfg), batchSize);
                return 0;
            }
            result = saving(out, () -> trainer.train(cfg));
        }
        if (!trainer.root()) return 0;                                   // rank 0 alone evaluates, holds the run directory and samples
        finish(result);
        if (result.complete()) sample(result);
        return 0;
    }

    /** When this JVM started, on the {@link System#nanoTime} clock. */
    private static long processStart() {
        long sinceStartMs = System.currentTimeMillis() - java.lang.management.ManagementFactory.getRuntimeMXBean().getStartTime();
        return System.nanoTime() - Math.max(0, sinceStartMs) * 1_000_000L;
    }

    /** --precision, else {@code -Dleviathan.precision} (checked: an unknown value is refused, never ignored), else fp32. */
    private String precisionOf(picocli.CommandLine.ParseResult parsed) {
        if (parsed.hasMatchedOption("--precision") || System.getProperty(leviathan.backend.Precision.PROPERTY) == null) return precision;
        return leviathan.backend.Precision.fromSystem().label();
    }

    /** The most of the end-of-run sample kept in {@code sample.txt} (the stream itself is unbounded). */
    static final int SAMPLE_KEPT_CHARS = 1 << 20;

    /** Refuses a run that returned with a final loss that is not finite: one line, non-zero exit. */
    private void finish(TrainingResult r) {
        if (!Double.isFinite(r.valLoss())) {
            throw new IllegalStateException("the run ended at step " + r.steps() + " with val loss " + r.valLoss()
                    + ", not a finite number: the model diverged" + (r.skippedSteps() > 0 ? " (" + r.skippedSteps() + " steps skipped)" : "")
                    + (resume == null ? "; lower --lr or raise --warmup" : "; a resumed run keeps its learning rate: start a new run from"
                    + " its last good model with --init-from " + r.runDir().resolve(Trainer.MODEL_FILE) + " and a lower --lr")
                    + ", and see metrics.jsonl in " + r.runDir());
        }
    }

    /** A training call; its IOExceptions are passed through, with a failed run-directory creation explained. */
    private interface Run {
        TrainingResult run() throws IOException;
    }

    private static TrainingResult saving(Path runDir, Run run) throws IOException {
        try {
            return run.run();
        } catch (java.nio.file.FileSystemException e) {
            // creating the run directory (or a parent) failed: say it is --out, not just the path
            if (runDir == null || e.getFile() == null) throw e;
            Path failed = Path.of(e.getFile()).toAbsolutePath().normalize();
            if (!runDir.toAbsolutePath().normalize().startsWith(failed)) throw e;
            throw new IOException("run directory " + runDir + " cannot be created: " + Main.describe(e), e);
        }
    }

    /**
     * The end-of-run sample: {@code sample_tokens} characters from the saved model after a newline, at
     * temperature 1, streamed as {@code sample} does (so any length runs in constant memory). The run
     * is complete and saved by now: a failure here is said in one line and never fails the run.
     */
    private static void sample(TrainingResult r) {
        int n = r.config().run().sampleTokens();
        if (n == 0) return;
        Path model = r.runDir().resolve(Trainer.MODEL_FILE);
        java.io.PrintStream out = System.out;
        int threads = r.config().run().threads() == 0 ? Runtime.getRuntime().availableProcessors() : r.config().run().threads();
        try (LanguageModel lm = LanguageModel.load(model, new LanguageModel.Settings(r.config().run().backend(), threads,
                r.config().model().runOptions().values(), s -> { }))) {                 // the run's threads, as in training
            out.println("sample:");
            StringBuilder kept = new StringBuilder();                    // the run directory keeps the sample as sample.txt
            lm.stream("\n", new LanguageModel.Generation(n, 1f, 0, 1f, r.config().run().seed(), false, null, null), t -> {
                out.print(t);
                out.flush();
                if (kept.length() < SAMPLE_KEPT_CHARS) kept.append(t);
                return !out.checkError();                                // stdout closed (e.g. `| head`): stop
            });
            out.println();
            try {
                RunDirectory.writeSample(r.runDir(), kept.toString());
            } catch (IOException e) {
                System.err.println("leviathan: the sample was not saved to the run directory (" + Main.describe(e) + ")");
            }
        } catch (Exception | OutOfMemoryError | StackOverflowError e) {
            out.println();
            System.err.println("leviathan: the end-of-run sample failed (" + Main.describe(e) + "); the run itself is complete and saved:"
                    + " sample it with leviathan sample --checkpoint " + model);
        }
    }

    /** The model config in a checkpoint's header (nothing else is read), for the checks made before training. */
    private static GptConfig checkpointConfig(Path file, String option) throws IOException {
        String kind = FileKind.notRegular(file);
        if (kind != null) throw new IllegalArgumentException(option + " " + file + " " + kind);
        SafeTensors.Header h = SafeTensors.readHeader(file);
        return Checkpoint.configOf(h, Checkpoint.vocabulary(h));
    }

    /**
     * {@code --ranks N}'s checks, run by the launcher before mpirun starts any rank: the global batch
     * divides by N, N is at most {@link #RANKS_PER_CORE} per core, and N model copies fit the
     * machine's memory (rank 0 holds whole evaluation batches, the others their share, each with a JVM).
     */
    static void preflight(int ranks, int batch, GptConfig model, int evalRows) {
        if (ranks < 1) throw new IllegalArgumentException("--ranks must be >= 1, got " + ranks);
        String placement = System.getenv("LEVIATHAN_MPIRUN_ARGS");
        boolean local = placement == null || placement.isBlank();         // a hostfile may spread the ranks over other machines
        int cores = Runtime.getRuntime().availableProcessors(), most = cores * RANKS_PER_CORE;
        if (local && ranks > most) {
            throw new IllegalArgumentException("--ranks " + ranks + " is more than " + RANKS_PER_CORE + " ranks per core on this machine's "
                    + cores + " cores (at most " + most + "): more ranks only take turns on the cores; use --ranks " + Math.min(most, cores)
                    + " or fewer, or LEVIATHAN_MPIRUN_ARGS with a hostfile for several machines");
        }
        if (batch <= 0 || batch % ranks != 0) {
            throw new IllegalArgumentException("--batch-size " + batch + " is the global batch and must divide by the " + ranks
                    + " ranks; use a multiple of " + ranks + " (e.g. " + Math.max(ranks, batch / ranks * ranks) + ")");
        }
        if (!local) return;
        int T = model.blockSize();
        Parallel.setThreads(Math.max(1, cores / ranks));
        long first = MemoryEstimate.estimateBytes(model, evalRows, T, true), other = MemoryEstimate.estimateBytes(model, batch / ranks, T, true);
        long total = first + (ranks - 1) * other + ranks * RANK_BASELINE_BYTES, budget = MemoryEstimate.budgetBytes();
        if (total > budget) {
            throw new IllegalArgumentException("--ranks " + ranks + " needs about " + MemoryEstimate.bytes(total) + " (" + ranks
                    + " model copies with optimizer state and activations, and a JVM each), more than the " + MemoryEstimate.bytes(budget)
                    + " of memory this machine has; use fewer ranks or a smaller --batch-size or model");
        }
    }

    /** Refuses an {@code --out} that cannot become a run directory, saying what is in the way. */
    static void checkOut(Path out, boolean overwrite) throws IOException {
        if (out.toString().isBlank()) throw new IllegalArgumentException("--out is empty: give the run directory to create (or omit --out for runs/<time>-<attention>)");
        Path abs = out.toAbsolutePath().normalize();
        if (Files.isDirectory(abs)) {
            if (!Files.isWritable(abs)) throw new IllegalArgumentException("--out " + out + " is a directory this user cannot write to");
            RunDirectory.checkNew(out, overwrite);                   // before any data is read; again under the run's lock
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
