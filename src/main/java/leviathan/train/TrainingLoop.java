package leviathan.train;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import leviathan.data.CharTokenizer;
import leviathan.distributed.Communicator;
import leviathan.model.Checkpoint;
import leviathan.data.TokenBatchSampler;
import leviathan.model.Gpt;
import leviathan.model.Workspace;
import leviathan.tensor.Tensor;

/**
 * The loop of one run: {@link TrainingStep}s from the start step to the total, the NaN policy,
 * and every {@code eval_interval} steps (and at a pause and the end) an evaluation and a
 * checkpoint, which replaces the previous one only if the weights, the moments and the evaluation
 * are all finite.
 *
 * <p>With several ranks every rank runs this loop; at each evaluation point all of them check that
 * their parameters are identical ({@link Communicator#checkIdentical}), and rank 0 alone evaluates
 * and checkpoints (the others have no run directory).
 */
final class TrainingLoop {
    TrainConfig cfg;                                     // a time budget fixes its steps during the warmup
    final boolean rank0;                                 // rank 0 alone (or the one process) evaluates and writes
    final RunDirectory rd;                               // rank 0's run directory (null on the other ranks)
    final Gpt m;
    final CharTokenizer tok;
    final Workspace ws;
    final Optimizer opt;
    final List<Tensor> state;
    final TrainingData data;
    final int stopAfter;
    final Reporter report;
    LrSchedule schedule;
    final TrainingStep training;
    final Communicator comm;
    int skipped;
    RunDirectory.Saved lastGood;
    double trainLoss = Double.NaN, valLoss = Double.NaN;

    /** The loop of {@code run}, with the step's workspace and optimizer, the state that checkpoints save, and its reporter. */
    TrainingLoop(RunContext run, Workspace ws, Optimizer opt, List<Tensor> state, Reporter report, TrainingHooks hooks, int stopAfter) {
        this.comm = run.comm();
        this.cfg = run.config();
        this.rank0 = run.rank0();
        this.rd = run.dir();
        this.m = run.model();
        this.tok = run.tokenizer();
        this.ws = ws;
        this.opt = opt;
        this.state = state;
        this.data = run.data();
        this.report = report;
        this.stopAfter = stopAfter;
        this.schedule = new LrSchedule(cfg.schedule().lr(), cfg.schedule().minLr(), cfg.schedule().warmup(), cfg.schedule().steps());
        this.training = new TrainingStep(m, ws, opt, new TokenBatchSampler(data.train(), cfg.run().seed(), tok.vocabSize()), schedule, hooks, cfg, comm);
    }

    /** Takes over a resumed run's state (checked, even for a finished run, before it is called finished) and counters. */
    void restore(RunDirectory.Resume resumed, java.util.function.Consumer<String> log) throws IOException {
        resumed.state().load(state);
        if (resumed.complete() != null) throw new RunCompleteException(resumed.complete());
        opt.setStepCount(resumed.optimizerSteps());
        if (rank0) rd.repairMetrics(resumed.step());
        skipped = resumed.skipped();
        lastGood = resumed.lastGood();
        this.resumed = true;
        if (resumed.note() != null) log.accept(resumed.note());
        if (rank0) log.accept("resumed " + rd.path() + " at step " + resumed.step());
    }

    /** Whether this run continues a run directory (--resume keeps its config: the advice then names --init-from). */
    private boolean resumed;

    /** How to lower the learning rate, in words that work for this run. */
    private String lowerLr() {
        if (!resumed || !rank0) return "Lower --lr";
        return "A resumed run keeps its --lr: start a new run from the last good model with --init-from " + rd.model() + " and a lower --lr";
    }

