package leviathan.train;

import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.regex.Pattern;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.nn.Parts;
import leviathan.nn.RunOptions;
import leviathan.model.Json;

/**
 * Everything a training run needs, in four groups: the model, the optimizer, the schedule (how
 * many steps of what size at what rate) and the run (data, files, cadence, machine). Built by name
 * with {@link #builder()} or changed with {@link #toBuilder()}; the defaults are the
 * char-Shakespeare recipe ("the main job"), each with its reason beside it in {@link Builder}.
 *
 * <p>{@code config.json} keeps one flat object (as every earlier version wrote it); a key that is
 * not a field of a group is an option of a model part (e.g. {@code lags}), checked by
 * {@link ModelGroup#toGptConfig}.
 */
public record TrainConfig(ModelGroup model, OptimizerGroup optimizer, ScheduleGroup schedule, RunGroup run) {

    /** What a non-finite loss or gradient does: stop the run (default) or skip the step and count it. */
    public enum NanPolicy { STOP, SKIP }

    /** The default number of optimizer steps (a constant so that {@code train --help} can show it). */
    public static final int DEFAULT_STEPS = 2000;

    public TrainConfig {
        if (model == null || optimizer == null || schedule == null || run == null) throw new IllegalArgumentException("every group is required");
        String impl = model.options().get("impl");
        if (optimizer.dropout() > 0 && impl != null && !java.util.Set.of("auto", "direct", "scalar").contains(impl)) {
            throw new IllegalArgumentException(leviathan.nn.CorrelationAttention.dropRefusal(leviathan.nn.CorrelationAttention.Impl.parse(impl)));
        }
        if ((long) schedule.batchSize() * model.blockSize() > 1L << 24) {
            throw new IllegalArgumentException("batch_size·block_size = " + (long) schedule.batchSize() * model.blockSize()
                    + " is too large (max 2^24 tokens per micro-batch)");
        }
    }

    /**
     * The model: token mixer kind ({@code attention}: one kind, or one per layer comma-separated),
     * MLP kind ({@code mlp}), sizes, and the options of its parts by key (model options such as
     * {@code lags}, {@code window}, {@code n_expert}; run options such as {@code impl},
     * {@code lag_bias_init}, {@code moe_balance}). The registered parts ({@link Parts}) declare
     * which keys exist, their bounds and defaults: the group checks every value against them and
     * holds every option of its parts, given or defaulted, so {@code config.json} records them all.
     */
    public record ModelGroup(String attention, String mlp, int nLayer, int nHead, int nEmbd, int blockSize, Map<String, String> options) {
        public ModelGroup {
            if (attention == null || attention.isBlank()) throw new IllegalArgumentException("attention is required");
            if (mlp == null || mlp.isBlank()) throw new IllegalArgumentException("mlp is required");
            positive("n_layer", nLayer);
            positive("n_head", nHead);
            positive("n_embd", nEmbd);
            positive("block_size", blockSize);
            options = Collections.unmodifiableMap(effective(attention, mlp, nLayer, nHead, nEmbd, blockSize, options == null ? Map.of() : options));
        }

        /** Every option the group's parts read: the given ones checked, the rest at their declared defaults. */
        private static Map<String, String> effective(String attention, String mlp, int nLayer, int nHead, int nEmbd, int blockSize,
                                                     Map<String, String> given) {
            Map<String, String> checked = Parts.check(given);
            GptConfig c = new GptConfig(1, blockSize, nLayer, nHead, nEmbd, Parts.mixerStack(attention, nLayer, checked), Parts.mlpSpec(mlp, checked));
            Map<String, String> all = new LinkedHashMap<>(c.mixerOptions());
            all.putAll(c.mlp().options());
            java.util.Set<String> kinds = new java.util.LinkedHashSet<>();
            for (var spec : c.mixers()) kinds.add(spec.kind());
            for (String kind : kinds) runDefaults(Parts.mixers().get(kind).options(), checked, all);
            runDefaults(Parts.mlps().get(c.mlp().kind()).options(), checked, all);
            checked.forEach(all::putIfAbsent);                       // options of parts this model does not use stay as given
            return all;
        }

        private static void runDefaults(java.util.List<leviathan.nn.PartOption> declared, Map<String, String> checked, Map<String, String> all) {
            for (var o : declared) {
                if (o.scope() != leviathan.nn.PartOption.Scope.RUN) continue;
                String v = checked.get(o.key());
                all.put(o.key(), v != null ? v : o.check(o.defaultValue()));
            }
        }

