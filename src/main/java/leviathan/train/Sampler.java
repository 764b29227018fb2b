package leviathan.train;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.function.IntConsumer;
import leviathan.backend.Backend;
import leviathan.data.SplitMix;
import leviathan.model.Gpt;
import leviathan.model.Workspace;
import leviathan.nn.RunOptions;

/**
 * Autoregressive generation with a key/value cache: while the context is shorter than
 * {@code block_size}, each new token runs the model on its own row only (the workspace keeps every
 * earlier row's activations, so attention costs O(T) per token). Once the context is full, by
 * default the model conditions on exactly the last {@code block_size} tokens, whose positions shift
 * every step, so each step re-runs those {@code block_size} rows. With
 * {@link Options#contextShift()} the window instead drops its older half when it fills: the kept
 * half is recomputed once at positions {@code 0..T/2-1} and generation continues incrementally, about
 * {@code T/2} times cheaper per character, at the price that a character is sometimes conditioned on
 * only {@code T/2} to {@code T} characters instead of exactly {@code T}. Memory is constant in the number of generated tokens:
 * only the last {@code block_size} tokens are kept (a ring). One sampler per thread; the model may
 * be shared.
 */
public final class Sampler implements AutoCloseable {
    private final Gpt model;
    private final Workspace ws;
    private final int blockSize, V;
    private final double[] probs;
    private final int[] order, merged;                 // token ids by probability, and the sort's scratch
    private final int[] ring;                          // the last blockSize tokens of the sequence being generated
    private final SplitMix rng = new SplitMix(0);      // the draws, reseeded by each stream

    public Sampler(Gpt model, Backend backend) { this(model, backend, RunOptions.DEFAULTS); }

    /** A sampler whose parts run with {@code options} (e.g. the correlation implementation, {@code impl}). */
    public Sampler(Gpt model, Backend backend, RunOptions options) {
        this.model = model;
        this.blockSize = model.config().blockSize();
        this.V = model.config().vocabSize();
        this.ws = model.workspace(backend, 1, blockSize, false, options);
        this.probs = new double[V];
        this.order = new int[V];
        this.merged = new int[V];
        this.ring = new int[blockSize];
    }

    /**
     * Sampling settings: temperature 0 means greedy; {@code topK <= 0} or {@code >= V} keeps every
     * token; {@code topP} in (0, 1] keeps the smallest set of most likely tokens whose probability
     * reaches it (1 keeps every token), applied after top-k.
     */
    public record Options(int tokens, float temperature, int topK, float topP, long seed, boolean contextShift) {
        public Options {
            if (tokens < 0) throw new IllegalArgumentException("tokens must be >= 0, got " + tokens);
            if (!(temperature >= 0) || Float.isInfinite(temperature)) throw new IllegalArgumentException("temperature must be a finite number >= 0, got " + temperature);
            if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("topP must be in (0, 1], got " + topP);
        }

        /** Settings with the exact sliding window (no context shift). */
        public Options(int tokens, float temperature, int topK, float topP, long seed) { this(tokens, temperature, topK, topP, seed, false); }

        /** Settings without nucleus (top-p) filtering. */
        public Options(int tokens, float temperature, int topK, long seed) { this(tokens, temperature, topK, 1f, seed); }
    }

    /** Receives each token as it is drawn; returning {@code false} stops the generation there. */
    @FunctionalInterface
    public interface TokenSink {
        boolean accept(int token);
    }

    /**
     * Generates {@code opts.tokens()} tokens after {@code prompt} (at least one token), calling
     * {@code onToken} with each as soon as it is drawn. Returns the generated tokens (so memory grows
     * with {@code opts.tokens()}; {@link #stream} does not).
     */
    public int[] generate(int[] prompt, Options opts, IntConsumer onToken) {
        int[] out = new int[opts.tokens()];
        int[] n = {0};
        stream(prompt, opts, t -> {
            out[n[0]++] = t;
            if (onToken != null) onToken.accept(t);
            return true;
        });
        return out;
    }

