package leviathan.train;

import java.util.function.LongBinaryOperator;
import leviathan.data.SplitMix;
import leviathan.data.TokenBatchSampler;
import leviathan.data.Tokens;
import leviathan.model.Gpt;
import leviathan.model.Workspace;

/**
 * Loss of a model on a text (LEVIATHAN.md, "Data", evaluation) and on random batches. Texts are
 * {@link Tokens}, so a memory-mapped corpus of any length is read in place ({@code long} offsets).
 */
public final class Evaluator {
    private Evaluator() {}

    /** Mean loss in nats over {@code predictions} scored predictions; {@code bpc = loss / ln 2}. */
    public record Result(double loss, long predictions) {
        public double bpc() { return loss / Math.log(2); }
    }

    /** Receives {@code (windows scored, windows in all)} after each batch of windows; its return value is ignored. */
    public static final LongBinaryOperator NO_PROGRESS = (done, total) -> 0;

    /** The spec's window count for a text of {@code n} tokens: {@code floor(n / (T+1))}. */
    public static long windows(long n, int T) { return n / (T + 1L); }

    /**
     * The spec's windowing: windows {@code x[s .. s+T]} for {@code s = 0, T+1, 2(T+1), ...} while
     * {@code s+T+1 <= n} (a shorter remainder is ignored), each scoring its T predictions; the
     * result is the sum of the per-prediction losses over their count.
     */
    public static Result evaluate(Gpt model, Workspace ws, int[] tokens, int T) {
        return evaluate(model, ws, Tokens.of(tokens), T, NO_PROGRESS);
    }

    /** {@link #evaluate(Gpt, Workspace, int[], int)} over any tokens, reporting progress per batch of windows. */
    public static Result evaluate(Gpt model, Workspace ws, Tokens tokens, int T, LongBinaryOperator progress) {
        long windows = checkedWindows(ws, tokens, T);
        int V = model.config().vocabSize();
        double sum = 0;
        int sinceRelease = 0;
        for (long w0 = 0; w0 < windows; w0 += ws.maxBatch()) {
            int B = (int) Math.min(ws.maxBatch(), windows - w0);
            for (int b = 0; b < B; b++) copyWindow(tokens, (w0 + b) * (T + 1), ws, b, T, V);
            sinceRelease = release(tokens, sinceRelease + B);
            sum += (double) model.forward(ws, B, T, true) * B * T;
            progress.applyAsLong(w0 + B, windows);
        }
        long n = windows * T;
        return new Result(sum / n, n);
    }

    /**
     * An estimate of {@link #evaluate}: {@code batches} batches of {@code ws.maxBatch()} of the
     * spec's windows, each drawn uniformly (with replacement) with a generator seeded by
     * {@code seed}. For a split too long to score whole.
     */
    public static Result evaluateSample(Gpt model, Workspace ws, Tokens tokens, int T, int batches, long seed,
                                        LongBinaryOperator progress) {
        long windows = checkedWindows(ws, tokens, T);
        if (batches < 1) throw new IllegalArgumentException("eval batches must be >= 1, got " + batches);
        int V = model.config().vocabSize(), B = ws.maxBatch();
        SplitMix rng = new SplitMix(seed);
        double sum = 0;
        int sinceRelease = 0;
        for (int i = 0; i < batches; i++) {
            for (int b = 0; b < B; b++) copyWindow(tokens, rng.nextLong(windows) * (T + 1), ws, b, T, V);
            sinceRelease = release(tokens, sinceRelease + B);
            sum += (double) model.forward(ws, B, T, true) * B * T;
            progress.applyAsLong((long) (i + 1) * B, (long) batches * B);
        }
        long n = (long) batches * B * T;
        return new Result(sum / n, n);
    }

    /**
     * Releases a mapped file's resident pages once {@link TokenBatchSampler#RELEASE_EVERY} windows
     * have been read since the last release (so that scoring a huge split keeps a bounded resident
     * set); returns the new count.
     */
    private static int release(Tokens tokens, int windowsSinceRelease) {
        if (windowsSinceRelease < TokenBatchSampler.RELEASE_EVERY) return windowsSinceRelease;
        tokens.release();
        return 0;
    }

    private static long checkedWindows(Workspace ws, Tokens tokens, int T) {
        if (T < 1 || T > ws.maxT()) throw new IllegalArgumentException("eval length " + T + " outside [1, " + ws.maxT() + "]");
        long windows = windows(tokens.length(), T);
        if (windows == 0) {
            throw new IllegalArgumentException("text of " + tokens.length() + " tokens is shorter than one window of " + (T + 1) + " tokens");
        }
        return windows;
    }

    private static void copyWindow(Tokens tokens, long s, Workspace ws, int b, int T, int V) {
        for (int t = 0; t < T; t++) {
            int x = tokens.get(s + t), y = tokens.get(s + t + 1);
            if (x >= V || y >= V) {
                throw new IllegalStateException("token " + Math.max(x, y) + " near position " + (s + t) + " is outside the model's vocabulary of "
                        + V + ": the token file is damaged or belongs to another vocabulary");
            }
            ws.tokens().setAtIndex(java.lang.foreign.ValueLayout.JAVA_INT, (long) b * T + t, x);
            ws.targets().setAtIndex(java.lang.foreign.ValueLayout.JAVA_INT, (long) b * T + t, y);
        }
    }

    /** Mean loss over {@code batches} random batches drawn with a fixed seed (the training-time estimate). */
    public static double estimate(Gpt model, Workspace ws, int[] tokens, int B, int T, int batches, long seed) {
        return estimate(model, ws, Tokens.of(tokens), B, T, batches, seed);
    }

    /** {@link #estimate(Gpt, Workspace, int[], int, int, int, long)} over any tokens (e.g. a mapped split). */
    public static double estimate(Gpt model, Workspace ws, Tokens tokens, int B, int T, int batches, long seed) {
        TokenBatchSampler sampler = new TokenBatchSampler(tokens, seed, model.config().vocabSize());
        double sum = 0;
        for (int i = 0; i < batches; i++) {
            sampler.fill(ws.tokens(), ws.targets(), B, T, i, 0);
            sum += model.forward(ws, B, T, true);
        }
        return sum / batches;
    }
}
