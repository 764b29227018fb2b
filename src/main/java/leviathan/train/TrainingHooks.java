package leviathan.train;

import leviathan.model.Gpt;

/**
 * Calls at fixed points of every step (step numbers are 1-based), for failure drills and tests:
 * each may change what it is handed, as a numeric blow-up would. All do nothing by default.
 */
public interface TrainingHooks {
    /** The loss of one micro-batch, as the step will use it. */
    default float afterLoss(int step, float loss) { return loss; }

    /**
     * After the backward passes of a step, before the gradient norm. With several ranks and overlap (the default), the
     * layers' gradients may already be in their allreduce here: only the embeddings' ({@code wte}, {@code wpe}) may be changed.
     */
    default void afterBackward(int step, Gpt model) { }

    /** After the optimizer update of a step. */
    default void afterUpdate(int step, Gpt model) { }
}
