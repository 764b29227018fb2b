package leviathan.server;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Set;
import leviathan.data.CharTokenizer;
import leviathan.model.Json;

/**
 * A validated {@code POST /v1/completions} body. Follows OpenAI's completion request; {@code top_k}
 * and {@code drop_unknown} are extensions. Parameters OpenAI defines that a character model cannot
 * honour are accepted only at their neutral value ({@code echo: false}, {@code logprobs: null},
 * penalties 0, {@code best_of: 1}, ...); anything else is a 400 naming the field.
 */
record CompletionRequest(List<String> prompts, int maxTokens, float temperature, float topP, int topK, long seed,
                         boolean seeded, List<String> stop, int n, boolean stream, boolean includeUsage, boolean dropUnknown) {

    /** OpenAI's limit on stop strings. */
    static final int MAX_STOP = 4;
    /** OpenAI's default {@code max_tokens} for completions. */
    static final int DEFAULT_MAX_TOKENS = 16;

    private static final Set<String> KNOWN = Set.of("model", "prompt", "max_tokens", "temperature", "top_p", "top_k", "seed",
            "stop", "n", "stream", "stream_options", "drop_unknown", "user", "echo", "logprobs", "best_of", "suffix",
            "presence_penalty", "frequency_penalty", "logit_bias");

    /**
     * Parses and checks {@code body}: types, ranges ({@code max_tokens <= maxTokensCap},
     * prompts × n <= maxChoices) and that every prompt character is in the vocabulary (unless
     * {@code drop_unknown}). {@code randomSeed} is used when the request has no seed.
     */
    static CompletionRequest parse(String body, CharTokenizer tokenizer, int maxTokensCap, int maxChoices, long randomSeed) throws ApiError {
        Object root;
        try {
            root = Json.parse(body);
        } catch (Json.ParseException e) {
            if (e.outOfRange()) throw ApiError.invalid(null, e.getMessage() + ": no parameter takes such a number");
            throw ApiError.invalid(null, "the request body is not valid JSON: " + e.getMessage());
        }
        if (!(root instanceof Map<?, ?> raw)) throw ApiError.invalid(null, "the request body must be a JSON object");
        @SuppressWarnings("unchecked")
        Map<String, Object> m = (Map<String, Object>) raw;
        for (String k : m.keySet()) {
            if (!KNOWN.contains(k)) throw ApiError.invalid(k, "unrecognized request argument supplied: " + k);
        }
        if (m.containsKey("model") && m.get("model") != null && !(m.get("model") instanceof String)) {
            throw ApiError.invalid("model", "'model' must be a string");
        }
        neutral(m, "echo", Boolean.FALSE, "echo is not supported");
        neutral(m, "logprobs", null, "logprobs are not supported");
        neutral(m, "suffix", null, "suffix (insertion) is not supported");
        neutralNumber(m, "best_of", 1, "best_of other than 1 is not supported");
        neutralNumber(m, "presence_penalty", 0, "presence_penalty other than 0 is not supported");
        neutralNumber(m, "frequency_penalty", 0, "frequency_penalty other than 0 is not supported");
        if (m.get("logit_bias") instanceof Map<?, ?> b && !b.isEmpty() || m.get("logit_bias") != null && !(m.get("logit_bias") instanceof Map<?, ?>)) {
            throw ApiError.invalid("logit_bias", "logit_bias is not supported");
        }
        if (m.get("user") != null && !(m.get("user") instanceof String)) throw ApiError.invalid("user", "'user' must be a string");

        List<String> prompts = new ArrayList<>();
        Object p = m.get("prompt");
        if (p == null) throw ApiError.invalid("prompt", "'prompt' is required: a string or an array of strings");
        if (p instanceof String s) {
            prompts.add(s);
        } else if (p instanceof List<?> list) {
            if (list.isEmpty()) throw ApiError.invalid("prompt", "'prompt' must not be an empty array");
            for (Object o : list) {
                if (!(o instanceof String s)) {
                    throw ApiError.invalid("prompt", "'prompt' must be a string or an array of strings (token arrays are not supported: tokens are characters, send text)");
                }
                prompts.add(s);
            }
        } else {
            throw ApiError.invalid("prompt", "'prompt' must be a string or an array of strings");
        }

        int maxTokens = (int) integer(m, "max_tokens", Math.min(DEFAULT_MAX_TOKENS, maxTokensCap), 0, maxTokensCap);
        float temperature = (float) number(m, "temperature", 1, 0, 2);
        Object tp = m.get("top_p");
        float topP = (float) number(m, "top_p", 1, 0, 1);
        if (tp != null && topP <= 0) throw ApiError.invalid("top_p", "'top_p' must be in (0, 1], got " + topP);
        int topK = (int) integer(m, "top_k", 0, 0, Integer.MAX_VALUE);
        boolean seeded = m.get("seed") != null;
        long seed = seeded ? integer(m, "seed", 0, Long.MIN_VALUE, Long.MAX_VALUE) : randomSeed;
        int n = (int) integer(m, "n", 1, 1, maxChoices);
        if ((long) n * prompts.size() > maxChoices) {
            throw ApiError.invalid("n", "prompts × n is " + (long) n * prompts.size() + ", above this server's limit of " + maxChoices + " choices per request");
        }
        boolean stream = bool(m, "stream", false);
        boolean includeUsage = false;
        Object so = m.get("stream_options");
        if (so != null) {
            if (!stream) throw ApiError.invalid("stream_options", "'stream_options' is only allowed with stream: true");
            if (!(so instanceof Map<?, ?> opts)) throw ApiError.invalid("stream_options", "'stream_options' must be an object");
            for (Object k : opts.keySet()) if (!"include_usage".equals(k)) throw ApiError.invalid("stream_options", "unrecognized stream option: " + k);
            Object iu = opts.get("include_usage");
            if (iu != null && !(iu instanceof Boolean)) throw ApiError.invalid("stream_options", "'include_usage' must be a boolean");
            includeUsage = Boolean.TRUE.equals(iu);
        }
        boolean dropUnknown = bool(m, "drop_unknown", false);

        List<String> stop = new ArrayList<>();
        Object st = m.get("stop");
        if (st instanceof String s) {
            stop.add(s);
        } else if (st instanceof List<?> list) {
            for (Object o : list) {
                if (!(o instanceof String s)) throw ApiError.invalid("stop", "'stop' must be a string or an array of strings");
                stop.add(s);
            }
        } else if (st != null) {
            throw ApiError.invalid("stop", "'stop' must be a string or an array of strings");
        }
        if (stop.size() > MAX_STOP) throw ApiError.invalid("stop", "at most " + MAX_STOP + " stop strings, got " + stop.size());
        for (String s : stop) if (s.isEmpty()) throw ApiError.invalid("stop", "a stop string must not be empty");

        for (int i = 0; i < prompts.size(); i++) {
            try {
                tokenizer.encode(prompts.get(i), dropUnknown);
            } catch (CharTokenizer.UnknownCharacterException e) {
                throw ApiError.invalid("prompt", (prompts.size() > 1 ? "prompt " + i + ": " : "") + e.what()
                        + "; remove it, or set \"drop_unknown\": true to drop such characters");
            }
        }
        return new CompletionRequest(List.copyOf(prompts), maxTokens, temperature, topP, topK, seed, seeded, List.copyOf(stop), n,
                stream, includeUsage, dropUnknown);
    }

    private static void neutral(Map<String, Object> m, String key, Object neutral, String message) throws ApiError {
        Object v = m.get(key);
        if (v != null && !v.equals(neutral)) throw ApiError.invalid(key, message);
    }

    private static void neutralNumber(Map<String, Object> m, String key, double neutral, String message) throws ApiError {
        Object v = m.get(key);
        if (v != null && (!(v instanceof Number x) || x.doubleValue() != neutral)) throw ApiError.invalid(key, message);
    }

    private static double number(Map<String, Object> m, String key, double dflt, double lo, double hi) throws ApiError {
        Object v = m.get(key);
        if (v == null) return dflt;
        if (!(v instanceof Long) && !(v instanceof Double)) throw ApiError.invalid(key, "'" + key + "' must be a number, got " + kind(v));
        double x = ((Number) v).doubleValue();
        if (!(x >= lo && x <= hi)) throw ApiError.invalid(key, "'" + key + "' must be in [" + fmt(lo) + ", " + fmt(hi) + "], got " + v);
        return x;
    }

    private static long integer(Map<String, Object> m, String key, long dflt, long lo, long hi) throws ApiError {
        Object v = m.get(key);
        if (v == null) return dflt;
        if (!(v instanceof Long x)) {
            if (v instanceof Double d && d == Math.rint(d) && Math.abs(d) < 0x1p53) return integer(Map.of(key, (long) (double) d), key, dflt, lo, hi);
            throw ApiError.invalid(key, "'" + key + "' must be an integer, got " + kind(v));
        }
        if (x < lo || x > hi) throw ApiError.invalid(key, "'" + key + "' must be in [" + lo + ", " + hi + "], got " + x);
        return x;
    }

    private static boolean bool(Map<String, Object> m, String key, boolean dflt) throws ApiError {
        Object v = m.get(key);
        if (v == null) return dflt;
        if (!(v instanceof Boolean b)) throw ApiError.invalid(key, "'" + key + "' must be a boolean, got " + kind(v));
        return b;
    }

    private static String fmt(double x) { return x == Math.rint(x) ? Long.toString((long) x) : Double.toString(x); }

    private static String kind(Object v) {
        return v instanceof String ? "a string" : v instanceof Boolean ? "a boolean" : v instanceof List<?> ? "an array"
                : v instanceof Map<?, ?> ? "an object" : v instanceof Double ? "the number " + v : String.valueOf(v);
    }
}
