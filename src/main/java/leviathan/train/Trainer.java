package leviathan.train;

import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.function.Consumer;
import leviathan.backend.Backend;
import leviathan.backend.Engine;
import leviathan.backend.Precision;
import leviathan.data.CharTokenizer;
import leviathan.data.TokenFile;
import leviathan.data.Datasets;
import leviathan.distributed.Communicator;
import leviathan.model.Checkpoint;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.model.MemoryEstimate;
import leviathan.model.SafeTensors;
import leviathan.model.TrainState;
import leviathan.model.Workspace;
import leviathan.tensor.Tensor;

/**
 * The training loop: {@link TrainingStep}s under a schedule, with evaluation and a checkpoint every
 * {@code eval_interval} steps and at the end, in a locked {@link RunDirectory}; {@link Reporter}
 * says what happens. A checkpoint replaces the previous one only if the weights and moments are
 * finite and its evaluation is; the last good one is named whenever a run stops.
 *
 * <p>Data parallel: under {@code mpirun} ({@link Communicator#fromEnvironment}) every rank runs the
 * same code; {@code batch_size} stays the global batch, each rank runs its share of its rows, rank 0
 * broadcasts the parameters and optimizer moments at the start (after {@code --resume}, the run's
 * config and state file too), and rank 0 alone prints, evaluates, takes the run directory and writes
 * in it. A rank that fails ends the whole job ({@link Communicator#abort}). One process needs no MPI
 * and trains exactly as without it.
 */
public final class Trainer {
    public static final String MODEL_FILE = RunDirectory.MODEL_FILE, STATE_FILE = RunDirectory.STATE_FILE,
            CONFIG_FILE = RunDirectory.CONFIG_FILE, METRICS_FILE = RunDirectory.METRICS_FILE, LOCK_FILE = RunDirectory.LOCK_FILE;

    private final Consumer<String> log;
    private final PrintStream out;
    private int stopAfter = Integer.MAX_VALUE;
    private boolean overwrite;
    private TrainingHooks hooks = new TrainingHooks() { };
    private Communicator communicator;                          // null: from the environment, closed at the end of the run

    private long clockStart;

    public Trainer(Consumer<String> log, PrintStream out) {
        this.log = log;
        this.out = out;
    }

    /**
     * Pauses the run after {@code step} completed steps (with a checkpoint there), as if it had been
     * interrupted: the schedule still spans the configured steps, and {@code --resume} continues it.
     */
    public Trainer stopAfter(int step) {
        if (step < 1) throw new IllegalArgumentException("stop-after must be >= 1, got " + step);
        this.stopAfter = step;
        return this;
    }

    /**
     * Counts the run's wall clock, and its time budget, from {@code nanoTime} (a {@link System#nanoTime}
     * reading, e.g. the process start) instead of from the call to {@link #train}.
     */
    public Trainer clockStart(long nanoTime) {
        this.clockStart = nanoTime;
        return this;
    }

    /** Lets a new run replace an earlier run in its {@code out} directory (see {@link RunDirectory#create}). */
    public Trainer overwrite(boolean overwrite) {
        this.overwrite = overwrite;
        return this;
    }

    /** Installs {@code hooks} (failure drills and tests). */
    public Trainer hooks(TrainingHooks hooks) {
        this.hooks = hooks;
        return this;
    }

    /**
     * Trains over {@code comm} instead of the communicator of the environment (which is MPI under
     * {@code mpirun}, else one process); the caller then closes it.
     */
    public Trainer communicator(Communicator comm) {
        this.communicator = comm;
        return this;
    }

    /** Whether this process is rank 0 of its job (always, without MPI): the one that prints, writes and may sample. */
    public boolean root() {
        return (communicator != null ? communicator : rootOfEnvironment).isRoot();
    }

    private Communicator rootOfEnvironment = leviathan.distributed.SingleProcess.INSTANCE;

    private interface Run {
        TrainingResult on(Communicator comm, Consumer<String> log, PrintStream out) throws IOException;
    }

    /** Runs {@code body} on every rank; a failure on one rank ends the job, the communicator of the environment is closed at the end. */
    private TrainingResult inJob(Run body) throws IOException {
        Communicator comm = communicator != null ? communicator : Communicator.fromEnvironment();
        rootOfEnvironment = comm;
        TrainingResult r;
        try {
            PrintStream quiet = new PrintStream(OutputStream.nullOutputStream());
            r = comm.isRoot() ? body.on(comm, log, out) : body.on(comm, line -> { }, quiet);
            if (comm.size() > 1) comm.barrier();               // rank 0's last checkpoint is written before any rank leaves
        } catch (IOException | RuntimeException | Error e) {
            if (comm.size() > 1) DataParallel.endJob(comm, e);
            throw e;
        }
        if (communicator == null) comm.close();
        return r;
    }

