package leviathan.train;

import java.io.IOException;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import leviathan.data.CharTokenizer;
import leviathan.dist.Communicator;
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
    final TrainConfig cfg;
    final RunDirectory rd;
    final Gpt m;
    final CharTokenizer tok;
    final Workspace ws;
    final Optimizer opt;
    final List<Tensor> state;
    final TrainingData data;
    final int stopAfter;
    final Reporter report;
    final LrSchedule schedule;
    final TrainingStep training;
    final Communicator comm;
    int skipped;
    RunDirectory.Saved lastGood;
    double trainLoss = Double.NaN, valLoss = Double.NaN;

    TrainingLoop(TrainConfig cfg, RunDirectory rd, Gpt m, CharTokenizer tok, Workspace ws, Optimizer opt, List<Tensor> state,
                 TrainingData data, Reporter report, Trainer.Hooks hooks, int stopAfter, Communicator comm) {
        this.comm = comm;
        this.cfg = cfg;
        this.rd = rd;
        this.m = m;
        this.tok = tok;
        this.ws = ws;
        this.opt = opt;
        this.state = state;
        this.data = data;
        this.report = report;
        this.stopAfter = stopAfter;
        this.schedule = new LrSchedule(cfg.schedule().lr(), cfg.schedule().minLr(), cfg.schedule().warmup(), cfg.schedule().steps());
        this.training = new TrainingStep(m, ws, opt, new TokenBatchSampler(data.train(), cfg.run().seed(), tok.vocabSize()), schedule, hooks, cfg, comm);
    }

    /** Takes over a resumed run's state (checked, even for a finished run, before it is called finished) and counters. */
    void restore(RunDirectory.Resume resumed, java.util.function.Consumer<String> log) throws IOException {
        resumed.state().load(state);
        if (resumed.complete() != null) throw new Trainer.RunCompleteException(resumed.complete());
        opt.setStepCount(resumed.optimizerSteps());
        if (rd != null) rd.repairMetrics(resumed.step());
        skipped = resumed.skipped();
        lastGood = resumed.lastGood();
        if (resumed.note() != null) log.accept(resumed.note());
        if (rd != null) log.accept("resumed " + rd.path() + " at step " + resumed.step());
    }

    Trainer.Result run(int start, int total) throws IOException {
        if (start == 0 && comm.isRoot()) evaluate(0);
        for (int step = start; step < total; step++) {
            TrainingStep.Outcome o = training.run(step);
            int done = o.step();
            if (o.applied()) {
                report.step(o);
            } else if (cfg.run().nanPolicy() == TrainConfig.NanPolicy.STOP) {
                throw new Trainer.DivergedException("step " + done + ": " + o.problem() + "; the step was refused. Last good checkpoint: "
                        + lastGood() + ". Lower --lr or use --nan-policy=skip.");
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
                report.line("paused after step %d; continue with: leviathan train --resume %s", done, rd == null ? "" : rd.path());
                return result(done);
            }
        }
        report.endProgress();
        report.finish(valLoss, trainLoss, skipped, training.overlappedBuckets(), rd == null ? null : rd.model());
        return result(total);
    }

    Trainer.Result result(int steps) {
        return new Trainer.Result(rd == null ? null : rd.path(), steps, valLoss, trainLoss, report.tokensPerSecond(), Reporter.peakRss(), report.wallSeconds(),
                skipped, cfg);
    }

    /** How the last good checkpoint is named in messages (rank 0 holds the run directory). */
    String lastGood() {
        return rd == null ? "on rank 0" : rd.describe(lastGood);
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
     * Saves model and state as one pair, unless a weight or moment is not finite or the
     * evaluation is not: then the files on disk stay the last good ones, and the run stops
     * saying so (with {@code --nan-policy skip}, only at a pause or the end; between, it goes on).
     */
    void checkpoint(int done, boolean last) throws IOException {
        String problem = null;
        for (Tensor t : state) {
            long i = Checkpoint.firstNonFinite(t);
            if (i >= 0) {
                problem = t.name() + " holds " + t.getFlat(i) + " at index " + i + " after the update";
                break;
            }
        }
        if (problem == null && !(Double.isFinite(valLoss) && Double.isFinite(trainLoss))) {
            problem = "the evaluation is not finite (val loss " + valLoss + ", train loss " + trainLoss + ")";
        }
        if (problem != null) {
            String msg = "step " + done + ": " + problem + "; the checkpoint was not written. Last good checkpoint: " + lastGood();
            boolean stateBroken = !problem.startsWith("the evaluation");
            if (stateBroken || last || cfg.run().nanPolicy() == TrainConfig.NanPolicy.STOP) {
                throw new Trainer.DivergedException(msg + ". Lower --lr" + (cfg.optimizer().clip() > 0 ? "" : " or set --clip") + ".");
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
