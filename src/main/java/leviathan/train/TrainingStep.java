package leviathan.train;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.IntConsumer;
import java.util.function.ObjDoubleConsumer;
import leviathan.distributed.Communicator;
import leviathan.distributed.GradientBuckets;
import leviathan.data.TokenBatchSampler;
import leviathan.model.Gpt;
import leviathan.model.Workspace;

/**
 * One optimizer step, as LEVIATHAN.md's loop reads: for each micro-batch, draw a batch, run the
 * model forward (the cross-entropy, plus the parts' auxiliary losses in the objective) and
 * backward (gradients, scaled by 1/accum so that they average);
 * then the global gradient norm, the clip, and the update at the schedule's learning rate. A
 * non-finite loss or gradient refuses the step before it touches the weights.
 *
 * <p>Data parallel ({@link Communicator} of N ranks): each rank draws the same global batch and
 * runs its share of the rows ({@link Communicator#batchShare}); the micro-batch losses are averaged
 * over the ranks before anything is decided (so every rank refuses the same steps), the gradients
 * are averaged with allreduce after backward, and the norm, the clip and the update then see the
 * same numbers on every rank. With one process none of this runs and the step is what it was.
 */
final class TrainingStep {
    /** Gradient bucket size for the allreduce: PyTorch DDP's default, or {@code -Dleviathan.bucket.bytes}. */
    static final long BUCKET_BYTES = Long.getLong("leviathan.bucket.bytes", 25L << 20);

    private final Gpt model;
    private final Workspace ws;
    private final Optimizer optimizer;
    private final TokenBatchSampler batches;
    private LrSchedule schedule;
    private final TrainingHooks hooks;
    private final int batchSize, blockSize, accum;
    private final float clip, dropout;
    private final long seed;
    /** The parts' figures, averaged over micro-batches: one holder per name, made at the first step and reused. */
    private final Map<String, double[]> partStats = new LinkedHashMap<>();
    /** The same holders in a list, cleared by index: a for-each over the map makes an iterator every step. */
    private final List<double[]> statSums = new ArrayList<>();
    private final ObjDoubleConsumer<String> addStat;
    private final Outcome outcome = new Outcome();
    private final Communicator comm;
    private final Communicator.BatchShare share;
    private final GradientBuckets buckets;
    /** Whether each bucket's allreduce starts as soon as backward has produced it (true unless -Dleviathan.overlap=false). */
    private final boolean overlap = !"false".equals(System.getProperty("leviathan.overlap"));
    private final IntConsumer layerDone;                                          // backward's hook: layer l's gradients are final
    private final Arena arena = Arena.ofAuto();
    private MemorySegment scalars;                                                // the losses and part figures to average

    /**
     * What one step did: its number (1-based), mean loss over the micro-batches, gradient norm
     * before clipping, learning rate, seconds, and {@code problem}, which is non-null when the step
     * was refused. {@code extras} are further named numbers a model part reports for the step (for
     * example auxiliary losses); they go into {@code metrics.jsonl} beside the loss. With several
     * ranks, {@code commSeconds} is the time spent in the step's allreduces and {@code idleSeconds}
     * the time waiting for the other ranks to reach them (a barrier just before); both are 0 alone.
     *
     * <p>One object per {@link TrainingStep}, filled by each {@link #run} (so a step allocates
     * nothing): read it before the next step. {@link #extras()} builds its map when called.
     */
    final class Outcome {
        private int step;
        private double loss, gradNorm, seconds, commSeconds, idleSeconds, aux;
        private float lr;
        private String problem;

        private Outcome set(int step, double loss, double gradNorm, float lr, double seconds, String problem, double aux) {
            this.step = step; this.loss = loss; this.gradNorm = gradNorm; this.lr = lr; this.seconds = seconds;
            this.problem = problem; this.aux = aux; this.commSeconds = TrainingStep.this.commSeconds; this.idleSeconds = TrainingStep.this.idleSeconds;
            return this;
        }

        int step() { return step; }
        double loss() { return loss; }
        double gradNorm() { return gradNorm; }
        float lr() { return lr; }
        double seconds() { return seconds; }
        String problem() { return problem; }
        double commSeconds() { return commSeconds; }
        double idleSeconds() { return idleSeconds; }

        boolean applied() { return problem == null; }

        /** The auxiliary loss and the parts' figures of an applied step, or nothing for a model without them (a new map). */
        Map<String, Double> extras() {
            if (problem != null || (partStats.isEmpty() && aux == 0)) return Map.of();
            Map<String, Double> m = new LinkedHashMap<>();
            m.put("aux_loss", aux);
            for (var e : partStats.entrySet()) m.put(e.getKey(), e.getValue()[0]);
            return m;
        }
    }