    /**
     * The model a new run of {@code cfg} trains, as far as it is known before the text is read: the
     * configured model for a one-character vocabulary (a lower bound of its memory), or with
     * {@code init_from} the checkpoint's, read from its header alone.
     */
    public static GptConfig plannedModel(TrainConfig cfg) throws IOException {
        if (cfg.run().initFrom() == null) return cfg.model().toGptConfig(1);
        SafeTensors.Header h = SafeTensors.readHeader(Path.of(cfg.run().initFrom()));
        return Checkpoint.configOf(h, Checkpoint.vocabulary(h));
    }

    /**
     * Refuses, with the estimate and the machine's memory, a new run of {@code cfg} whose model,
     * gradients, AdamW moments and activations cannot fit ({@link MemoryEstimate}); {@link #train}
     * checks it before it reads anything, so every caller gets the check.
     */
    public static MemoryEstimate.Breakdown requireMemory(TrainConfig cfg) throws IOException {
        GptConfig model = plannedModel(cfg);
        return MemoryEstimate.require(model, cfg.schedule().batchSize(), model.blockSize(), true, cfg.run().initFrom() == null
                ? "use a smaller --batch-size (with --accum to keep the tokens per step), --block-size, --n-embd or --n-layer"
                : "use a smaller --batch-size (with --accum to keep the tokens per step); the model and its block size are "
                        + cfg.run().initFrom() + "'s");
    }

    /** Starts a new run (first refusing one that cannot fit in memory: {@link #requireMemory}). */
    public TrainingResult train(TrainConfig cfg) throws IOException {
        return inJob((comm, log, out) -> train(cfg, comm, log, out));
    }

    private TrainingResult train(TrainConfig cfg, Communicator comm, Consumer<String> log, PrintStream out) throws IOException {
        long wallStart = clockStart != 0 ? clockStart : System.nanoTime();
        comm.batchShare(cfg.schedule().batchSize());           // the one clear error when the batch does not divide
        try (Engine engine = engine(cfg, log)) {
            return engine.call(() -> train(engine, cfg, wallStart, comm, log, out));
        }
    }

    /**
     * The run's engine: kernel threads of its own ({@code threads}, 0 = all cores), its backend and
     * precision, chosen when the run first asks for the backend.
     */
    private static Engine engine(TrainConfig cfg, Consumer<String> log) {
        int threads = cfg.run().threads() == 0 ? Runtime.getRuntime().availableProcessors() : cfg.run().threads();
        return new Engine(threads, cfg.run().backend(), Precision.parse(cfg.run().precision()), log);
    }

    /** {@link #train(TrainConfig)} inside its engine. */
    private TrainingResult train(Engine engine, TrainConfig cfg, long wallStart, Communicator comm, Consumer<String> log, PrintStream out)
            throws IOException {
        requireMemory(cfg);                                     // before any data is read or file written
        Path dataFile = Datasets.resolve(cfg.run().data(), Datasets.home(), log);
        Gpt model = null;
        CharTokenizer tok = null;
        if (cfg.run().initFrom() != null) {
            Checkpoint.Loaded loaded = Checkpoint.load(Path.of(cfg.run().initFrom()));
            model = loaded.model();
            tok = loaded.tokenizer();
            cfg = cfg.withModel(cfg.model().describing(model.config()));
            log.accept("init from " + cfg.run().initFrom() + ": model config and vocabulary (" + tok.vocabSize() + " characters) come from the checkpoint");
        }
        // the text's ids, memory-mapped from a token file prepared on first use (rank 0 prepares, the others then open it)
        TokenFile opened;
        try {
            opened = TrainingData.open(dataFile, tok, cfg.run().dropUnknown(), comm, log);
        } catch (IOException | RuntimeException e) {
            if (model != null) model.close();                   // the init-from model, loaded above
            throw e;
        }
        try (TokenFile tokens = opened) {
            if (model == null) {
                tok = tokens.vocabulary();
                model = cfg.model().init(tok.vocabSize(), cfg.run().seed());
            }
            try (Gpt m = model) {                               // closed on every path, failures included
                TrainingData data = TrainingData.of(dataFile, tokens, tok, cfg.model().blockSize());
                if (!comm.isRoot()) return run(engine, new RunContext(cfg, null, m, tok, data, comm), null, wallStart, log, out);
                Path dir = cfg.run().out() != null ? Path.of(cfg.run().out()) : RunDirectory.defaultPath(m.config());
                try (RunDirectory rd = RunDirectory.create(dir, overwrite)) {
                    return run(engine, new RunContext(cfg, rd, m, tok, data, comm), null, wallStart, log, out);
                }
            }
        }
    }

    /** Continues the run in {@code runDir}; {@code steps} (if > 0) replaces the configured total. */
    public TrainingResult resume(Path runDir, int steps) throws IOException {
        return inJob((comm, log, out) -> comm.isRoot() ? resumeRoot(runDir, steps, comm, log, out) : resumeOther(comm, log, out));
    }