    TrainingResult run(int start, int total) throws IOException {
        boolean budgeted = cfg.schedule().budgeted();
        double budget = cfg.schedule().timeBudget();
        // a budgeted run measures its steps over the second half of the warmup (the JIT warms up in the first), then fixes its length
        int measureTo = cfg.schedule().warmup(), measureFrom = measureTo / 2;
        long measureStart = 0;
        if (budgeted) {
            total = Integer.MAX_VALUE;
            report.budget(report.wallStart() + (long) (budget * 1e9), budget);
        }
        if (start == 0 && comm.isRoot()) evaluate(0);
        for (int step = start; step < total; step++) {
            if (budgeted && step == measureFrom) measureStart = System.nanoTime();
            TrainingStep.Outcome o = training.run(step);
            int done = o.step();
            if (budgeted && done == measureTo) {
                total = fixSteps(done, (System.nanoTime() - measureStart) / 1e9 / (measureTo - measureFrom), measureFrom);
                budgeted = false;
            }
            if (o.applied()) {
                report.step(o);
            } else if (cfg.run().nanPolicy() == TrainConfig.NanPolicy.STOP) {
                throw new DivergedException("step " + done + ": " + o.problem() + "; the step was refused. Last good checkpoint: "
                        + lastGood() + ". " + lowerLr() + " or use --nan-policy=skip" + (resumed ? " in that new run" : "") + ".");
            } else {
                skipped++;
                report.log("step " + done + ": " + o.problem() + ", skipped (" + skipped + " so far)");
            }
            boolean pause = done == stopAfter && done < total;
            if (done % cfg.run().evalInterval() == 0 || done == total || pause) {
                comm.checkIdentical(m.params().all(), m.params().all().byteSize(), "parameters after step " + done);
                if (comm.isRoot()) {
                    evaluate(done);
                    checkpoint(done, pause || done == total);
                }
            }
            if (pause) {
                report.endProgress();
                report.line("paused after step %d; continue with: leviathan train --resume %s", done, rank0 ? rd.path() : "");
                return result(done);
            }
        }
        report.endProgress();
        report.finish(valLoss, trainLoss, skipped, training.overlappedBuckets(), rank0 ? rd.model() : null);
        return result(total);
    }

