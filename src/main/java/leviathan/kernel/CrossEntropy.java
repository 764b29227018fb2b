package leviathan.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * Fused softmax + cross-entropy over the vocabulary. Shapes: logits/probs/dlogits {@code (rows, V)},
 * targets {@code (rows)} int32, losses {@code (rows)}; {@code losses[r] = -log softmax(logits[r])[t_r]}.
 */
public final class CrossEntropy {
    private CrossEntropy() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT;

    /** Writes {@code probs} (may alias {@code logits}) and {@code losses}; returns Σ losses in double. */
    public static double forward(MemorySegment losses, MemorySegment probs, MemorySegment logits,
                                 MemorySegment targets, int rows, int V) {
        return forwardScalar(losses, probs, logits, targets, rows, V);
    }

    public static double forwardScalar(MemorySegment losses, MemorySegment probs, MemorySegment logits,
                                       MemorySegment targets, int rows, int V) {
        double total = 0;
        for (int r = 0; r < rows; r++) {
            long base = (long) r * V;
            int t = targets.getAtIndex(I32, r);
            float target = logits.getAtIndex(FL, base + t);          // read before probs may overwrite it
            float max = Float.NEGATIVE_INFINITY;
            for (int v = 0; v < V; v++) max = Math.max(max, logits.getAtIndex(FL, base + v));
            float sum = 0f;
            for (int v = 0; v < V; v++) {
                float e = (float) Math.exp(logits.getAtIndex(FL, base + v) - max);
                probs.setAtIndex(FL, base + v, e);
                sum += e;
            }
            float inv = 1f / sum;
            for (int v = 0; v < V; v++) probs.setAtIndex(FL, base + v, probs.getAtIndex(FL, base + v) * inv);
            // log-sum-exp form keeps the loss finite even when the target's probability underflows
            float loss = (float) (Math.log(sum) + max - target);
            losses.setAtIndex(FL, r, loss);
            total += loss;
        }
        return total;
    }

    /** {@code dlogits[r,v] += (probs[r,v] - [v == t_r])·dloss}: the gradient of {@code dloss·Σ losses}. */
    public static void backward(MemorySegment dlogits, MemorySegment probs, MemorySegment targets,
                                float dloss, int rows, int V) {
        backwardScalar(dlogits, probs, targets, dloss, rows, V);
    }

    public static void backwardScalar(MemorySegment dlogits, MemorySegment probs, MemorySegment targets,
                                      float dloss, int rows, int V) {
        for (int r = 0; r < rows; r++) {
            long base = (long) r * V;
            int t = targets.getAtIndex(I32, r);
            for (int v = 0; v < V; v++) {
                float p = probs.getAtIndex(FL, base + v) - (v == t ? 1f : 0f);
                dlogits.setAtIndex(FL, base + v, dlogits.getAtIndex(FL, base + v) + p * dloss);
            }
        }
    }
}
