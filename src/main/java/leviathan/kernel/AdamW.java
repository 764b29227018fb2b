package leviathan.kernel;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;

/**
 * AdamW over a flat range of n parameters (decoupled weight decay, bias correction):
 * {@code m = β1·m + (1-β1)·g}, {@code v = β2·v + (1-β2)·g²},
 * {@code p -= lr·(m̂/(sqrt(v̂) + eps) + wd·p)} with {@code m̂ = m/(1-β1^t)}, {@code v̂ = v/(1-β2^t)}.
 * Call once per range that shares a weight decay (2-D weights vs the rest).
 */
public final class AdamW {
    private AdamW() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    /** {@code step} counts from 1. */
    public static void step(MemorySegment param, MemorySegment grad, MemorySegment m, MemorySegment v, long n,
                            float lr, float beta1, float beta2, float eps, float weightDecay, int step) {
        stepScalar(param, grad, m, v, 0, n, lr, beta1, beta2, eps, weightDecay, step);
    }

    /** Elements {@code [from, n)}. */
    public static void stepScalar(MemorySegment param, MemorySegment grad, MemorySegment m, MemorySegment v,
                                  long from, long n, float lr, float beta1, float beta2, float eps,
                                  float weightDecay, int step) {
        float c1 = (float) (1.0 / (1.0 - Math.pow(beta1, step)));
        float c2 = (float) (1.0 / (1.0 - Math.pow(beta2, step)));
        for (long i = from; i < n; i++) {
            float g = grad.getAtIndex(FL, i), p = param.getAtIndex(FL, i);
            float mi = beta1 * m.getAtIndex(FL, i) + (1f - beta1) * g;
            float vi = beta2 * v.getAtIndex(FL, i) + (1f - beta2) * g * g;
            m.setAtIndex(FL, i, mi);
            v.setAtIndex(FL, i, vi);
            float update = (mi * c1) / ((float) Math.sqrt(vi * c2) + eps) + weightDecay * p;
            param.setAtIndex(FL, i, p - lr * update);
        }
    }

    /** Plain SGD with decoupled weight decay: {@code p -= lr·(g + wd·p)}. */
    public static void sgdStep(MemorySegment param, MemorySegment grad, long n, float lr, float weightDecay) {
        for (long i = 0; i < n; i++) {
            float p = param.getAtIndex(FL, i);
            param.setAtIndex(FL, i, p - lr * (grad.getAtIndex(FL, i) + weightDecay * p));
        }
    }
}