        /** The model config for a vocabulary of {@code vocab} characters. */
        public GptConfig toGptConfig(int vocab) {
            return new GptConfig(vocab, blockSize, nLayer, nHead, nEmbd, Parts.mixerStack(attention, nLayer, options), Parts.mlpSpec(mlp, options));
        }

        /** The options that steer the parts without being stored in the model (impl, lag_bias_init, moe_balance, ...). */
        public RunOptions runOptions() { return Parts.runOptions(options); }

        /** A freshly initialised model of this group for {@code vocab} characters. */
        public Gpt init(int vocab, long seed) {
            return Gpt.init(toGptConfig(vocab), seed, runOptions());
        }

        /** The group that describes {@code c} (a checkpoint's model), keeping this group's run options. */
        public ModelGroup describing(GptConfig c) {
            Map<String, String> o = new LinkedHashMap<>(runOptions().values());
            o.putAll(c.mixerOptions());
            o.putAll(c.mlp().options());
            return new ModelGroup(c.attention(), c.mlp().kind(), c.nLayer(), c.nHead(), c.nEmbd(), c.blockSize(), o);
        }
    }

    /**
     * How gradients become updates, and the regularisation around them: AdamW or SGD, moments,
     * decoupled weight decay, global-norm clip (0 = off), and dropout (LEVIATHAN.md: training
     * forward passes only, never stored in the model; 0 = off).
     */
    public record OptimizerGroup(Optimizer.Kind kind, float beta1, float beta2, float eps, float weightDecay, float clip, float dropout) {
        public OptimizerGroup {
            if (kind == null) throw new IllegalArgumentException("optimizer is required");
            if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) throw new IllegalArgumentException("betas must be in [0, 1), got " + beta1 + ", " + beta2);
            if (!(eps > 0)) throw new IllegalArgumentException("eps must be > 0, got " + eps);
            if (!(weightDecay >= 0)) throw new IllegalArgumentException("weight_decay must be >= 0, got " + weightDecay);
            if (!(clip >= 0)) throw new IllegalArgumentException("clip must be >= 0 (0 disables it), got " + clip);
            if (!(dropout >= 0 && dropout < 1)) throw new IllegalArgumentException("dropout must be in [0, 1) (0 disables it), got " + dropout);
        }
    }

    /**
     * How long and how fast: total steps, micro-batch size and count per step, peak and floor
     * learning rate, warmup, and a wall-clock budget in seconds (0 = none). A budgeted run starts
     * with {@code steps} 0: the trainer measures its throughput during the warmup and fixes the
     * steps that fit ({@link TrainingLoop}), and the run's config records them.
     */
    public record ScheduleGroup(int steps, int batchSize, int accum, float lr, float minLr, int warmup, double timeBudget) {
        /** Warmup steps a time budget needs: the step count is fixed while the learning rate does not depend on it. */
        public static final int BUDGET_WARMUP = 10;

        public ScheduleGroup {
            if (steps < 0) throw new IllegalArgumentException("steps must be >= 0, got " + steps);
            if (!(timeBudget >= 0) || !Double.isFinite(timeBudget)) throw new IllegalArgumentException("time budget must be >= 0 seconds, got " + timeBudget);
            if (timeBudget > 0 && warmup < BUDGET_WARMUP) {
                throw new IllegalArgumentException("a time budget fixes the step count during the learning-rate warmup: use --warmup >= "
                        + BUDGET_WARMUP + ", got " + warmup);
            }
            positive("batch_size", batchSize);
            positive("accum", accum);
            if (!(lr > 0) || !Float.isFinite(lr)) throw new IllegalArgumentException("lr must be a positive number, got " + lr);
            if (!(minLr >= 0) || minLr > lr) throw new IllegalArgumentException("min_lr must be in [0, lr], got " + minLr);
            if (warmup < 0) throw new IllegalArgumentException("warmup must be >= 0, got " + warmup);
        }

        /** Whether the step count is still to be fixed from the time budget. */
        public boolean budgeted() { return timeBudget > 0 && steps == 0; }

        /** Tokens one optimizer step consumes. */
        public long tokensPerStep(int blockSize) { return (long) batchSize * blockSize * accum; }
    }

    /** Where and how: data, run directory, starting weights, evaluation and log cadence, seed, threads, backend. */
    public record RunGroup(String data, String out, String initFrom, boolean dropUnknown, int evalInterval, int evalBatches,
                           int logInterval, int sampleTokens, long seed, int threads, String backend, NanPolicy nanPolicy,
                           String precision) {
        public RunGroup {
            leviathan.backend.Precision.parse(precision);            // fp32 or bf16, else one clear error
            positive("eval_interval", evalInterval);
            positive("eval_batches", evalBatches);
            positive("log_interval", logInterval);
            if (sampleTokens < 0) throw new IllegalArgumentException("sample_tokens must be >= 0, got " + sampleTokens);
            if (threads < 0) throw new IllegalArgumentException("threads must be >= 0 (0 = all cores), got " + threads);
            if (nanPolicy == null) throw new IllegalArgumentException("nan_policy is required");
        }
    }

    private static void positive(String name, int v) {
        if (v < 1) throw new IllegalArgumentException(name + " must be >= 1, got " + v);
    }

    /** The char-Shakespeare recipe. */
    public static TrainConfig defaults() { return builder().build(); }

    /** A builder holding the defaults. */
    public static Builder builder() { return new Builder(); }

    /** A builder holding this config's values. */
    public Builder toBuilder() {
        Builder b = new Builder();
        b.options.clear();
        b.options.putAll(model.options());
        b.attention = model.attention(); b.mlp = model.mlp(); b.nLayer = model.nLayer(); b.nHead = model.nHead();
        b.nEmbd = model.nEmbd(); b.blockSize = model.blockSize();
        b.optimizer = optimizer.kind(); b.beta1 = optimizer.beta1(); b.beta2 = optimizer.beta2(); b.eps = optimizer.eps();
        b.weightDecay = optimizer.weightDecay(); b.clip = optimizer.clip(); b.dropout = optimizer.dropout();
        b.steps = schedule.steps(); b.batchSize = schedule.batchSize(); b.accum = schedule.accum(); b.lr = schedule.lr();
        b.minLr = schedule.minLr(); b.warmup = schedule.warmup(); b.timeBudget = schedule.timeBudget();
        b.data = run.data(); b.out = run.out(); b.initFrom = run.initFrom(); b.dropUnknown = run.dropUnknown();
        b.evalInterval = run.evalInterval(); b.evalBatches = run.evalBatches(); b.logInterval = run.logInterval();
        b.sampleTokens = run.sampleTokens(); b.seed = run.seed(); b.threads = run.threads(); b.backend = run.backend();
        b.nanPolicy = run.nanPolicy(); b.precision = run.precision();
        return b;
    }

    /** A copy with {@code steps} total steps. */
    public TrainConfig withSteps(int steps) { return toBuilder().steps(steps).build(); }

    /** A copy writing to the run directory {@code out}. */
    public TrainConfig withOut(String out) { return toBuilder().out(out).build(); }

    /** A copy with the model group {@code m}. */
    public TrainConfig withModel(ModelGroup m) { return new TrainConfig(m, optimizer, schedule, run); }

    /** Values by name; {@link #build()} checks them. */
    public static final class Builder {
        private String attention = "correlation";      // the project's model
        private String mlp = "dense";                   // the GPT-2 MLP
        private int nLayer = 4, nHead = 4, nEmbd = 128; // ~0.8M parameters: trains in minutes on two cores
        private int blockSize = 64;                     // context long enough for words and short lines
        private final Map<String, String> options = new LinkedHashMap<>();   // part options: each part declares its defaults
        private Optimizer.Kind optimizer = Optimizer.Kind.ADAMW;
        private float beta1 = 0.9f, beta2 = 0.99f, eps = 1e-8f;  // beta2 0.99: small batches, faster adaptation
        private float weightDecay = 0.1f;              // decoupled weight decay on 2-D weights
        private float clip = 1.0f;                     // global-norm clip: guards against rare spikes
        private float dropout = 0f;                    // off, as in the reference runs (LEVIATHAN.md)
        private int steps = DEFAULT_STEPS;             // where the loss curve has flattened for this size
        private int batchSize = 12, accum = 1;         // 768 tokens per step: one L2-sized working set
        private float lr = 1e-3f, minLr = 1e-4f;       // AdamW peak and cosine floor
        private int warmup = 100;                      // warmup that avoids early spikes
        private double timeBudget = 0;                 // seconds; 0: the run is as long as its steps
        private String data = "tinyshakespeare";       // the dataset the recipe was tuned on
        private String out, initFrom;                  // run directory: runs/<time>-<attention> when not given
        private boolean dropUnknown;
        private int evalInterval = 250, evalBatches = 20;  // ~1 s of eval per 250 steps
        private int logInterval = 50;                  // log line cadence when output is not a terminal
        private int sampleTokens = 300;                // sample length printed at the end
        private long seed = 1337;                      // every random source is seeded
        private int threads = 0;                       // 0 = every available core
        private String backend = "auto";               // oneDNN when it loads, else the Java GEMM
        private String precision = "fp32";             // GEMM inputs; bf16 where oneDNN and the CPU accelerate it
        private NanPolicy nanPolicy = NanPolicy.STOP;

        private Builder() {}

        public Builder attention(String v) { attention = v; return this; }
        public Builder mlp(String v) { mlp = v; return this; }
        public Builder nLayer(int v) { nLayer = v; return this; }
        public Builder nHead(int v) { nHead = v; return this; }
        public Builder nEmbd(int v) { nEmbd = v; return this; }
        public Builder blockSize(int v) { blockSize = v; return this; }
        /** Sets a part option (e.g. {@code lags}, {@code impl}, {@code lag_bias_init}); null removes it. */
        public Builder option(String key, Object value) {
            if (value == null) options.remove(key);
            else options.put(key, value.toString());
            return this;
        }
        public Builder optimizer(Optimizer.Kind v) { optimizer = v; return this; }
        public Builder beta1(float v) { beta1 = v; return this; }
        public Builder beta2(float v) { beta2 = v; return this; }
        public Builder eps(float v) { eps = v; return this; }
        public Builder weightDecay(float v) { weightDecay = v; return this; }
        public Builder clip(float v) { clip = v; return this; }
        public Builder dropout(float v) { dropout = v; return this; }
        public Builder steps(int v) { steps = v; return this; }
        public Builder batchSize(int v) { batchSize = v; return this; }
        public Builder accum(int v) { accum = v; return this; }
        public Builder lr(float v) { lr = v; return this; }
        public Builder minLr(float v) { minLr = v; return this; }
        public Builder warmup(int v) { warmup = v; return this; }
        /** A wall-clock budget in seconds (with {@code steps(0)}: the trainer fixes the steps that fit). */
        public Builder timeBudget(double seconds) { timeBudget = seconds; return this; }
        public Builder data(String v) { data = v; return this; }
        public Builder out(String v) { out = v; return this; }
        public Builder initFrom(String v) { initFrom = v; return this; }
        public Builder dropUnknown(boolean v) { dropUnknown = v; return this; }
        public Builder evalInterval(int v) { evalInterval = v; return this; }
        public Builder evalBatches(int v) { evalBatches = v; return this; }
        public Builder logInterval(int v) { logInterval = v; return this; }
        public Builder sampleTokens(int v) { sampleTokens = v; return this; }
        public Builder seed(long v) { seed = v; return this; }
        public Builder threads(int v) { threads = v; return this; }
        public Builder backend(String v) { backend = v; return this; }
        public Builder precision(String v) { precision = v; return this; }
        public Builder nanPolicy(NanPolicy v) { nanPolicy = v; return this; }

        /** The config; each group checks its values. */
        public TrainConfig build() {
            return new TrainConfig(new ModelGroup(attention, mlp, nLayer, nHead, nEmbd, blockSize, options),
                    new OptimizerGroup(optimizer, beta1, beta2, eps, weightDecay, clip, dropout),
                    new ScheduleGroup(steps, batchSize, accum, lr, minLr, warmup, timeBudget),
                    new RunGroup(data, out, initFrom, dropUnknown, evalInterval, evalBatches, logInterval, sampleTokens, seed,
                            threads, backend, nanPolicy, precision));
        }
    }

    /** The config as ordered flat key/value pairs (written to the run directory as JSON); model options follow {@code mlp}. */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("data", run.data());
        m.put("out", run.out());
        m.put("init_from", run.initFrom());
        m.put("drop_unknown", run.dropUnknown());
        m.put("n_layer", model.nLayer());
        m.put("n_head", model.nHead());
        m.put("n_embd", model.nEmbd());
        m.put("block_size", model.blockSize());
        m.put("attention", model.attention());
        m.put("mlp", model.mlp());
        model.options().forEach((k, v) -> m.put(k, NUMBER.matcher(v).matches() ? new Raw(v) : v));
        m.put("batch_size", schedule.batchSize());
        m.put("accum", schedule.accum());
        m.put("steps", schedule.steps());
        m.put("lr", schedule.lr());
        m.put("min_lr", schedule.minLr());
        m.put("warmup", schedule.warmup());
        m.put("time_budget_s", schedule.timeBudget());
        m.put("optimizer", optimizer.kind().name().toLowerCase(Locale.ROOT));
        m.put("beta1", optimizer.beta1());
        m.put("beta2", optimizer.beta2());
        m.put("eps", optimizer.eps());
        m.put("weight_decay", optimizer.weightDecay());
        m.put("clip", optimizer.clip());
        m.put("dropout", optimizer.dropout());
        m.put("eval_interval", run.evalInterval());
        m.put("eval_batches", run.evalBatches());
        m.put("log_interval", run.logInterval());
        m.put("sample_tokens", run.sampleTokens());
        m.put("seed", run.seed());
        m.put("threads", run.threads());
        m.put("backend", run.backend());
        m.put("precision", run.precision());
        m.put("nan_policy", run.nanPolicy().name().toLowerCase(Locale.ROOT));
        return m;
    }

    /** A JSON number kept as written. */
    private record Raw(String text) {
        @Override
        public String toString() { return text; }
    }

    private static final Pattern NUMBER = Pattern.compile("-?(0|[1-9]\\d{0,17})(\\.\\d+)?([eE][+-]?\\d{1,3})?");

    /** {@link #toMap()} as the indented JSON object of {@code config.json}. */
    public String toJson() {
        StringBuilder sb = new StringBuilder("{\n");
        var it = toMap().entrySet().iterator();
        while (it.hasNext()) {
            var e = it.next();
            sb.append("  ");
            Json.quote(sb, e.getKey());
            sb.append(": ");
            Object v = e.getValue();
            if (v == null) sb.append("null");
            else if (v instanceof String s) Json.quote(sb, s);
            else sb.append(v);
            sb.append(it.hasNext() ? ",\n" : "\n");
        }
        return sb.append("}\n").toString();
    }

    /**
     * Reads a config written by {@link #toJson()} or by an earlier version (flat keys, {@code lags}
     * and {@code lag_bias_init} among them); keys that are not fields become model options.
     */
    public static TrainConfig fromJson(String json) {
        Object root;
        try {
            root = Json.parse(json);
        } catch (Json.ParseException e) {
            throw new IllegalArgumentException("config is not valid JSON: " + e.getMessage());
        }
        if (!(root instanceof Map<?, ?> m)) throw new IllegalArgumentException("config is not a JSON object");
        Map<String, Object> d = defaults().toMap();
        d.keySet().removeAll(defaults().model().options().keySet());
        Map<String, String> options = new LinkedHashMap<>();
        for (var e : m.entrySet()) {
            String k = (String) e.getKey();
            if (d.containsKey(k)) d.put(k, e.getValue());
            else if (e.getValue() instanceof String || e.getValue() instanceof Number || e.getValue() instanceof Boolean) options.put(k, e.getValue().toString());
            else throw new IllegalArgumentException("config key '" + k + "' must be a string or a number");
        }
        Builder b = builder().attention(str(d, "attention")).mlp(str(d, "mlp")).nLayer(i(d, "n_layer")).nHead(i(d, "n_head"))
                .nEmbd(i(d, "n_embd")).blockSize(i(d, "block_size"));
        b.options.clear();
        b.options.putAll(options);
        return b.batchSize(i(d, "batch_size")).accum(i(d, "accum")).steps(i(d, "steps")).lr(f(d, "lr")).minLr(f(d, "min_lr"))
                .warmup(i(d, "warmup")).timeBudget(((Number) d.get("time_budget_s")).doubleValue()).optimizer(Optimizer.Kind.parse(str(d, "optimizer"))).beta1(f(d, "beta1")).beta2(f(d, "beta2"))
                .eps(f(d, "eps")).weightDecay(f(d, "weight_decay")).clip(f(d, "clip")).dropout(f(d, "dropout")).data(str(d, "data")).out(str(d, "out"))
                .initFrom(str(d, "init_from")).dropUnknown((Boolean) d.get("drop_unknown")).evalInterval(i(d, "eval_interval"))
                .evalBatches(i(d, "eval_batches")).logInterval(i(d, "log_interval")).sampleTokens(i(d, "sample_tokens"))
                .seed(((Number) d.get("seed")).longValue()).threads(i(d, "threads")).backend(str(d, "backend")).precision(str(d, "precision"))
                .nanPolicy(NanPolicy.valueOf(str(d, "nan_policy").toUpperCase(Locale.ROOT))).build();
    }

    private static String str(Map<String, Object> d, String k) { return d.get(k) == null ? null : d.get(k).toString(); }

    private static int i(Map<String, Object> d, String k) { return ((Number) d.get(k)).intValue(); }

    private static float f(Map<String, Object> d, String k) { return ((Number) d.get(k)).floatValue(); }
}
