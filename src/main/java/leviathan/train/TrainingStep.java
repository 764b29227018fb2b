package leviathan.train;

import java.util.LinkedHashMap;
import java.util.Map;
import java.util.function.ObjDoubleConsumer;
import leviathan.model.Gpt;
import leviathan.model.Workspace;

/**
 * One optimizer step, as LEVIATHAN.md's loop reads: for each micro-batch, draw a batch, run the
 * model forward (the cross-entropy, plus the parts' auxiliary losses in the objective) and
 * backward (gradients, scaled by 1/accum so that they average);
 * then the global gradient norm, the clip, and the update at the schedule's learning rate. A
 * non-finite loss or gradient refuses the step before it touches the weights.
 */
final class TrainingStep {
    private final Gpt model;
    private final Workspace ws;
    private final Optimizer optimizer;
    private final BatchSampler batches;
    private final LrSchedule schedule;
    private final Trainer.Hooks hooks;
    private final int batchSize, blockSize, accum;
    private final float clip;
    private final Map<String, Double> partStats = new LinkedHashMap<>();          // the parts' figures, averaged over micro-batches
    private final ObjDoubleConsumer<String> addStat;

    /**
     * What one step did: its number (1-based), mean loss over the micro-batches, gradient norm
     * before clipping, learning rate, seconds, and {@code problem}, which is non-null when the step
     * was refused. {@code extras} are further named numbers a model part reports for the step (for
     * example auxiliary losses); they go into {@code metrics.jsonl} beside the loss.
     */
    record Outcome(int step, double loss, double gradNorm, float lr, double seconds, String problem, Map<String, Double> extras) {
        static Outcome refused(int step, float lr, String problem) {
            return new Outcome(step, Double.NaN, Double.NaN, lr, 0, problem, Map.of());
        }

        boolean applied() { return problem == null; }
    }

    TrainingStep(Gpt model, Workspace ws, Optimizer optimizer, BatchSampler batches, LrSchedule schedule, Trainer.Hooks hooks,
                 TrainConfig cfg) {
        this.model = model;
        this.ws = ws;
        this.optimizer = optimizer;
        this.batches = batches;
        this.schedule = schedule;
        this.hooks = hooks;
        this.batchSize = cfg.schedule().batchSize();
        this.blockSize = cfg.model().blockSize();
        this.accum = cfg.schedule().accum();
        this.clip = cfg.optimizer().clip();
        this.addStat = (name, v) -> partStats.merge(name, v / accum, Double::sum);
    }

    /** The auxiliary loss and the parts' figures, or nothing for a model without them. */
    private Map<String, Double> extras(double aux) {
        if (partStats.isEmpty() && aux == 0) return Map.of();
        Map<String, Double> m = new LinkedHashMap<>();
        m.put("aux_loss", aux);
        m.putAll(partStats);
        return m;
    }

    /** Runs step {@code step} (0-based: the number of steps done before it). */
    Outcome run(int step) {
        long t0 = System.nanoTime();
        int done = step + 1;
        float lr = schedule.at(step);
        model.zeroGrad();
        partStats.clear();
        double loss = 0, aux = 0;
        for (int micro = 0; micro < accum; micro++) {
            batches.fill(ws.tokens(), ws.targets(), batchSize, blockSize, step, micro);
            float l = hooks.afterLoss(done, model.forward(ws, batchSize, blockSize, true));
            double a = ws.auxLoss();                             // the parts' auxiliary terms (MoE); 0 for dense models
            if (!Float.isFinite(l) || !Double.isFinite(a)) return Outcome.refused(done, lr, "loss is not finite");
            model.backward(ws, batchSize, blockSize, 1f / accum);   // the parts add their auxiliary gradients
            loss += l / accum;
            aux += a / accum;
            ws.stats(addStat);
        }
        hooks.afterBackward(done, model);
        double norm = optimizer.gradNorm();
        if (!Double.isFinite(norm)) return Outcome.refused(done, lr, "gradient norm is " + norm);
        if (clip > 0 && norm > clip) optimizer.scaleGrads((float) (clip / norm));
        optimizer.step(lr);
        hooks.afterUpdate(done, model);
        return new Outcome(done, loss, norm, lr, (System.nanoTime() - t0) / 1e9, null, extras(aux));
    }
}
