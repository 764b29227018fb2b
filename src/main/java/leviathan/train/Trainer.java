package leviathan.train;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
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
import leviathan.model.SafeTensors;
import leviathan.model.Workspace;
import leviathan.nn.CorrelationAttention;
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
            METRICS_FILE = "metrics.jsonl", STATE_FORMAT = "leviathan-train-1";

    private final Consumer<String> log;
    private final PrintStream out;
    private int stopAfter = Integer.MAX_VALUE;

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

    /** Starts a new run. */
    public Result train(TrainConfig cfg) throws IOException {
        return run(cfg, null);
    }

    /** Continues the run in {@code runDir}; {@code steps} (if > 0) replaces the configured total. */
    public Result resume(Path runDir, int steps) throws IOException {
        Path cfgFile = runDir.resolve(CONFIG_FILE);
        if (!Files.isRegularFile(cfgFile)) throw new IOException("cannot resume: " + cfgFile + " not found (is " + runDir + " a run directory?)");
        TrainConfig cfg = TrainConfig.fromJson(Files.readString(cfgFile)).withOut(runDir.toString());
        if (steps > 0) cfg = cfg.withSteps(steps);
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
        SafeTensors.Header stateHeader = null;
        if (resumeState != null) {
            stateHeader = SafeTensors.readHeader(resumeState);
            if (!STATE_FORMAT.equals(stateHeader.metadata().get("format"))) {
                throw new CheckpointException(resumeState, "not a training state file (format " + stateHeader.metadata().get("format") + ")");
            }
            tok = CharTokenizer.fromVocab(stateHeader.metadata().getOrDefault("vocab", ""));
            model = Gpt.empty(modelConfig(cfg, tok.vocabSize()));
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
            model = Gpt.init(modelConfig(cfg, tok.vocabSize()), cfg.seed());
        }
        int[] ids = tok.encode(text, cfg.dropUnknown());
        TextDataset data = new TextDataset(dataFile.getFileName().toString(), ids);
        int[] train = data.tokens(TextDataset.Split.TRAIN), val = data.tokens(TextDataset.Split.VAL);
        int B = cfg.batchSize(), T = cfg.blockSize();
        if (train.length < T + 1 || val.length < T + 1) {
            model.close();
            throw new IllegalArgumentException(dataFile + " has " + ids.length + " characters: too short for block_size " + T
                    + " (each split needs at least block_size + 1 = " + (T + 1) + "); use a longer text or a smaller --block-size");
        }

        Path runDir = cfg.out() != null ? Path.of(cfg.out()) : Datasets.home().resolve("runs").resolve(
                LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")) + "-" + cfg.attention().id()
                        + (cfg.attention() == GptConfig.Attention.DOT ? "" : "-lags" + cfg.lags()));
        Files.createDirectories(runDir);
        if (resumeState == null && Files.exists(runDir.resolve(STATE_FILE))) {
            model.close();
            throw new IOException(runDir + " already holds a run; continue it with --resume " + runDir + " or choose another --out");
        }
        Files.writeString(runDir.resolve(CONFIG_FILE), cfg.toJson(), StandardCharsets.UTF_8);

        CorrelationAttention.Impl impl = CorrelationAttention.Impl.valueOf(cfg.impl().toUpperCase(Locale.ROOT));
        try (Backend backend = Backends.select(cfg.backend(), log);
             Gpt m = model;
             Workspace ws = m.workspace(backend, B, T, true, impl);
             Optimizer opt = new Optimizer(m, cfg.optimizer(), cfg.beta1(), cfg.beta2(), cfg.eps(), cfg.weightDecay())) {
            List<Tensor> state = stateTensors(m, opt);
            int start = 0;
            if (stateHeader != null) {
                Map<String, Tensor> byName = new LinkedHashMap<>();
                for (Tensor t : state) byName.put(t.name(), t);
                for (String n : byName.keySet()) {
                    if (!stateHeader.entries().containsKey(n)) throw new CheckpointException(resumeState, "tensor '" + n + "' missing: the state does not match config.json");
                }
                SafeTensors.readInto(stateHeader, byName);
                start = Integer.parseInt(stateHeader.metadata().get("step"));
                opt.setStepCount(start);
                log.accept("resumed " + runDir + " at step " + start);
            }
            out.printf("run: %s%n", runDir);
            out.printf("config: %s%n", cfg.toJson().replaceAll("\\s+", " ").trim());
            out.printf("model: %s attention, lags %d, %d layers, %d heads, n_embd %d, block %d, vocab %d: %,d parameters%n",
                    cfg.attention().id(), m.config().lags(), cfg.nLayer(), cfg.nHead(), cfg.nEmbd(), T, tok.vocabSize(), m.parameterCount());
            out.printf("data: %s, %,d characters (%,d train, %,d val); backend %s; %d threads%n",
                    dataFile, ids.length, train.length, val.length, backend.describe(), Parallel.threads());

            Loop loop = new Loop(cfg, m, ws, opt, tok, backend, runDir, state, train, val);
            return loop.run(start, wallStart);
        }
    }

    private static GptConfig modelConfig(TrainConfig c, int vocab) {
        return new GptConfig(vocab, c.blockSize(), c.nLayer(), c.nHead(), c.nEmbd(), c.attention(), c.lags());
    }

    /** Parameters and both moments, named for the state file. */
    private static List<Tensor> stateTensors(Gpt m, Optimizer opt) {
        List<Tensor> l = new ArrayList<>();
        for (Tensor p : m.params().tensors().values()) l.add(Tensor.of("param." + p.name(), p.segment(), p.shape()));
        for (Tensor p : opt.firstMoments().tensors().values()) l.add(Tensor.of("m." + p.name(), p.segment(), p.shape()));
        for (Tensor p : opt.secondMoments().tensors().values()) l.add(Tensor.of("v." + p.name(), p.segment(), p.shape()));
        return l;
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
                    if (!Float.isFinite(l)) { finite = false; break; }
                    m.backward(ws, B, T, 1f / cfg.accum());
                    loss += l / cfg.accum();
                }
                double norm = finite ? opt.gradNorm() : Double.NaN;
                if (!finite || !Double.isFinite(norm)) {
                    String what = finite ? "gradient norm is " + norm : "loss is not finite";
                    if (cfg.nanPolicy() == TrainConfig.NanPolicy.STOP) {
                        throw new DivergedException("step " + (step + 1) + ": " + what + "; the step was refused. Last good checkpoint: "
                                + lastCheckpoint + ". Lower --lr or use --nan-policy=skip.");
                    }
                    skipped++;
                    log.accept("step " + (step + 1) + ": " + what + ", skipped (" + skipped + " so far)");
                    continue;
                }
                if (cfg.clip() > 0 && norm > cfg.clip()) opt.scaleGrads((float) (cfg.clip() / norm));
                opt.step(lr);
                double secs = (System.nanoTime() - t0) / 1e9;
                trainSeconds += secs;
                trainTokens += (long) B * T * cfg.accum();
                int done = step + 1;
                smoothed = Double.isNaN(smoothed) ? loss : 0.9 * smoothed + 0.1 * loss;
                double tps = trainTokens / trainSeconds;
                progress(done, loss, smoothed, tps, lr);
                if (done % cfg.logInterval() == 0 || done == cfg.steps()) {
                    metrics(done, lr, loss, tps, wallStart);
                }
                boolean pause = done == stopAfter && done < cfg.steps();
                if (done % cfg.evalInterval() == 0 || done == cfg.steps() || pause) {
                    lastEval = evaluate(done, loss);
                    checkpoint(done);
                }
                if (pause) {
                    if (tty) out.println();
                    out.printf("paused after step %d; continue with: leviathan train --resume %s%n", done, runDir);
                    return new Result(runDir, done, lastEval[1], lastEval[0], trainTokens / trainSeconds, peakRss(),
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

        void checkpoint(int done) throws IOException {
            Map<String, String> extra = new LinkedHashMap<>();
            extra.put("step", Integer.toString(done));
            extra.put("optimizer", cfg.optimizer().name().toLowerCase(Locale.ROOT));
            Checkpoint.save(runDir.resolve(MODEL_FILE), m, tok, extra);
            Map<String, String> meta = new LinkedHashMap<>(Checkpoint.metadata(m.config(), tok, extra));
            meta.put("format", STATE_FORMAT);
            SafeTensors.write(runDir.resolve(STATE_FILE), meta, state);
            lastCheckpoint = runDir.resolve(MODEL_FILE) + " (step " + done + ")";
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
