package leviathan.train;

import java.io.IOException;
import java.io.PrintStream;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import leviathan.backend.Backend;
import leviathan.backend.Backends;
import leviathan.data.CharTokenizer;
import leviathan.data.Datasets;
import leviathan.data.TextDataset;
import leviathan.kernel.Parallel;
import leviathan.model.Checkpoint;
import leviathan.model.CheckpointException;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.model.ParameterLayout;
import leviathan.model.SafeTensors;
import leviathan.model.Workspace;
import leviathan.nn.RunOptions;
import leviathan.tensor.Tensor;

/**
 * The training loop: data, model, AdamW/SGD with warmup + cosine, clipping, accumulation, periodic
 * evaluation, atomic checkpoints and metrics in a run directory, and resuming.
 *
 * <p>Run directory: {@code config.json} (effective config), {@code metrics.jsonl} (one JSON object
 * per log point), {@code model.safetensors} (the model, enough to sample and evaluate) and
 * {@code state.safetensors} (parameters, AdamW moments and step: everything a resume needs, in one
 * atomic file so the two can never disagree).
 */
public final class Trainer {
    public static final String MODEL_FILE = "model.safetensors", STATE_FILE = "state.safetensors", CONFIG_FILE = "config.json",
            METRICS_FILE = "metrics.jsonl", STATE_FORMAT = Checkpoint.TRAIN_STATE_FORMAT;

    private final Consumer<String> log;
    private final PrintStream out;
    private int stopAfter = Integer.MAX_VALUE;
    private final Map<Integer, Fault> faults = new HashMap<>();

    /** What {@link #injectNonFinite} corrupts: the loss, one gradient value, or one parameter after the update. */
    public enum Fault { LOSS, GRADIENT, PARAMETER }

    /** What a finished run reports. */
    public record Result(Path runDir, int steps, double valLoss, double trainLoss, double tokensPerSecond,
                         long peakRssBytes, double wallSeconds, String sample, int skippedSteps) {
        public double valBpc() { return valLoss / Math.log(2); }
    }

    /** Training stopped because a loss or gradient was not finite. */
    public static final class DivergedException extends RuntimeException {
        DivergedException(String m) { super(m); }
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

    /**
     * For failure drills and tests: makes the loss, one gradient value, or (after the update) one
     * parameter of step {@code step} (1-based) NaN, as a numeric blow-up would, so that the NaN
     * policy and the checkpoint guard can be exercised on demand.
     */
    public Trainer injectNonFinite(int step, Fault what) {
        if (step < 1) throw new IllegalArgumentException("step must be >= 1, got " + step);
        faults.put(step, what);
        return this;
    }

    /** Starts a new run. */
    public Result train(TrainConfig cfg) throws IOException {
        return run(cfg, null);
    }

    /** Continues the run in {@code runDir}; {@code steps} (if > 0) replaces the configured total. */
    public Result resume(Path runDir, int steps) throws IOException {
        Path cfgFile = runDir.resolve(CONFIG_FILE);
        if (!Files.isRegularFile(cfgFile)) throw new IOException("cannot resume: " + cfgFile + " not found (is " + runDir + " a run directory?)");
        TrainConfig cfg;
        try {
            cfg = TrainConfig.fromJson(Files.readString(cfgFile, StandardCharsets.UTF_8)).withOut(runDir.toString());
            if (steps > 0) cfg = cfg.withSteps(steps);
        } catch (IOException | RuntimeException e) {
            throw new IOException("cannot resume: " + cfgFile + " is not a valid run config (" + e.getMessage()
                    + "); it is written whole or not at all, so it was edited or damaged since", e);
        }
        Path state = runDir.resolve(STATE_FILE);
        if (!Files.isRegularFile(state)) throw new IOException("cannot resume: " + state + " not found (the run saved no checkpoint yet)");
        return run(cfg, state);
    }

