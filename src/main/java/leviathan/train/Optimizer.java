package leviathan.train;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import leviathan.kernel.AdamW;
import leviathan.kernel.Clip;
import leviathan.model.Gpt;
import leviathan.profile.Profiler;
import leviathan.model.ParameterLayout;
import leviathan.tensor.Buffers;
import leviathan.tensor.Tensor;

/**
 * AdamW (default) or plain SGD over a model's parameters, with weight decay where the parameter declares it
 * (LEVIATHAN.md: 2-D weights: wte, wpe, linear weights; never biases, LayerNorm parameters or lag_bias), global-norm gradient
 * clipping, and moments in the parameters' layout so they checkpoint as tensors.
 */
public final class Optimizer implements AutoCloseable {

    public enum Kind {
        ADAMW, SGD;

        public static Kind parse(String s) {
            return switch (s.trim().toLowerCase(Locale.ROOT)) {
                case "adamw" -> ADAMW;
                case "sgd" -> SGD;
                default -> throw new IllegalArgumentException("optimizer must be adamw or sgd, got '" + s + "'");
            };
        }
    }

    private static final Profiler.Section P_STEP = Profiler.section("optimizer step"), P_NORM = Profiler.section("grad norm");

    private final Gpt model;
    private final Kind kind;
    private final float beta1, beta2, eps, weightDecay;
    private final Arena arena = Arena.ofShared();
    private final Buffers m, v;
    private final List<Tensor[]> groups = new ArrayList<>();   // {param, grad, m, v}
    private final boolean[] decays;
    private final double[] normPartials;
    private int step;                                          // completed updates

    public Optimizer(Gpt model, Kind kind, float beta1, float beta2, float eps, float weightDecay) {
        this.model = model;
        this.kind = kind;
        this.beta1 = beta1;
        this.beta2 = beta2;
        this.eps = eps;
        this.weightDecay = weightDecay;
        var layout = ParameterLayout.of(model.config());
        this.m = layout.allocate(arena);
        this.v = layout.allocate(arena);
        Buffers g = model.grads();
        for (Tensor p : model.params().tensors().values()) {
            groups.add(new Tensor[] {p, g.get(p.name()), m.get(p.name()), v.get(p.name())});
        }
        decays = ParameterLayout.decays(model.config());   // as the parts declare: 2-D weights only
        normPartials = new double[Clip.partials(g.all().byteSize() / Float.BYTES)];
    }

    /**
     * Global L2 norm of the gradients (double accumulation, fixed order: the same for any thread
     * count; {@link Clip}).
     */
    public double gradNorm() {
        Profiler.begin(P_NORM);
        MemorySegment g = model.grads().all();
        double sum = Clip.sumOfSquares(g, g.byteSize() / Float.BYTES, normPartials);
        Profiler.end(P_NORM);
        return Math.sqrt(sum);
    }

    /** One update with learning rate {@code lr}. */
    public void step(float lr) { step(lr, 1f); }

    /**
     * One update with learning rate {@code lr}, every gradient taken as {@code gradScale·grad}:
     * gradient clipping without a separate pass over the gradients (bit-identical to scaling the
     * gradients first, then {@link #step(float)}); the gradients are left as they are.
     */
    public void step(float lr, float gradScale) {
        Profiler.begin(P_STEP);
        step++;
        for (int i = 0; i < groups.size(); i++) {
            Tensor[] t = groups.get(i);
            float wd = decays[i] ? weightDecay : 0f;
            if (kind == Kind.ADAMW) {
                AdamW.step(t[0].segment(), t[1].segment(), t[2].segment(), t[3].segment(), t[0].numel(), lr, beta1, beta2, eps, wd, step, gradScale);
            } else {
                AdamW.sgdStep(t[0].segment(), t[1].segment(), t[0].numel(), lr, wd, gradScale);
            }
        }
        Profiler.end(P_STEP);
        Profiler.countStep();
    }

    public int stepCount() { return step; }

    public void setStepCount(int s) { step = s; }

    public Kind kind() { return kind; }

    /** First moments, named like the parameters. */
    public Buffers firstMoments() { return m; }

    /** Second moments, named like the parameters. */
    public Buffers secondMoments() { return v; }

    @Override
    public void close() { arena.close(); }
}
