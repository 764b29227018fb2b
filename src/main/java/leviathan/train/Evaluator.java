package leviathan.train;

import java.lang.foreign.ValueLayout;
import leviathan.model.Gpt;
import leviathan.model.Workspace;

/** Loss of a model on a text (LEVIATHAN.md, "Data", evaluation) and on random batches. */
public final class Evaluator {
    private Evaluator() {}

    /** Mean loss in nats over {@code predictions} scored predictions; {@code bpc = loss / ln 2}. */
    public record Result(double loss, long predictions) {
        public double bpc() { return loss / Math.log(2); }
    }

    /**
     * The spec's windowing: windows {@code x[s .. s+T]} for {@code s = 0, T+1, 2(T+1), ...} while
     * {@code s+T+1 <= n} (a shorter remainder is ignored), each scoring its T predictions; the
     * result is the sum of the per-prediction losses over their count.
     */
    public static Result evaluate(Gpt model, Workspace ws, int[] tokens, int T) {
        if (T < 1 || T > ws.maxT()) throw new IllegalArgumentException("eval length " + T + " outside [1, " + ws.maxT() + "]");
        int windows = tokens.length / (T + 1);
        if (windows == 0) {
            throw new IllegalArgumentException("text of " + tokens.length + " tokens is shorter than one window of " + (T + 1) + " tokens");
        }
        double sum = 0;
        for (int w0 = 0; w0 < windows; w0 += ws.maxBatch()) {
            int B = Math.min(ws.maxBatch(), windows - w0);
            for (int b = 0; b < B; b++) {
                int s = (w0 + b) * (T + 1);
                for (int t = 0; t < T; t++) {
                    ws.tokens().setAtIndex(ValueLayout.JAVA_INT, (long) b * T + t, tokens[s + t]);
                    ws.targets().setAtIndex(ValueLayout.JAVA_INT, (long) b * T + t, tokens[s + t + 1]);
                }
            }
            sum += (double) model.forward(ws, B, T, true) * B * T;
        }
        long n = (long) windows * T;
        return new Result(sum / n, n);
    }

    /** Mean loss over {@code batches} random batches drawn with a fixed seed (the training-time estimate). */
    public static double estimate(Gpt model, Workspace ws, int[] tokens, int B, int T, int batches, long seed) {
        BatchSampler sampler = new BatchSampler(tokens, seed);
        double sum = 0;
        for (int i = 0; i < batches; i++) {
            sampler.fill(ws.tokens(), ws.targets(), B, T, i, 0);
            sum += model.forward(ws, B, T, true);
        }
        return sum / batches;
    }
}