    private Result run(TrainConfig cfg, Path resumeState) throws IOException {
        long wallStart = System.nanoTime();
        Parallel.setThreads(cfg.threads() == 0 ? Runtime.getRuntime().availableProcessors() : cfg.threads());
        Path dataFile = Datasets.resolve(cfg.data(), Datasets.home(), log);
        String text = TextDataset.readUtf8(dataFile);

        Gpt model;
        CharTokenizer tok;
        ResumeState resumed = null;
        if (resumeState != null) {
            resumed = ResumeState.read(resumeState, cfg);
            tok = resumed.tokenizer();
            model = Gpt.empty(resumed.config());
        } else if (cfg.initFrom() != null) {
            Checkpoint.Loaded loaded = Checkpoint.load(Path.of(cfg.initFrom()));
            model = loaded.model();
            tok = loaded.tokenizer();
            GptConfig c = model.config();
            cfg = new TrainConfig(cfg.data(), cfg.out(), cfg.initFrom(), cfg.dropUnknown(), c.nLayer(), c.nHead(), c.nEmbd(), c.blockSize(),
                    c.attention(), c.lags(), cfg.batchSize(), cfg.accum(), cfg.steps(), cfg.lr(), cfg.minLr(), cfg.warmup(), cfg.optimizer(),
                    cfg.beta1(), cfg.beta2(), cfg.eps(), cfg.weightDecay(), cfg.clip(), cfg.evalInterval(), cfg.evalBatches(),
                    cfg.logInterval(), cfg.sampleTokens(), cfg.seed(), cfg.threads(), cfg.backend(), cfg.impl(), cfg.nanPolicy());
            log.accept("init from " + cfg.initFrom() + ": model config and vocabulary (" + tok.vocabSize() + " characters) come from the checkpoint");
        } else {
            tok = CharTokenizer.fromText(text);
            model = Gpt.init(modelConfig(cfg, tok.vocabSize()), cfg.seed(), runOptions(cfg));
        }
        try (Gpt m = model) {                                   // closed on every path, failures included
            return run(cfg, resumeState, resumed, m, tok, dataFile, text, wallStart);
        }
    }

    private Result run(TrainConfig cfg, Path resumeState, ResumeState resumed, Gpt m, CharTokenizer tok, Path dataFile,
                       String text, long wallStart) throws IOException {
        int[] ids = tok.encode(text, cfg.dropUnknown());
        TextDataset data = new TextDataset(dataFile.getFileName().toString(), ids);
        int[] train = data.tokens(TextDataset.Split.TRAIN), val = data.tokens(TextDataset.Split.VAL);
        int B = cfg.batchSize(), T = cfg.blockSize();
        if (train.length < T + 1 || val.length < T + 1) {
            throw new IllegalArgumentException(dataFile + " has " + ids.length + " characters: too short for block_size " + T
                    + " (each split needs at least block_size + 1 = " + (T + 1) + "); use a longer text or a smaller --block-size");
        }

        Path runDir = cfg.out() != null ? Path.of(cfg.out()) : Datasets.home().resolve("runs").resolve(
                LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")) + "-" + cfg.attention()
                        + ("dot".equals(cfg.attention()) ? "" : "-lags" + cfg.lags()));
        Files.createDirectories(runDir);
        if (resumeState == null && Files.exists(runDir.resolve(STATE_FILE))) {
            throw new IOException(runDir + " already holds a run; continue it with --resume " + runDir + " or choose another --out");
        }
        writeAtomically(runDir.resolve(CONFIG_FILE), cfg.toJson());    // a kill here must not leave a torn config
        // a new run in a directory without a state: any metrics there are from a run killed before its first checkpoint
        if (resumeState == null) Files.deleteIfExists(runDir.resolve(METRICS_FILE));

        try (Backend backend = Backends.select(cfg.backend(), log);
             Workspace ws = m.workspace(backend, B, T, true, runOptions(cfg));
             Optimizer opt = new Optimizer(m, cfg.optimizer(), cfg.beta1(), cfg.beta2(), cfg.eps(), cfg.weightDecay())) {
            List<Tensor> state = stateTensors(m, opt);
            int start = 0, skippedBefore = 0;
            if (resumed != null) {
                resumed.load(state);
                start = resumed.step();
                skippedBefore = resumed.skipped();
                opt.setStepCount(resumed.optimizerSteps());
                repairMetrics(runDir.resolve(METRICS_FILE), start);
                log.accept("resumed " + runDir + " at step " + start);
            }
            out.printf("run: %s%n", runDir);
            out.printf("config: %s%n", cfg.toJson().replaceAll("\\s+", " ").trim());
            out.printf("model: %s attention, lags %d, %d layers, %d heads, n_embd %d, block %d, vocab %d: %,d parameters%n",
                    cfg.attention(), m.config().lags(), cfg.nLayer(), cfg.nHead(), cfg.nEmbd(), T, tok.vocabSize(), m.parameterCount());
            out.printf("data: %s, %,d characters (%,d train, %,d val); backend %s; %d threads%n",
                    dataFile, ids.length, train.length, val.length, backend.describe(), Parallel.threads());

            Loop loop = new Loop(cfg, m, ws, opt, tok, backend, runDir, state, train, val);
            loop.skipped = skippedBefore;
            if (start > 0) loop.lastCheckpoint = checkpointName(runDir, start);
            return loop.run(start, wallStart);
        }
    }