    TrainingStep(Gpt model, Workspace ws, Optimizer optimizer, TokenBatchSampler batches, LrSchedule schedule, TrainingHooks hooks,
                 TrainConfig cfg, Communicator comm) {
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
        this.dropout = cfg.optimizer().dropout();
        this.seed = cfg.run().seed();
        this.addStat = (name, v) -> {
            double[] sum = partStats.get(name);
            if (sum == null) {
                partStats.put(name, sum = new double[1]);
                statSums.add(sum);
            }
            sum[0] += v / accum;
        };
        this.comm = comm;
        this.share = comm.batchShare(batchSize);
        if (comm.size() > 1) {
            // the gradient buffer in the order backward finishes it: each layer's slice, last layer (with ln_f) first, then
            // the embeddings. The slices tile the buffer, so every bucket is reduced in place and the buckets allocate nothing.
            int layers = model.config().nLayer();
            List<MemorySegment> slices = new ArrayList<>();
            for (int l = layers - 1; l >= 0; l--) slices.add(model.layerGradients(l));
            slices.add(model.embeddingGradients());
            this.buckets = new GradientBuckets(comm, slices, BUCKET_BYTES);
            this.layerDone = overlap ? l -> buckets.ready(layers - 1 - l) : null;
        } else {
            this.buckets = null;                                 // one process: nothing to average
            this.layerDone = null;
        }
        this.scalars = arena.allocate(ValueLayout.JAVA_FLOAT, 8);
    }

    /** Replaces the learning-rate schedule (a time-budgeted run fixes its length during the warmup, where the rate does not depend on it). */
    void schedule(LrSchedule s) { this.schedule = s; }

    /** The rows of each global batch that this rank runs. */
    Communicator.BatchShare share() { return share; }

    private double commSeconds, idleSeconds;

    /** Averages {@code values} over the ranks in place (float precision), timing the wait and the reduction. */
    private void allreduceMean(double[] values) {
        if (scalars.byteSize() < (long) values.length * Float.BYTES) scalars = arena.allocate(ValueLayout.JAVA_FLOAT, values.length);
        for (int i = 0; i < values.length; i++) scalars.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) values[i]);
        timed(() -> comm.allreduceMean(scalars, values.length));
        for (int i = 0; i < values.length; i++) values[i] = scalars.getAtIndex(ValueLayout.JAVA_FLOAT, i);
    }

    /** Bucket reductions started during backward so far (0 without overlap or with one process). */
    long overlappedBuckets() { return buckets == null ? 0 : buckets.startedEarly(); }

    private static double seconds(Runnable r) {
        long t0 = System.nanoTime();
        r.run();
        return (System.nanoTime() - t0) / 1e9;
    }

    /** Runs a collective after a barrier: the barrier's time is idle (waiting for slower ranks), the rest communication. */
    private void timed(Runnable collective) {
        long t0 = System.nanoTime();
        comm.barrier();
        long t1 = System.nanoTime();
        collective.run();
        long t2 = System.nanoTime();
        idleSeconds += (t1 - t0) / 1e9;
        commSeconds += (t2 - t1) / 1e9;
    }

    /** Runs step {@code step} (0-based: the number of steps done before it). */
    Outcome run(int step) {
        long t0 = System.nanoTime();
        int done = step + 1;
        float lr = schedule.at(step);
        commSeconds = 0;
        idleSeconds = 0;
        model.zeroGrad();
        for (int i = 0; i < statSums.size(); i++) statSums.get(i)[0] = 0;
        double loss = 0, aux = 0;
        int rows = share.rows();
        boolean parallel = comm.size() > 1;
        long startedBefore = parallel ? buckets.startedEarly() : 0;
        for (int micro = 0; micro < accum; micro++) {
            batches.fill(ws.tokens(), ws.targets(), batchSize, blockSize, step, micro, share.first(), rows);
            if (dropout > 0) ws.dropout(dropout, seed, step, micro, share.first());   // p = 0 arms nothing and draws nothing
            float l = hooks.afterLoss(done, model.forward(ws, rows, blockSize, true));
            double a = ws.auxLoss();                             // the parts' auxiliary terms (MoE); 0 for dense models
            if (parallel) {                                      // the global mean: a non-finite loss on any rank reaches all
                double[] both = {l, a};
                allreduceMean(both);
                l = (float) both[0];
                a = both[1];
            }
            if (!Float.isFinite(l) || !Double.isFinite(a)) {
                ws.noDropout();
                return refused(done, lr, "loss is not finite");
            }
            // the parts add their auxiliary gradients; in the last micro-batch each layer's allreduce may start as it is done
            model.backward(ws, rows, blockSize, 1f / accum, micro == accum - 1 ? layerDone : null);
            ws.noDropout();
            loss += l / accum;
            aux += a / accum;
            ws.stats(addStat);
        }
        hooks.afterBackward(done, model);
        if (parallel) {
            // every rank now holds the mean gradient of the global batch. Where buckets are already in flight no barrier may
            // come first (every rank decides alike): the exposed wait, idle included, then counts as communication.
            if (buckets.startedEarly() > startedBefore) commSeconds += seconds(buckets::finish);
            else timed(buckets::allreduceMean);
            if (!partStats.isEmpty()) {                          // the parts' figures (expert loads) of the global batch
                double[] v = partStats.values().stream().mapToDouble(sum -> sum[0]).toArray();
                allreduceMean(v);
                int i = 0;
                for (double[] sum : partStats.values()) sum[0] = v[i++];
            }
        }
        double norm = optimizer.gradNorm();
        if (!Double.isFinite(norm)) return refused(done, lr, "gradient norm is " + norm);
        optimizer.step(lr, clip > 0 && norm > clip ? (float) (clip / norm) : 1f);   // clipping folded into the update
        hooks.afterUpdate(done, model);
        return outcome.set(done, loss, norm, lr, (System.nanoTime() - t0) / 1e9, null, aux);
    }

    private Outcome refused(int done, float lr, String problem) {
        return outcome.set(done, Double.NaN, Double.NaN, lr, 0, problem, 0);
    }
}
