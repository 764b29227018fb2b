package leviathan.train;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Path;
import java.util.List;
import java.util.Locale;
import java.util.function.Consumer;
import leviathan.backend.Backend;
import leviathan.backend.Backends;
import leviathan.backend.Precision;
import leviathan.data.CharTokenizer;
import leviathan.data.Datasets;
import leviathan.data.TextDataset;
import leviathan.kernel.Parallel;
import leviathan.model.Checkpoint;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.model.TrainState;
import leviathan.model.Workspace;
import leviathan.tensor.Tensor;

/**
 * The training loop: {@link TrainingStep}s under a schedule, with evaluation and a checkpoint every
 * {@code eval_interval} steps and at the end, in a locked {@link RunDirectory}; {@link Reporter}
 * says what happens. A checkpoint replaces the previous one only if the weights and moments are
 * finite and its evaluation is; the last good one is named whenever a run stops.
 */
public final class Trainer {
    public static final String MODEL_FILE = RunDirectory.MODEL_FILE, STATE_FILE = RunDirectory.STATE_FILE,
            CONFIG_FILE = RunDirectory.CONFIG_FILE, METRICS_FILE = RunDirectory.METRICS_FILE, LOCK_FILE = RunDirectory.LOCK_FILE;

    private final Consumer<String> log;
    private final PrintStream out;
    private int stopAfter = Integer.MAX_VALUE;
    private Hooks hooks = new Hooks() { };

    /**
     * Calls at fixed points of every step (step numbers are 1-based), for failure drills and tests:
     * each may change what it is handed, as a numeric blow-up would. All do nothing by default.
     */
    public interface Hooks {
        /** The loss of one micro-batch, as the step will use it. */
        default float afterLoss(int step, float loss) { return loss; }

        /** After the backward passes of a step, before the gradient norm. */
        default void afterBackward(int step, Gpt model) { }

        /** After the optimizer update of a step. */
        default void afterUpdate(int step, Gpt model) { }
    }

    /** What a finished (or paused) run reports; losses are those of its last evaluation. */
    public record Result(Path runDir, int steps, double valLoss, double trainLoss, double tokensPerSecond, long peakRssBytes,
                         double wallSeconds, int skippedSteps, TrainConfig config) {
        public double valBpc() { return valLoss / Math.log(2); }

        /** Whether every configured step ran (false after a pause). */
        public boolean complete() { return steps == config.schedule().steps(); }
    }

    /** Training stopped because a loss, gradient, weight or evaluation was not finite. */
    public static final class DivergedException extends RuntimeException {
        DivergedException(String m) { super(m); }
    }

    /** {@code --resume} of a run that has already done all its steps. */
    public static final class RunCompleteException extends RuntimeException {
        RunCompleteException(String m) { super(m); }
    }

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

    /** Installs {@code hooks} (failure drills and tests). */
    public Trainer hooks(Hooks hooks) {
        this.hooks = hooks;
        return this;
    }

    /** Starts a new run. */
    public Result train(TrainConfig cfg) throws IOException {
        long wallStart = System.nanoTime();
        Parallel.setThreads(cfg.run().threads() == 0 ? Runtime.getRuntime().availableProcessors() : cfg.run().threads());
        Path dataFile = Datasets.resolve(cfg.run().data(), Datasets.home(), log);
        String text = TextDataset.readUtf8(dataFile);
        Gpt model;
        CharTokenizer tok;
        if (cfg.run().initFrom() != null) {
            Checkpoint.Loaded loaded = Checkpoint.load(Path.of(cfg.run().initFrom()));
            model = loaded.model();
            tok = loaded.tokenizer();
            cfg = cfg.withModel(cfg.model().describing(model.config()));
            log.accept("init from " + cfg.run().initFrom() + ": model config and vocabulary (" + tok.vocabSize() + " characters) come from the checkpoint");
        } else {
            tok = CharTokenizer.fromText(text);
            model = cfg.model().init(tok.vocabSize(), cfg.run().seed());
        }
        try (Gpt m = model) {                                   // closed on every path, failures included
            TrainingData data = TrainingData.of(dataFile, tok.encode(text, cfg.run().dropUnknown()), cfg.model().blockSize());
            Path dir = cfg.run().out() != null ? Path.of(cfg.run().out()) : RunDirectory.defaultPath(m.config());
            try (RunDirectory rd = RunDirectory.create(dir)) {
                return run(cfg, rd, m, tok, data, null, wallStart);
            }
        }
    }

    /** Continues the run in {@code runDir}; {@code steps} (if > 0) replaces the configured total. */
    public Result resume(Path runDir, int steps) throws IOException {
        long wallStart = System.nanoTime();
        try (RunDirectory rd = RunDirectory.open(runDir)) {
            RunDirectory.Resume point = rd.resume(rd.readConfig(), steps);
            TrainConfig cfg = point.config();
            Parallel.setThreads(cfg.run().threads() == 0 ? Runtime.getRuntime().availableProcessors() : cfg.run().threads());
            Path dataFile = Datasets.resolve(cfg.run().data(), Datasets.home(), log);
            CharTokenizer tok = point.state().tokenizer();
            TrainingData data = TrainingData.of(dataFile, tok.encode(TextDataset.readUtf8(dataFile), cfg.run().dropUnknown()), cfg.model().blockSize());
            try (Gpt m = Gpt.empty(point.state().config())) {
                return run(cfg, rd, m, tok, data, point, wallStart);
            }
        }
    }

    private Result run(TrainConfig cfg, RunDirectory rd, Gpt m, CharTokenizer tok, TrainingData data, RunDirectory.Resume resumed,
                       long wallStart) throws IOException {
        int B = cfg.schedule().batchSize(), T = cfg.model().blockSize(), total = cfg.schedule().steps();
        Reporter report = new Reporter(out, log, rd.metrics(), cfg, wallStart);
        try (Backend backend = Backends.select(cfg.run().backend(), Precision.parse(cfg.run().precision()), log);
             Workspace ws = m.workspace(backend, B, T, true, cfg.model().runOptions().with("impl", cfg.run().impl()));
             Optimizer opt = new Optimizer(m, cfg.optimizer().kind(), cfg.optimizer().beta1(), cfg.optimizer().beta2(),
                     cfg.optimizer().eps(), cfg.optimizer().weightDecay())) {
            List<Tensor> state = TrainState.tensors(m, opt.firstMoments(), opt.secondMoments());
            TrainingLoop loop = new TrainingLoop(cfg, rd, m, tok, ws, opt, state, data, report, hooks, stopAfter);
            if (resumed != null) {
                resumed.state().load(state);                    // a finished run's state is checked too before it is called finished
                if (resumed.complete() != null) throw new RunCompleteException(resumed.complete());
                opt.setStepCount(resumed.optimizerSteps());
                rd.repairMetrics(resumed.step());
                loop.skipped = resumed.skipped();
                loop.lastGood = resumed.lastGood();
                if (resumed.note() != null) log.accept(resumed.note());
                log.accept("resumed " + rd.path() + " at step " + resumed.step());
            }
            rd.writeConfig(cfg);
            GptConfig c = m.config();
            report.line("run: %s", rd.path());
            report.line("config: %s", cfg.toJson().replaceAll("\\s+", " ").trim());
            report.line("model: %s: %,d parameters", c.describe(), m.parameterCount());
            report.line("data: %s, %,d characters (%,d train, %,d val); backend %s; %d threads",
                    data.file(), data.characters(), data.train().length, data.val().length, backend.describe(), Parallel.threads());
            return loop.run(resumed == null ? 0 : resumed.step(), total);
        }
    }
}