    private static GptConfig modelConfig(TrainConfig c, int vocab) {
        return GptConfig.of(vocab, c.blockSize(), c.nLayer(), c.nHead(), c.nEmbd(), c.attention(), c.lags());
    }

    /** What the parts read at run time: the correlation implementation and the lag-bias initialisation. */
    private static RunOptions runOptions(TrainConfig c) {
        return RunOptions.of("impl", c.impl(), "lag_bias_init", Float.toString(c.lagBiasInit()));
    }

    /** Parameters and both moments, named for the state file. */
    private static List<Tensor> stateTensors(Gpt m, Optimizer opt) {
        List<Tensor> l = new ArrayList<>();
        for (Tensor p : m.params().tensors().values()) l.add(Tensor.of("param." + p.name(), p.segment(), p.shape()));
        for (Tensor p : opt.firstMoments().tensors().values()) l.add(Tensor.of("m." + p.name(), p.segment(), p.shape()));
        for (Tensor p : opt.secondMoments().tensors().values()) l.add(Tensor.of("v." + p.name(), p.segment(), p.shape()));
        return l;
    }

    private static String checkpointName(Path runDir, int step) {
        return runDir.resolve(MODEL_FILE) + " (step " + step + "; continue with --resume " + runDir + ")";
    }

    /**
     * A validated {@code state.safetensors}: format, vocabulary, the model config it was written for
     * (which must be the one {@code config.json} describes), every tensor's name and shape, and the
     * step counters, all checked before any memory is allocated. Every failure is one
     * {@link CheckpointException} naming the file.
     */
    private record ResumeState(SafeTensors.Header header, CharTokenizer tokenizer, GptConfig config, int step,
                               int optimizerSteps, int skipped) {

        static ResumeState read(Path file, TrainConfig cfg) throws IOException {
            SafeTensors.Header h = SafeTensors.readHeader(file);
            String format = h.metadata().get("format");
            if (!STATE_FORMAT.equals(format)) {
                throw new CheckpointException(file, Checkpoint.FORMAT.equals(format) ? "is a model file, not a training state"
                        : "not a training state file (format " + (format == null ? "missing" : "'" + format + "'") + ", expected '" + STATE_FORMAT + "')");
            }
            CharTokenizer tok = Checkpoint.vocabulary(h);
            GptConfig written = Checkpoint.configOf(h, tok);
            GptConfig described;
            try {
                described = modelConfig(cfg, tok.vocabSize());
            } catch (IllegalArgumentException e) {
                throw new CheckpointException(file, "config.json describes an invalid model: " + e.getMessage());
            }
            if (!written.equals(described)) {
                throw new CheckpointException(file, "holds a model of " + describe(written) + " but config.json describes "
                        + describe(described) + ": the two files do not belong to the same run");
            }
            long perModel = ParameterLayout.count(written);
            if (3 * perModel != h.entries().size()) {
                throw new CheckpointException(file, "holds " + h.entries().size() + " tensors; parameters and two moments of this model are "
                        + 3 * perModel);
            }
            Map<String, int[]> shapes = ParameterLayout.shapes(written);
            for (String prefix : List.of("param.", "m.", "v.")) Checkpoint.checkTensors(h, shapes, prefix);
            int step = counter(h, "step", Integer.MAX_VALUE);
            int optSteps = h.metadata().containsKey("optimizer_steps") ? counter(h, "optimizer_steps", step) : step;
            int skipped = h.metadata().containsKey("skipped_steps") ? counter(h, "skipped_steps", step) : 0;
            return new ResumeState(h, tok, written, step, optSteps, skipped);
        }

        private static String describe(GptConfig c) { return c.describe(); }

        private static int counter(SafeTensors.Header h, String key, int max) throws CheckpointException {
            String v = h.metadata().get(key);
            if (v == null) throw new CheckpointException(h.file(), "metadata has no '" + key + "'");
            try {
                int n = Integer.parseInt(v.trim());
                if (n >= 0 && n <= max) return n;
            } catch (NumberFormatException e) {
                // reported below
            }
            throw new CheckpointException(h.file(), "metadata '" + key + "' must be an integer in [0, " + max + "], got '"
                    + (v.length() > 40 ? v.substring(0, 40) + "..." : v).replaceAll("\\p{Cntrl}", "?") + "'");
        }

        /** Reads parameters and moments into {@code state}; refuses non-finite values and negative second moments. */
        void load(List<Tensor> state) throws IOException {
            Map<String, Tensor> byName = new LinkedHashMap<>();
            for (Tensor t : state) byName.put(t.name(), t);
            SafeTensors.readInto(header, byName);
            Checkpoint.checkFinite(header.file(), state);
            for (Tensor t : state) {
                if (!t.name().startsWith("v.")) continue;
                for (long i = 0, n = t.numel(); i < n; i++) {
                    if (t.getFlat(i) < 0) {
                        throw new CheckpointException(header.file(), "second moment '" + t.name() + "' is negative at index " + i);
                    }
                }
            }
        }
    }

