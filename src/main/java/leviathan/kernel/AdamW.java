package leviathan.kernel;

import static jdk.incubator.vector.VectorOperators.SQRT;
import static leviathan.kernel.Simd.F;
import static leviathan.kernel.Simd.NATIVE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;

/**
 * AdamW over a flat range of n parameters (decoupled weight decay, bias correction):
 * {@code m = β1·m + (1-β1)·g}, {@code v = β2·v + (1-β2)·g²},
 * {@code p -= lr·(m̂/(sqrt(v̂) + eps) + wd·p)} with {@code m̂ = m/(1-β1^t)}, {@code v̂ = v/(1-β2^t)}.
 * Call once per range that shares a weight decay (2-D weights vs the rest).
 *
 * <p>The vector path performs the same float operations in the same order as the scalar
 * reference (products, sums, a correctly rounded square root and division, no fused multiply-add),
 * so the two give bit-identical results.
 */
public final class AdamW {
    private AdamW() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    /** {@code step} counts from 1. */
    public static void step(MemorySegment param, MemorySegment grad, MemorySegment m, MemorySegment v, long n,
                            float lr, float beta1, float beta2, float eps, float weightDecay, int step) {
        step(param, grad, m, v, n, lr, beta1, beta2, eps, weightDecay, step, 1f);
    }

    /**
     * The update with every gradient taken as {@code gradScale·grad} (gradient clipping folded into
     * the update: the same float product a separate scaling pass would store, so the result is
     * bit-identical to scaling first, without the extra pass over the gradients).
     */
    public static void step(MemorySegment param, MemorySegment grad, MemorySegment m, MemorySegment v, long n,
                            float lr, float beta1, float beta2, float eps, float weightDecay, int step, float gradScale) {
        Step k = STEP.get();                                      // reused: a call allocates nothing
        k.param = param; k.grad = grad; k.m = m; k.v = v;
        k.lr = lr; k.beta1 = beta1; k.beta2 = beta2; k.eps = eps; k.weightDecay = weightDecay; k.step = step; k.gradScale = gradScale;
        Elementwise.forBlocks(0, n, Elementwise.LIGHT_TASK, k);
    }

    private static final class Step extends Elementwise.Blocks {
        MemorySegment param, grad, m, v;
        float lr, beta1, beta2, eps, weightDecay, gradScale;
        int step;

        @Override
        void range(long from, long to) { stepRange(param, grad, m, v, from, to, lr, beta1, beta2, eps, weightDecay, step, gradScale); }
    }

    private static final Parallel.Tasks<Step> STEP = new Parallel.Tasks<>(Step::new);

    static void stepRange(MemorySegment param, MemorySegment grad, MemorySegment m, MemorySegment v,
                          long from, long to, float lr, float beta1, float beta2, float eps,
                          float weightDecay, int step, float gradScale) {
        long i = from;
        if (Simd.ENABLED) {
            float c1 = biasCorrection(beta1, step), c2 = biasCorrection(beta2, step);
            float a1 = 1f - beta1, a2 = 1f - beta2;
            for (long bound = from + F.loopBound(to - from); i < bound; i += F.length()) {
                long off = i * Float.BYTES;
                var g = FloatVector.fromMemorySegment(F, grad, off, NATIVE).mul(gradScale);
                var p = FloatVector.fromMemorySegment(F, param, off, NATIVE);
                var mi = FloatVector.fromMemorySegment(F, m, off, NATIVE).mul(beta1).add(g.mul(a1));
                var vi = FloatVector.fromMemorySegment(F, v, off, NATIVE).mul(beta2).add(g.mul(a2).mul(g));
                mi.intoMemorySegment(m, off, NATIVE);
                vi.intoMemorySegment(v, off, NATIVE);
                var update = mi.mul(c1).div(vi.mul(c2).lanewise(SQRT).add(eps)).add(p.mul(weightDecay));
                p.sub(update.mul(lr)).intoMemorySegment(param, off, NATIVE);
            }
        }
        stepScalar(param, grad, m, v, i, to, lr, beta1, beta2, eps, weightDecay, step, gradScale);
    }

    /** {@code 1/(1 - β^t)}, the factor that undoes a moment's bias toward zero at step t. */
    static float biasCorrection(float beta, int step) {
        return (float) (1.0 / (1.0 - Math.pow(beta, step)));
    }