    /**
     * Fixes the length of a time-budgeted run after {@code done} steps: as many more steps as fit in
     * what is left of the budget at {@code secondsPerStep}, with an evaluation every
     * {@code eval_interval} steps and one more, the checkpoint and the sample at the end. An
     * evaluation is {@code 2·eval_batches} forward passes of a whole batch, each about a third of a
     * micro-batch's forward and backward (the step 0 evaluation runs before the JIT has compiled the
     * kernels, so its time is no guide). Every rank takes the same figures (their means).
     * The config, and so {@code config.json}, then holds the steps, which a resume or a rerun with
     * {@code --steps} reproduces exactly (the warmup's learning rate does not depend on them).
     */
    private int fixSteps(int done, double secondsPerStep, int measuredFrom) throws IOException {
        double elapsed = (System.nanoTime() - report.wallStart()) / 1e9;
        if (comm.size() > 1) {
            try (java.lang.foreign.Arena a = java.lang.foreign.Arena.ofConfined()) {
                var v = a.allocate(java.lang.foreign.ValueLayout.JAVA_FLOAT, 2);
                v.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, 0, (float) secondsPerStep);
                v.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, 1, (float) elapsed);
                comm.allreduceMean(v, 2);
                secondsPerStep = v.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, 0);
                elapsed = v.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, 1);
            }
        }
        // rank 0 evaluates whole batches: the ranks' shares together
        double evalSeconds = 2.0 * cfg.run().evalBatches() * comm.size() * secondsPerStep / (3.0 * cfg.schedule().accum());
        double budget = cfg.schedule().timeBudget();
        double left = budget - elapsed - evalSeconds - END_SECONDS;
        int more = (int) Math.max(0, Math.min(Integer.MAX_VALUE - done, Math.floor(left / (secondsPerStep + evalSeconds / cfg.run().evalInterval()))));
        int steps = done + more;
        cfg = cfg.withSteps(steps);
        schedule = schedule.withTotal(steps);
        training.schedule(schedule);
        report.totalSteps(steps);
        if (rank0) rd.writeConfig(cfg);
        report.endProgress();
        report.line("time budget %s: %,d steps (%.3f s a step over steps %d-%d, %.1f s an evaluation, %.0f s used); recorded in config.json",
                Reporter.duration(budget), steps, secondsPerStep, measuredFrom + 1, done, evalSeconds, elapsed);
        return steps;
    }

    /** Seconds a budget keeps for the end of a run beyond its last evaluation: the checkpoint and the sample. */
    static final double END_SECONDS = 2.0;

    TrainingResult result(int steps) {
        return new TrainingResult(rank0 ? rd.path() : null, steps, valLoss, trainLoss, report.tokensPerSecond(), Reporter.peakRss(), report.wallSeconds(),
                skipped, cfg);
    }

    /** How the last good checkpoint is named in messages (rank 0 holds the run directory). */
    String lastGood() {
        return rank0 ? rd.describe(lastGood) : "on rank 0";
    }

    /** Estimates train and val loss on {@code eval_batches} fixed batches each. */
    void evaluate(int done) throws IOException {
        long t0 = System.nanoTime();
        int B = cfg.schedule().batchSize(), T = cfg.model().blockSize(), n = cfg.run().evalBatches();
        trainLoss = Evaluator.estimate(m, ws, data.train(), B, T, n, cfg.run().seed() + 1);
        valLoss = Evaluator.estimate(m, ws, data.val(), B, T, n, cfg.run().seed() + 2);
        report.eval(done, schedule.at(Math.max(0, done - 1)), trainLoss, valLoss, (System.nanoTime() - t0) / 1e9);
    }

    /**
     * Why a checkpoint cannot be written: the weights or moments are not finite ({@code stateBroken}:
     * the run cannot go on), or only the evaluation is not (it may, with {@code --nan-policy skip}).
     */
    private record Unsaveable(boolean stateBroken, String reason) {}

    /**
     * Saves model and state as one pair, unless a weight or moment is not finite or the
     * evaluation is not: then the files on disk stay the last good ones, and the run stops
     * saying so (with {@code --nan-policy skip}, only at a pause or the end; between, it goes on).
     */
    void checkpoint(int done, boolean last) throws IOException {
        Unsaveable problem = null;
        for (Tensor t : state) {
            long i = Checkpoint.firstNonFinite(t);
            if (i >= 0) {
                problem = new Unsaveable(true, t.name() + " holds " + t.getFlat(i) + " at index " + i + " after the update");
                break;
            }
        }
        if (problem == null && !(Double.isFinite(valLoss) && Double.isFinite(trainLoss))) {
            problem = new Unsaveable(false, "the evaluation is not finite (val loss " + valLoss + ", train loss " + trainLoss + ")");
        }
        if (problem != null) {
            String msg = "step " + done + ": " + problem.reason() + "; the checkpoint was not written. Last good checkpoint: " + lastGood();
            if (problem.stateBroken() || last || cfg.run().nanPolicy() == TrainConfig.NanPolicy.STOP) {
                throw new DivergedException(msg + ". " + lowerLr() + (cfg.optimizer().clip() > 0 ? "" : " or set --clip") + ".");
            }
            report.log(msg);
            return;
        }
        Map<String, String> extra = new LinkedHashMap<>();
        extra.put("step", Integer.toString(done));
        extra.put("optimizer", cfg.optimizer().kind().name().toLowerCase(Locale.ROOT));
        extra.put("optimizer_steps", Integer.toString(opt.stepCount()));
        extra.put("skipped_steps", Integer.toString(skipped));
        extra.put("val_loss", Double.toString(valLoss));
        extra.put("train_loss", Double.toString(trainLoss));
        RunDirectory.Saved saved = new RunDirectory.Saved(done, valLoss);
        rd.save(saved, lastGood, m, tok, extra, state);
        lastGood = saved;
    }
}