    /** Rank 0 (or the one process): validates the run directory, sends its config and state to the other ranks, and continues. */
    private TrainingResult resumeRoot(Path runDir, int steps, Communicator comm, Consumer<String> log, PrintStream out) throws IOException {
        long wallStart = clockStart != 0 ? clockStart : System.nanoTime();
        try (RunDirectory rd = RunDirectory.open(runDir)) {
            RunDirectory.Resume point = rd.resume(rd.readConfig(), steps);
            DataParallel.sendResume(comm, point, rd.state());
            return resumed(rd, point, wallStart, comm, log, out);
        }
    }

    /** A rank other than 0: the config and state file come from rank 0 (through a temporary file outside the run directory). */
    private TrainingResult resumeOther(Communicator comm, Consumer<String> log, PrintStream out) throws IOException {
        long wallStart = clockStart != 0 ? clockStart : System.nanoTime();
        Path stateFile = Files.createTempFile("leviathan-rank" + comm.rank() + "-", ".safetensors");
        try {
            return resumed(null, DataParallel.receiveResume(comm, stateFile), wallStart, comm, log, out);
        } finally {
            Files.deleteIfExists(stateFile);
        }
    }

    /** Continues from {@code point} on this rank ({@code rd} only on rank 0). */
    private TrainingResult resumed(RunDirectory rd, RunDirectory.Resume point, long wallStart, Communicator comm, Consumer<String> log,
                           PrintStream out) throws IOException {
        TrainConfig cfg = point.config();
        comm.batchShare(cfg.schedule().batchSize());           // every rank checks it (resume may change the rank count)
        try (Engine engine = engine(cfg, log)) {
            return engine.call(() -> resumed(engine, rd, point, wallStart, comm, log, out));
        }
    }

    /** {@link #resumed} inside its engine. */
    private TrainingResult resumed(Engine engine, RunDirectory rd, RunDirectory.Resume point, long wallStart, Communicator comm,
                                   Consumer<String> log, PrintStream out) throws IOException {
        TrainConfig cfg = point.config();
        Path dataFile = Datasets.resolve(cfg.run().data(), Datasets.home(), log);
        CharTokenizer tok = point.state().tokenizer();
        TokenFile opened;
        try {
            opened = TrainingData.open(dataFile, tok, cfg.run().dropUnknown(), comm, log);
        } catch (CharTokenizer.UnknownCharacterException e) {
            // --resume refuses --drop-unknown (the run keeps its config): name the ways that work
            throw new IllegalArgumentException(e.what() + " (in " + dataFile + ", which changed since the run started); a resumed run"
                    + " keeps its vocabulary: restore the text, or start a new run from its weights with --init-from "
                    + (rd == null ? Trainer.MODEL_FILE : rd.model()) + " --drop-unknown", e);
        }
        try (TokenFile tokens = opened;
             Gpt m = Gpt.empty(point.state().config())) {
            TrainingData data = TrainingData.of(dataFile, tokens, tok, cfg.model().blockSize());
            return run(engine, new RunContext(cfg, rd, m, tok, data, comm), point, wallStart, log, out);
        }
    }

    /** The run on this rank (rank 0 alone holds the run directory and writes), from {@code resumed} or from step 0. */
    private TrainingResult run(Engine engine, RunContext run, RunDirectory.Resume resumed, long wallStart, Consumer<String> log,
                               PrintStream out) throws IOException {
        TrainConfig cfg = run.config();
        RunDirectory rd = run.dir();
        Gpt m = run.model();
        Communicator comm = run.comm();
        int B = cfg.schedule().batchSize(), T = cfg.model().blockSize(), total = cfg.schedule().steps();
        Reporter report = run.rank0() ? new Reporter(out, log, rd.metrics(), cfg, wallStart, comm.size()) : Reporter.silent(cfg, wallStart, comm.size());
        // rank 0 evaluates on whole global batches; the others only ever run their share
        int rows = comm.isRoot() ? B : comm.batchShare(B).rows();
        Backend backend = engine.backend();                     // closed with the engine
        try (Workspace ws = m.workspace(backend, rows, T, true, cfg.model().runOptions());
             Optimizer opt = new Optimizer(m, cfg.optimizer().kind(), cfg.optimizer().beta1(), cfg.optimizer().beta2(),
                     cfg.optimizer().eps(), cfg.optimizer().weightDecay())) {
            List<Tensor> state = TrainState.tensors(m, opt.firstMoments(), opt.secondMoments());
            TrainingLoop loop = new TrainingLoop(run, ws, opt, state, report, hooks, stopAfter);
            if (resumed != null) loop.restore(resumed, log);
            if (comm.size() > 1) DataParallel.broadcast(comm, m.params(), opt.firstMoments(), opt.secondMoments());
            if (run.rank0()) rd.writeConfig(cfg);
            report.header(comm, rd, cfg, m, run.data(), backend);
            return loop.run(resumed == null ? 0 : resumed.step(), total);
        }
    }
}