    /** Elements {@code [from, n)}. */
    public static void stepScalar(MemorySegment param, MemorySegment grad, MemorySegment m, MemorySegment v,
                                  long from, long n, float lr, float beta1, float beta2, float eps,
                                  float weightDecay, int step) {
        stepScalar(param, grad, m, v, from, n, lr, beta1, beta2, eps, weightDecay, step, 1f);
    }

    /** Elements {@code [from, n)}, every gradient taken as {@code gradScale·grad}. */
    public static void stepScalar(MemorySegment param, MemorySegment grad, MemorySegment m, MemorySegment v,
                                  long from, long n, float lr, float beta1, float beta2, float eps,
                                  float weightDecay, int step, float gradScale) {
        float c1 = biasCorrection(beta1, step);
        float c2 = biasCorrection(beta2, step);
        for (long i = from; i < n; i++) {
            float g = grad.getAtIndex(FL, i) * gradScale, p = param.getAtIndex(FL, i);
            float mi = beta1 * m.getAtIndex(FL, i) + (1f - beta1) * g;
            float vi = beta2 * v.getAtIndex(FL, i) + (1f - beta2) * g * g;
            m.setAtIndex(FL, i, mi);
            v.setAtIndex(FL, i, vi);
            float update = (mi * c1) / ((float) Math.sqrt(vi * c2) + eps) + weightDecay * p;
            param.setAtIndex(FL, i, p - lr * update);
        }
    }

    /** Plain SGD with decoupled weight decay: {@code p -= lr·(g + wd·p)} over n parameters. */
    public static void sgdStep(MemorySegment param, MemorySegment grad, long n, float lr, float weightDecay) {
        sgdStep(param, grad, n, lr, weightDecay, 1f);
    }

    /** {@link #sgdStep} with every gradient taken as {@code gradScale·grad} (clipping folded in, as in {@link #step}). */
    public static void sgdStep(MemorySegment param, MemorySegment grad, long n, float lr, float weightDecay, float gradScale) {
        Sgd k = SGD.get();
        k.param = param; k.grad = grad; k.lr = lr; k.weightDecay = weightDecay; k.gradScale = gradScale;
        Elementwise.forBlocks(0, n, Elementwise.LIGHT_TASK, k);
    }

    private static final class Sgd extends Elementwise.Blocks {
        MemorySegment param, grad;
        float lr, weightDecay, gradScale;

        @Override
        void range(long from, long to) { sgdStepRange(param, grad, from, to, lr, weightDecay, gradScale); }
    }

    private static final Parallel.Tasks<Sgd> SGD = new Parallel.Tasks<>(Sgd::new);

    static void sgdStepRange(MemorySegment param, MemorySegment grad, long from, long to, float lr, float weightDecay, float gradScale) {
        long i = from;
        if (Simd.ENABLED) {
            for (long bound = from + F.loopBound(to - from); i < bound; i += F.length()) {
                long off = i * Float.BYTES;
                var p = FloatVector.fromMemorySegment(F, param, off, NATIVE);
                var g = FloatVector.fromMemorySegment(F, grad, off, NATIVE).mul(gradScale);
                p.sub(g.add(p.mul(weightDecay)).mul(lr)).intoMemorySegment(param, off, NATIVE);
            }
        }
        sgdStepScalar(param, grad, i, to, lr, weightDecay, gradScale);
    }

    /** The reference of {@link #sgdStep}, elements {@code [from, n)}. */
    public static void sgdStepScalar(MemorySegment param, MemorySegment grad, long from, long n, float lr, float weightDecay) {
        sgdStepScalar(param, grad, from, n, lr, weightDecay, 1f);
    }

    /** The reference of the scaled {@link #sgdStep}, elements {@code [from, n)}. */
    public static void sgdStepScalar(MemorySegment param, MemorySegment grad, long from, long n, float lr, float weightDecay, float gradScale) {
        for (long i = from; i < n; i++) {
            float p = param.getAtIndex(FL, i);
            param.setAtIndex(FL, i, p - lr * (grad.getAtIndex(FL, i) * gradScale + weightDecay * p));
        }
    }
}
