package leviathan.kernel;

import static leviathan.kernel.Simd.F;
import static leviathan.kernel.Simd.NATIVE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;

/**
 * Fused softmax + cross-entropy over the vocabulary. Shapes: logits/probs/dlogits {@code (rows, V)},
 * targets {@code (rows)} int32, losses {@code (rows)}; {@code losses[r] = -log softmax(logits[r])[t_r]}.
 * The vector paths run rows in parallel; each row is computed the same way on any thread.
 */
public final class CrossEntropy {
    private CrossEntropy() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;
    private static final ValueLayout.OfInt I32 = ValueLayout.JAVA_INT;

    /** Writes {@code probs} (may alias {@code logits}) and {@code losses}; returns Σ losses in double. */
    public static double forward(MemorySegment losses, MemorySegment probs, MemorySegment logits,
                                 MemorySegment targets, int rows, int V) {
        if (!Simd.ENABLED) return forwardScalar(losses, probs, logits, targets, rows, V);
        Forward k = FORWARD.get();
        k.losses = losses; k.probs = probs; k.logits = logits; k.targets = targets; k.V = V;
        Parallel.forRange(rows, Elementwise.grain(Elementwise.EXP_TASK, V), k);
        double total = 0;                                            // in row order: the same for any thread count
        for (int r = 0; r < rows; r++) total += losses.getAtIndex(FL, r);
        return total;
    }

    private static final class Forward extends Parallel.Task {
        MemorySegment losses, probs, logits, targets;
        int V;

        @Override
        public void run(int r0, int r1) {
            float[] lanes = VectorMath.lanes();
            for (int r = r0; r < r1; r++) forwardRow(losses, probs, logits, targets, r, V, lanes);
        }
    }

    private static final Parallel.Tasks<Forward> FORWARD = new Parallel.Tasks<>(Forward::new);

    private static void forwardRow(MemorySegment losses, MemorySegment probs, MemorySegment logits, MemorySegment targets,
                                   int r, int V, float[] lanes) {
        long base = (long) r * V;
        int t = targets.getAtIndex(I32, r);
        assert t >= 0 && t < V : "target " + t + " outside the vocabulary [0, " + V + ")";
        float target = logits.getAtIndex(FL, base + t);      // read before probs may overwrite it
        float max = Softmax.rowMax(logits, base, V);
        float sum = Softmax.expSum(probs, logits, base, V, max, lanes);
        Softmax.scale(probs, base, V, 1f / sum);
        // log-sum-exp form keeps the loss finite even when the target's probability underflows
        losses.setAtIndex(FL, r, (float) (Math.log(sum) + max - target));
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
        if (!Simd.ENABLED) {
            backwardScalar(dlogits, probs, targets, dloss, rows, V);
            return;
        }
        Backward k = BACKWARD.get();
        k.dlogits = dlogits; k.probs = probs; k.targets = targets; k.dloss = dloss; k.V = V;
        Parallel.forRange(rows, Elementwise.grain(Elementwise.LIGHT_TASK, V), k);
    }

    private static final class Backward extends Parallel.Task {
        MemorySegment dlogits, probs, targets;
        float dloss;
        int V;

        @Override
        public void run(int r0, int r1) {
            for (int r = r0; r < r1; r++) backwardRow(dlogits, probs, targets.getAtIndex(I32, r), dloss, (long) r * V, V);
        }
    }

    private static final Parallel.Tasks<Backward> BACKWARD = new Parallel.Tasks<>(Backward::new);

    /** One row: whole vectors with the one-hot subtracted by a lane mask, then a scalar tail. */
    static void backwardRow(MemorySegment dlogits, MemorySegment probs, int t, float dloss, long base, int V) {
        long row = base * Float.BYTES;
        int L = F.length(), bound = F.loopBound(V);
        var lane = FloatVector.zero(F).addIndex(1);                 // 0, 1, 2, … as floats
        int v = 0;
        for (; v < bound; v += L) {
            long off = row + (long) v * Float.BYTES;
            // p - 1 in the target's lane, p untouched elsewhere: exactly the scalar reference's p - [v == t]
            var p = FloatVector.fromMemorySegment(F, probs, off, NATIVE).sub(1f, lane.eq(t - v));
            FloatVector.fromMemorySegment(F, dlogits, off, NATIVE).add(p.mul(dloss)).intoMemorySegment(dlogits, off, NATIVE);
        }
        for (; v < V; v++) {
            float p = probs.getAtIndex(FL, base + v) - (v == t ? 1f : 0f);
            dlogits.setAtIndex(FL, base + v, dlogits.getAtIndex(FL, base + v) + p * dloss);
        }
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
