package leviathan.train;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.SplittableRandom;
import java.util.function.IntConsumer;
import leviathan.backend.Backend;
import leviathan.model.Gpt;
import leviathan.model.Workspace;

/**
 * Autoregressive generation with a key/value cache: while the context is shorter than
 * {@code block_size}, each new token runs the model on its own row only (the workspace keeps every
 * earlier row's activations, so attention costs O(T) per token). Once the context is full, the
 * model conditions on the last {@code block_size} tokens, whose positions shift every step, so each
 * step re-runs those {@code block_size} rows. One sampler per thread; the model may be shared.
 */
public final class Sampler implements AutoCloseable {
    private final Gpt model;
    private final Workspace ws;
    private final int blockSize, V;
    private final double[] probs;
    private final Integer[] order;

    public Sampler(Gpt model, Backend backend) {
        this.model = model;
        this.blockSize = model.config().blockSize();
        this.V = model.config().vocabSize();
        this.ws = model.workspace(backend, 1, blockSize, false);
        this.probs = new double[V];
        this.order = new Integer[V];
    }

    /** Sampling settings: temperature 0 means greedy; {@code topK <= 0} or {@code >= V} keeps every token. */
    public record Options(int tokens, float temperature, int topK, long seed) {
        public Options {
            if (tokens < 0) throw new IllegalArgumentException("tokens must be >= 0, got " + tokens);
            if (!(temperature >= 0) || Float.isInfinite(temperature)) throw new IllegalArgumentException("temperature must be a finite number >= 0, got " + temperature);
        }
    }

    /**
     * Generates {@code opts.tokens()} tokens after {@code prompt} (at least one token), calling
     * {@code onToken} with each as soon as it is drawn. Returns the generated tokens.
     */
    public int[] generate(int[] prompt, Options opts, IntConsumer onToken) {
        if (prompt.length == 0) throw new IllegalArgumentException("the prompt needs at least one token");
        SplittableRandom rng = new SplittableRandom(opts.seed());
        int[] context = Arrays.copyOf(prompt, prompt.length + opts.tokens());
        int len = prompt.length;
        int[] out = new int[opts.tokens()];
        int cached = -1;                     // rows [0, cached] of the workspace match context[len-cached-1 ..]
        for (int k = 0; k < opts.tokens(); k++) {
            int row;
            if (len <= blockSize && cached == len - 2) {
                // the cache holds positions [0, len-1): compute only the newest row
                ws.tokens().setAtIndex(ValueLayout.JAVA_INT, len - 1, context[len - 1]);
                model.forwardIncremental(ws, len - 1);
                row = len - 1;
            } else {
                int T = Math.min(len, blockSize), start = len - T;
                for (int t = 0; t < T; t++) ws.tokens().setAtIndex(ValueLayout.JAVA_INT, t, context[start + t]);
                model.forward(ws, 1, T, false);
                row = T - 1;
            }
            cached = row;
            int next = draw(ws.logits().asSlice((long) row * V * Float.BYTES, (long) V * Float.BYTES), opts, rng);
            context[len++] = next;
            out[k] = next;
            if (onToken != null) onToken.accept(next);
        }
        return out;
    }

    /**
     * Temperature, top-k, softmax, then one draw. Scaled logits are kept in double, so that a tiny
     * temperature approaches greedy decoding instead of overflowing float. A non-finite logit (a
     * model whose weights overflow) is refused: no distribution can be drawn from it.
     */
    private int draw(MemorySegment logits, Options o, SplittableRandom rng) {
        for (int v = 0; v < V; v++) {
            float x = logits.getAtIndex(ValueLayout.JAVA_FLOAT, v);
            if (!Float.isFinite(x)) {
                throw new IllegalStateException("the model produced a non-finite logit (" + x + ") for token " + v
                        + ": its weights overflow float32, so it cannot be sampled");
            }
        }
        if (o.temperature() == 0f) {
            int best = 0;
            for (int v = 1; v < V; v++) if (logits.getAtIndex(ValueLayout.JAVA_FLOAT, v) > logits.getAtIndex(ValueLayout.JAVA_FLOAT, best)) best = v;
            return best;
        }
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < V; v++) {
            probs[v] = logits.getAtIndex(ValueLayout.JAVA_FLOAT, v) / (double) o.temperature();
            max = Math.max(max, probs[v]);
        }
        if (o.topK() > 0 && o.topK() < V) {
            for (int v = 0; v < V; v++) order[v] = v;
            Arrays.sort(order, (a, b) -> Double.compare(probs[b], probs[a]));
            double kth = probs[order[o.topK() - 1]];
            for (int v = 0; v < V; v++) if (probs[v] < kth) probs[v] = Double.NEGATIVE_INFINITY;
        }
        double sum = 0;
        for (int v = 0; v < V; v++) {
            probs[v] = Math.exp(probs[v] - max);
            sum += probs[v];
        }
        double u = rng.nextDouble() * sum, acc = 0;
        for (int v = 0; v < V; v++) {
            acc += probs[v];
            if (u < acc) return v;
        }
        for (int v = V - 1; v >= 0; v--) if (probs[v] > 0) return v;   // rounding at the very end of the range
        return 0;
    }

    @Override
    public void close() { ws.close(); }
}
