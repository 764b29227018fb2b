package leviathan.train;

import java.util.LinkedHashMap;
import java.util.Map;
import leviathan.model.Json;

/**
 * Everything a training run needs. The defaults are the char-Shakespeare recipe ("the main job");
 * each has its reason beside it in {@link #defaults()}.
 */
public record TrainConfig(
        String data, String out, String initFrom, boolean dropUnknown,
        int nLayer, int nHead, int nEmbd, int blockSize, String attention, int lags,
        int batchSize, int accum, int steps, float lr, float minLr, int warmup,
        Optimizer.Kind optimizer, float beta1, float beta2, float eps, float weightDecay, float clip,
        int evalInterval, int evalBatches, int logInterval, int sampleTokens,
        long seed, int threads, String backend, String impl, NanPolicy nanPolicy, float lagBiasInit) {

    /** What a non-finite loss or gradient does: stop the run (default) or skip the step and count it. */
    public enum NanPolicy { STOP, SKIP }

    public static TrainConfig defaults() {
        return new TrainConfig(
                "tinyshakespeare",  // the dataset the recipe was tuned on
                null,               // run directory: runs/<time>-<attention> when not given
                null, false,
                4, 4, 128,          // ~0.8M parameters: trains in minutes on two cores
                64,                 // context long enough for words and short lines
                "correlation", 4,  // the project's model; 4 lags of head dim 32
                12, 1,              // 768 tokens per step: one L2-sized working set
                2000,               // where the loss curve has flattened for this size
                1e-3f, 1e-4f, 100,  // AdamW peak, cosine floor, warmup that avoids early spikes
                Optimizer.Kind.ADAMW, 0.9f, 0.99f, 1e-8f,  // beta2 0.99: small batches, faster adaptation
                0.1f,               // decoupled weight decay on 2-D weights
                1.0f,               // global-norm clip: guards against rare spikes
                250, 20,            // eval cadence and batches per split: ~1 s of eval per 250 steps
                50,                 // log line cadence when output is not a terminal
                300,                // sample length printed at the end
                1337,               // every random source is seeded
                0,                  // threads: 0 = every available core
                "auto",             // oneDNN when it loads, else the Java GEMM
                "auto",             // correlation implementation chosen by shape
                NanPolicy.STOP,
                0f);                // lag bias starts at zero, as LEVIATHAN.md specifies
    }

    /** The config without a lag-bias initialisation (zero, the spec's default). */
    public TrainConfig(String data, String out, String initFrom, boolean dropUnknown,
                       int nLayer, int nHead, int nEmbd, int blockSize, String attention, int lags,
                       int batchSize, int accum, int steps, float lr, float minLr, int warmup,
                       Optimizer.Kind optimizer, float beta1, float beta2, float eps, float weightDecay, float clip,
                       int evalInterval, int evalBatches, int logInterval, int sampleTokens,
                       long seed, int threads, String backend, String impl, NanPolicy nanPolicy) {
        this(data, out, initFrom, dropUnknown, nLayer, nHead, nEmbd, blockSize, attention, lags, batchSize, accum, steps, lr,
                minLr, warmup, optimizer, beta1, beta2, eps, weightDecay, clip, evalInterval, evalBatches, logInterval,
                sampleTokens, seed, threads, backend, impl, nanPolicy, 0f);
    }

    /** Checks values no model config can catch (the model config is checked by GptConfig). */
    public TrainConfig {
        if (attention == null) throw new IllegalArgumentException("attention is required");
        attention = attention.trim().toLowerCase(java.util.Locale.ROOT);
        leviathan.nn.Parts.mixerSpec(attention, Map.of());        // a registered mixer, or one clear error
        positive("n_layer", nLayer);
        positive("n_head", nHead);
        positive("n_embd", nEmbd);
        positive("block_size", blockSize);
        positive("batch_size", batchSize);
        positive("accum", accum);
        if (steps < 0) throw new IllegalArgumentException("steps must be >= 0, got " + steps);
        if (!(lr > 0) || !Float.isFinite(lr)) throw new IllegalArgumentException("lr must be a positive number, got " + lr);
        if (!(minLr >= 0) || minLr > lr) throw new IllegalArgumentException("min_lr must be in [0, lr], got " + minLr);
        if (warmup < 0) throw new IllegalArgumentException("warmup must be >= 0, got " + warmup);
        if (!(beta1 >= 0 && beta1 < 1) || !(beta2 >= 0 && beta2 < 1)) throw new IllegalArgumentException("betas must be in [0, 1), got " + beta1 + ", " + beta2);
        if (!(eps > 0)) throw new IllegalArgumentException("eps must be > 0, got " + eps);
        if (!(weightDecay >= 0)) throw new IllegalArgumentException("weight_decay must be >= 0, got " + weightDecay);
        if (!(clip >= 0)) throw new IllegalArgumentException("clip must be >= 0 (0 disables it), got " + clip);
        positive("eval_interval", evalInterval);
        positive("eval_batches", evalBatches);
        positive("log_interval", logInterval);
        if (sampleTokens < 0) throw new IllegalArgumentException("sample_tokens must be >= 0, got " + sampleTokens);
        if (!Float.isFinite(lagBiasInit)) throw new IllegalArgumentException("lag_bias_init must be a finite number, got " + lagBiasInit);
        if (threads < 0) throw new IllegalArgumentException("threads must be >= 0 (0 = all cores), got " + threads);
        if ((long) batchSize * blockSize > 1L << 24) throw new IllegalArgumentException("batch_size·block_size = " + (long) batchSize * blockSize + " is too large (max 2^24 tokens per micro-batch)");
    }

    private static void positive(String name, int v) {
        if (v < 1) throw new IllegalArgumentException(name + " must be >= 1, got " + v);
    }

    /** The config as ordered key/value pairs (written to the run directory as JSON). */
    public Map<String, Object> toMap() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("data", data);
        m.put("out", out);
        m.put("init_from", initFrom);
        m.put("drop_unknown", dropUnknown);
        m.put("n_layer", nLayer);
        m.put("n_head", nHead);
        m.put("n_embd", nEmbd);
        m.put("block_size", blockSize);
        m.put("attention", attention);
        m.put("lags", "dot".equals(attention) ? 1 : lags);
        m.put("batch_size", batchSize);
        m.put("accum", accum);
        m.put("steps", steps);
        m.put("lr", lr);
        m.put("min_lr", minLr);
        m.put("warmup", warmup);
        m.put("optimizer", optimizer.name().toLowerCase(java.util.Locale.ROOT));
        m.put("beta1", beta1);
        m.put("beta2", beta2);
        m.put("eps", eps);
        m.put("weight_decay", weightDecay);
        m.put("clip", clip);
        m.put("eval_interval", evalInterval);
        m.put("eval_batches", evalBatches);
        m.put("log_interval", logInterval);
        m.put("sample_tokens", sampleTokens);
        m.put("seed", seed);
        m.put("threads", threads);
        m.put("backend", backend);
        m.put("impl", impl);
        m.put("nan_policy", nanPolicy.name().toLowerCase(java.util.Locale.ROOT));
        m.put("lag_bias_init", lagBiasInit);
        return m;
    }

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

    /** Reads a config written by {@link #toJson()}; unknown keys are an error. */
    public static TrainConfig fromJson(String json) {
        Object root;
        try {
            root = Json.parse(json);
        } catch (Json.ParseException e) {
            throw new IllegalArgumentException("config is not valid JSON: " + e.getMessage());
        }
        if (!(root instanceof Map<?, ?> m)) throw new IllegalArgumentException("config is not a JSON object");
        Map<String, Object> d = defaults().toMap();
        for (var e : m.entrySet()) {
            if (!d.containsKey((String) e.getKey())) throw new IllegalArgumentException("unknown config key '" + e.getKey() + "'");
            d.put((String) e.getKey(), e.getValue());
        }
        return new TrainConfig(str(d, "data"), str(d, "out"), str(d, "init_from"), (Boolean) d.get("drop_unknown"),
                i(d, "n_layer"), i(d, "n_head"), i(d, "n_embd"), i(d, "block_size"), str(d, "attention"),
                i(d, "lags"), i(d, "batch_size"), i(d, "accum"), i(d, "steps"), f(d, "lr"), f(d, "min_lr"), i(d, "warmup"),
                Optimizer.Kind.parse(str(d, "optimizer")), f(d, "beta1"), f(d, "beta2"), f(d, "eps"), f(d, "weight_decay"),
                f(d, "clip"), i(d, "eval_interval"), i(d, "eval_batches"), i(d, "log_interval"), i(d, "sample_tokens"),
                ((Number) d.get("seed")).longValue(), i(d, "threads"), str(d, "backend"), str(d, "impl"),
                NanPolicy.valueOf(str(d, "nan_policy").toUpperCase(java.util.Locale.ROOT)), f(d, "lag_bias_init"));
    }

    private static String str(Map<String, Object> d, String k) { return d.get(k) == null ? null : d.get(k).toString(); }

    private static int i(Map<String, Object> d, String k) { return ((Number) d.get(k)).intValue(); }

    private static float f(Map<String, Object> d, String k) { return ((Number) d.get(k)).floatValue(); }

    /** A copy with other values, for the few fields the command line changes after the fact. */
    public TrainConfig withSteps(int newSteps) {
        return new TrainConfig(data, out, initFrom, dropUnknown, nLayer, nHead, nEmbd, blockSize, attention, lags, batchSize,
                accum, newSteps, lr, minLr, warmup, optimizer, beta1, beta2, eps, weightDecay, clip, evalInterval, evalBatches,
                logInterval, sampleTokens, seed, threads, backend, impl, nanPolicy, lagBiasInit);
    }

    public TrainConfig withOut(String newOut) {
        return new TrainConfig(data, newOut, initFrom, dropUnknown, nLayer, nHead, nEmbd, blockSize, attention, lags, batchSize,
                accum, steps, lr, minLr, warmup, optimizer, beta1, beta2, eps, weightDecay, clip, evalInterval, evalBatches,
                logInterval, sampleTokens, seed, threads, backend, impl, nanPolicy, lagBiasInit);
    }
}