    /**
     * Generates up to {@code opts.tokens()} tokens after {@code prompt} (at least one token), handing
     * each to {@code sink} as soon as it is drawn, in memory independent of {@code opts.tokens()}.
     * Stops early when the sink returns false. Returns the number of tokens drawn.
     */
    public int stream(int[] prompt, Options opts, TokenSink sink) {
        if (prompt.length == 0) throw new IllegalArgumentException("the prompt needs at least one token");
        SplitMix rng = this.rng.reset(opts.seed());              // new SplittableRandom(seed)'s draws, with no object made
        // ring of the last blockSize tokens: position p (of the whole sequence) lives at ring[p % blockSize]
        long len = prompt.length;
        for (int p = Math.max(0, prompt.length - blockSize); p < prompt.length; p++) ring[p % blockSize] = prompt[p];
        // the workspace's rows [0, rows) hold positions [base, len) of the sequence; cachedRows of them are computed
        long base = Math.max(0, len - blockSize);
        int cachedRows = 0;
        for (int k = 0; k < opts.tokens(); k++) {
            if (len - base > blockSize) {
                // the window is full: the exact sliding window moves by one (every row must be recomputed, as its
                // position changed); a context shift keeps the last half, recomputed once, then runs incrementally
                base = len - (opts.contextShift() ? Math.max(1, blockSize / 2) : blockSize);
                cachedRows = 0;
            }
            int rows = (int) (len - base);
            if (cachedRows == rows - 1 && cachedRows > 0) {
                ws.tokens().setAtIndex(ValueLayout.JAVA_INT, rows - 1, ring[(int) ((len - 1) % blockSize)]);
                model.forwardIncremental(ws, rows - 1);              // only the newest row: O(T) attention
            } else {
                for (int t = 0; t < rows; t++) ws.tokens().setAtIndex(ValueLayout.JAVA_INT, t, ring[(int) ((base + t) % blockSize)]);
                model.forward(ws, 1, rows, false);
            }
            cachedRows = rows;
            int row = rows - 1;
            int next = draw(ws.logits(), (long) row * V, opts, rng);
            ring[(int) (len % blockSize)] = next;
            len++;
            if (sink != null && !sink.accept(next)) return k + 1;
        }
        return opts.tokens();
    }

    /**
     * Temperature, top-k, softmax, top-p, then one draw. Scaled logits are kept in double, so that a
     * tiny temperature approaches greedy decoding instead of overflowing float. A non-finite logit (a
     * model whose weights overflow) is refused: no distribution can be drawn from it.
     */
    private int draw(MemorySegment logits, long at, Options o, SplitMix rng) {
        for (int v = 0; v < V; v++) {
            float x = logits.getAtIndex(ValueLayout.JAVA_FLOAT, at + v);
            if (!Float.isFinite(x)) {
                throw new IllegalStateException("the model produced a non-finite logit (" + x + ") for token " + v
                        + ": its weights overflow float32, so it cannot be sampled");
            }
        }
        if (o.temperature() == 0f) {
            int best = 0;
            for (int v = 1; v < V; v++) if (logits.getAtIndex(ValueLayout.JAVA_FLOAT, at + v) > logits.getAtIndex(ValueLayout.JAVA_FLOAT, at + best)) best = v;
            return best;
        }
        double max = Double.NEGATIVE_INFINITY;
        for (int v = 0; v < V; v++) {
            probs[v] = logits.getAtIndex(ValueLayout.JAVA_FLOAT, at + v) / (double) o.temperature();
            max = Math.max(max, probs[v]);
        }
        boolean sorted = false;
        if (o.topK() > 0 && o.topK() < V) {
            sortByProbability();
            sorted = true;
            double kth = probs[order[o.topK() - 1]];
            for (int v = 0; v < V; v++) if (probs[v] < kth) probs[v] = Double.NEGATIVE_INFINITY;
        }
        double sum = 0;
        for (int v = 0; v < V; v++) {
            probs[v] = Math.exp(probs[v] - max);
            sum += probs[v];
        }
        if (o.topP() < 1f) {
            // nucleus: walk the tokens from most to least likely until their mass reaches topP;
            // exp is monotonic, so the order from the scaled logits still holds
            if (!sorted) sortByProbability();
            double keep = o.topP() * sum, acc = 0;
            int kept = 0;
            while (kept < V && acc < keep) acc += probs[order[kept++]];
            for (int i = kept; i < V; i++) probs[order[i]] = 0;
            sum = acc;
        }
        double u = rng.nextDouble() * sum, acc = 0;
        for (int v = 0; v < V; v++) {
            acc += probs[v];
            if (u < acc) return v;
        }
        for (int v = V - 1; v >= 0; v--) if (probs[v] > 0) return v;   // rounding at the very end of the range
        return 0;
    }

    /**
     * Fills {@code order} with the token ids by decreasing {@code probs} ({@link Double#compare}
     * order), ties by id: a stable bottom-up merge sort on int arrays kept by the sampler, so a
     * draw allocates nothing (boxed ids and a comparator would, every token).
     */
    private void sortByProbability() {
        int[] a = order, b = merged;
        for (int v = 0; v < V; v++) a[v] = v;
        for (int width = 1; width < V; width *= 2) {
            for (int lo = 0; lo < V; lo += 2 * width) {
                int mid = Math.min(lo + width, V), hi = Math.min(lo + 2 * width, V), i = lo, j = mid, k = lo;
                // the right run's id goes first only if strictly more likely: equal ones keep their order
                while (i < mid && j < hi) b[k++] = Double.compare(probs[a[j]], probs[a[i]]) > 0 ? a[j++] : a[i++];
                while (i < mid) b[k++] = a[i++];
                while (j < hi) b[k++] = a[j++];
            }
            int[] t = a;
            a = b;
            b = t;
        }
        if (a != order) System.arraycopy(a, 0, order, 0, V);
    }

    @Override
    public void close() { ws.close(); }
}