    /**
     * Before a resumed run appends to {@code metrics.jsonl}: drops a line torn by a kill and the
     * rows of steps after {@code step} (they are computed again), so the file reads as one run.
     */
    static void repairMetrics(Path metrics, int step) throws IOException {
        if (!Files.isRegularFile(metrics)) return;
        String all = Files.readString(metrics, StandardCharsets.UTF_8);
        StringBuilder kept = new StringBuilder();
        int end = all.lastIndexOf('\n') + 1;                                // a torn last line has no newline
        for (String line : all.substring(0, end).split("\n")) {
            Matcher mt = METRICS_STEP.matcher(line);
            if (line.isBlank() || (mt.find() && Long.parseLong(mt.group(1)) > step)) continue;
            kept.append(line).append('\n');
        }
        if (kept.length() != all.length()) writeAtomically(metrics, kept.toString());
    }

    private static final Pattern METRICS_STEP = Pattern.compile("^\\{\"step\":(\\d{1,18})[,}]");

    /** Writes {@code text} to {@code file} through a temp file and a rename: readers see the old or the new file. */
    static void writeAtomically(Path file, String text) throws IOException {
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE,
                    StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer b = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
                while (b.hasRemaining()) ch.write(b);
                ch.force(true);
            }
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
        } finally {
            Files.deleteIfExists(tmp);
        }
        SafeTensors.deleteStaleTemps(file);
    }

    /** The per-run loop state. */
    private final class Loop {
        final TrainConfig cfg;
        final Gpt m;
        final Workspace ws;
        final Optimizer opt;
        final CharTokenizer tok;
        final Backend backend;
        final Path runDir;
        final List<Tensor> state;
        final int[] train, val;
        final BatchSampler sampler;
        final LrSchedule schedule;
        final boolean tty = System.console() != null && System.console().isTerminal();
        double trainSeconds;
        long trainTokens;
        int skipped;
        String lastCheckpoint = "none yet";

        Loop(TrainConfig cfg, Gpt m, Workspace ws, Optimizer opt, CharTokenizer tok, Backend backend, Path runDir,
             List<Tensor> state, int[] train, int[] val) {
            this.cfg = cfg;
            this.m = m;
            this.ws = ws;
            this.opt = opt;
            this.tok = tok;
            this.backend = backend;
            this.runDir = runDir;
            this.state = state;
            this.train = train;
            this.val = val;
            this.sampler = new BatchSampler(train, cfg.seed());
            this.schedule = new LrSchedule(cfg.lr(), cfg.minLr(), cfg.warmup(), cfg.steps());
        }

        Result run(int start, long wallStart) throws IOException {
            int B = cfg.batchSize(), T = cfg.blockSize();
            double[] lastEval = {Double.NaN, Double.NaN};
            double smoothed = Double.NaN;
            if (start == 0) lastEval = evaluate(0, Double.NaN);
            for (int step = start; step < cfg.steps(); step++) {
                long t0 = System.nanoTime();
                float lr = schedule.at(step);
                m.zeroGrad();
                double loss = 0;
                boolean finite = true;
                for (int micro = 0; micro < cfg.accum(); micro++) {
                    sampler.fill(ws.tokens(), ws.targets(), B, T, step, micro);
                    float l = m.forward(ws, B, T, true);
                    if (faults.get(step + 1) == Fault.LOSS) l = Float.NaN;
                    if (!Float.isFinite(l)) { finite = false; break; }
                    m.backward(ws, B, T, 1f / cfg.accum());
                    loss += l / cfg.accum();
                }
                if (finite && faults.get(step + 1) == Fault.GRADIENT) m.grads().all().setAtIndex(ValueLayout.JAVA_FLOAT, 0, Float.NaN);
                double norm = finite ? opt.gradNorm() : Double.NaN;
                int done = step + 1;
                if (!finite || !Double.isFinite(norm)) {
                    String what = finite ? "gradient norm is " + norm : "loss is not finite";
                    if (cfg.nanPolicy() == TrainConfig.NanPolicy.STOP) {
                        throw new DivergedException("step " + done + ": " + what + "; the step was refused. Last good checkpoint: "
                                + lastCheckpoint + ". Lower --lr or use --nan-policy=skip.");
                    }
                    skipped++;
                    log.accept("step " + done + ": " + what + ", skipped (" + skipped + " so far)");
                } else {
                    if (cfg.clip() > 0 && norm > cfg.clip()) opt.scaleGrads((float) (cfg.clip() / norm));
                    opt.step(lr);
                    if (faults.get(done) == Fault.PARAMETER) m.params().all().setAtIndex(ValueLayout.JAVA_FLOAT, 0, Float.NaN);
                    double secs = (System.nanoTime() - t0) / 1e9;
                    trainSeconds += secs;
                    trainTokens += (long) B * T * cfg.accum();
                    smoothed = Double.isNaN(smoothed) ? loss : 0.9 * smoothed + 0.1 * loss;
                    double tps = trainTokens / trainSeconds;
                    progress(done, loss, smoothed, tps, lr);
                    if (done % cfg.logInterval() == 0 || done == cfg.steps()) {
                        metrics(done, lr, loss, tps, wallStart);
                    }
                }
                boolean pause = done == stopAfter && done < cfg.steps();
                if (done % cfg.evalInterval() == 0 || done == cfg.steps() || pause) {
                    lastEval = evaluate(done, loss);
                    checkpoint(done);
                }
                if (pause) {
                    if (tty) out.println();
                    out.printf("paused after step %d; continue with: leviathan train --resume %s%n", done, runDir);
                    return new Result(runDir, done, lastEval[1], lastEval[0], trainSeconds > 0 ? trainTokens / trainSeconds : 0, peakRss(),
                            (System.nanoTime() - wallStart) / 1e9, "", skipped);
                }
            }
            if (tty) out.println();
            double tps = trainSeconds > 0 ? trainTokens / trainSeconds : 0;
            String sample = "";
            if (cfg.sampleTokens() > 0) {
                try (Sampler s = new Sampler(m, backend)) {
                    int startTok = tok.tokenOf('\n') >= 0 ? tok.tokenOf('\n') : 0;
                    sample = tok.decode(s.generate(new int[] {startTok}, new Sampler.Options(cfg.sampleTokens(), 1f, 0, cfg.seed()), null));
                }
            }
            double wall = (System.nanoTime() - wallStart) / 1e9;
            long rss = peakRss();
            out.printf("final: val loss %.4f, val bpc %.4f, train loss %.4f, %,.0f tokens/s, wall %.1f s, peak RSS %s%s%n",
                    lastEval[1], lastEval[1] / Math.log(2), lastEval[0], tps, wall, rss > 0 ? (rss >> 20) + " MiB" : "n/a",
                    skipped > 0 ? ", " + skipped + " steps skipped" : "");
            out.printf("model: %s%n", runDir.resolve(MODEL_FILE));
            if (!sample.isEmpty()) out.printf("sample:%n%s%n", sample);
            return new Result(runDir, cfg.steps(), lastEval[1], lastEval[0], tps, rss, wall, sample, skipped);
        }

        /** Estimates train and val loss on {@code eval_batches} fixed batches each; returns {train, val}. */
        double[] evaluate(int done, double trainLoss) throws IOException {
            long t0 = System.nanoTime();
            int B = cfg.batchSize(), T = cfg.blockSize();
            double tr = Evaluator.estimate(m, ws, train, B, T, cfg.evalBatches(), cfg.seed() + 1);
            double va = Evaluator.estimate(m, ws, val, B, T, cfg.evalBatches(), cfg.seed() + 2);
            if (tty) out.print("\r\033[K");
            out.printf("step %5d | train %.4f | val %.4f | val bpc %.4f | %,.0f tok/s | eval %.1fs%n", done, tr, va, va / Math.log(2),
                    trainSeconds > 0 ? trainTokens / trainSeconds : 0, (System.nanoTime() - t0) / 1e9);
            metricsEval(done, tr, va);
            return new double[] {tr, va};
        }

        /**
         * Saves the model, then the resume state, each atomically. A state that is no longer finite is
         * never written: the files on disk stay the last good ones, and the run stops saying so.
         */
        void checkpoint(int done) throws IOException {
            for (Tensor t : state) {
                long i = Checkpoint.firstNonFinite(t);
                if (i >= 0) {
                    throw new DivergedException("step " + done + ": " + t.name() + " holds " + t.getFlat(i) + " at index " + i
                            + " after the update; the checkpoint was not written. Last good checkpoint: " + lastCheckpoint
                            + ". Lower --lr" + (cfg.clip() > 0 ? "" : " or set --clip") + ".");
                }
            }
            Map<String, String> extra = new LinkedHashMap<>();
            extra.put("step", Integer.toString(done));
            extra.put("optimizer", cfg.optimizer().name().toLowerCase(Locale.ROOT));
            extra.put("optimizer_steps", Integer.toString(opt.stepCount()));
            extra.put("skipped_steps", Integer.toString(skipped));
            Checkpoint.save(runDir.resolve(MODEL_FILE), m, tok, extra);
            Map<String, String> meta = new LinkedHashMap<>(Checkpoint.metadata(m.config(), tok, extra));
            meta.put("format", STATE_FORMAT);
            SafeTensors.write(runDir.resolve(STATE_FILE), meta, state);
            lastCheckpoint = checkpointName(runDir, done);
        }

        void progress(int done, double loss, double smoothed, double tps, float lr) {
            long remainingTokens = (long) (cfg.steps() - done) * cfg.batchSize() * cfg.blockSize() * cfg.accum();
            String eta = duration(remainingTokens / Math.max(1e-9, tps));
            if (tty) {
                out.printf("\r\033[Kstep %d/%d | loss %.4f (avg %.4f) | lr %.2e | %,.0f tok/s | %s left", done, cfg.steps(), loss, smoothed, lr, tps, eta);
                out.flush();
            } else if (done % cfg.logInterval() == 0) {
                out.printf("step %5d/%d | loss %.4f | lr %.2e | %,.0f tok/s | %s left%n", done, cfg.steps(), loss, lr, tps, eta);
            }
        }

        void metrics(int done, float lr, double trainLoss, double tps, long wallStart) throws IOException {
            appendMetrics(String.format(Locale.ROOT,
                    "{\"step\":%d,\"lr\":%.6g,\"train_loss\":%.6f,\"tokens_per_s\":%.1f,\"elapsed_s\":%.3f}",
                    done, lr, trainLoss, tps, (System.nanoTime() - wallStart) / 1e9));
        }

        void metricsEval(int done, double tr, double va) throws IOException {
            appendMetrics(String.format(Locale.ROOT,
                    "{\"step\":%d,\"lr\":%.6g,\"eval_train_loss\":%.6f,\"val_loss\":%.6f,\"val_bpc\":%.6f,\"tokens_per_s\":%.1f,\"train_s\":%.3f}",
                    done, schedule.at(Math.max(0, done - 1)), tr, va, va / Math.log(2),
                    trainSeconds > 0 ? trainTokens / trainSeconds : 0, trainSeconds));
        }

        void appendMetrics(String line) throws IOException {
            Files.writeString(runDir.resolve(METRICS_FILE), line + "\n", StandardCharsets.UTF_8,
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND);
        }
    }

    static String duration(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format("%dh%02dm", s / 3600, s % 3600 / 60) : s >= 60 ? String.format("%dm%02ds", s / 60, s % 60) : s + "s";
    }

    /** Peak resident set size of this process (Linux {@code VmHWM}), or -1 where unknown. */
    public static long peakRss() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: no peak figure
        }
        return -1;
    }
}
