package leviathan.testing;

import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.Map;
import leviathan.model.Gpt;
import leviathan.train.Trainer;
import leviathan.train.TrainingHooks;

/**
 * Failure drills through {@link TrainingHooks}: makes the loss, one gradient value, or (after the
 * update) one parameter of chosen steps (1-based) NaN, as a numeric blow-up would, so that the NaN
 * policy and the checkpoint guard can be exercised on demand.
 */
public final class Faults implements TrainingHooks {
    /** What a fault corrupts. */
    public enum Kind { LOSS, GRADIENT, PARAMETER }

    private final Map<Integer, Kind> faults = new HashMap<>();

    private Faults() {}

    /** A fault of {@code kind} at step {@code step}. */
    public static Faults at(int step, Kind kind) { return new Faults().and(step, kind); }

    /** Adds a fault of {@code kind} at step {@code step}. */
    public Faults and(int step, Kind kind) {
        if (step < 1) throw new IllegalArgumentException("step must be >= 1, got " + step);
        faults.put(step, kind);
        return this;
    }

    @Override
    public float afterLoss(int step, float loss) { return faults.get(step) == Kind.LOSS ? Float.NaN : loss; }

    @Override
    public void afterBackward(int step, Gpt model) {
        if (faults.get(step) == Kind.GRADIENT) model.grads().all().setAtIndex(ValueLayout.JAVA_FLOAT, 0, Float.NaN);
    }

    @Override
    public void afterUpdate(int step, Gpt model) {
        if (faults.get(step) == Kind.PARAMETER) model.params().all().setAtIndex(ValueLayout.JAVA_FLOAT, 0, Float.NaN);
    }
}
