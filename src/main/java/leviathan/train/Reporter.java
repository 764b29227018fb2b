package leviathan.train;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.Locale;
import java.util.Map;
import java.util.function.Consumer;
import leviathan.model.Json;

/**
 * What a run tells: the progress line (rewritten in place on a terminal, one line per
 * {@code log_interval} steps otherwise), evaluation lines, plain log lines, the rows of
 * {@code metrics.jsonl}, and the final summary with the peak resident set size. It also keeps the
 * throughput figures (training seconds and tokens, evaluation excluded). With several ranks it also
 * sums the step-time breakdown (compute, communication, idle) and adds it to the metrics rows and
 * the summary; only rank 0 has a reporter that writes ({@link #silent}).
 */
final class Reporter {
    private final PrintStream out;
    private final Consumer<String> log;
    private final Path metrics;
    private final boolean tty = System.console() != null && System.console().isTerminal();
    private final int logInterval;
    private int totalSteps;
    /** When the run's clock started ({@code System.nanoTime}). */
    long wallStart() { return wallStart; }

    /** The end of a time budget ({@code System.nanoTime}) and its length in seconds; 0 without one. */
    private long budgetEnd;
    private double budget;
    private final long tokensPerStep, wallStart;
    private double trainSeconds, smoothed = Double.NaN;
    private long trainTokens;
    private final int ranks;
    private double commSeconds, idleSeconds;

    Reporter(PrintStream out, Consumer<String> log, Path metrics, TrainConfig cfg, long wallStart) {
        this(out, log, metrics, cfg, wallStart, 1);
    }

    /** A reporter for rank 0 of {@code ranks} data-parallel ranks. */
    Reporter(PrintStream out, Consumer<String> log, Path metrics, TrainConfig cfg, long wallStart, int ranks) {
        this.ranks = ranks;
        this.out = out;
        this.log = log;
        this.metrics = metrics;
        this.totalSteps = cfg.schedule().steps();
        this.logInterval = cfg.run().logInterval();
        this.tokensPerStep = cfg.schedule().tokensPerStep(cfg.model().blockSize());
        this.wallStart = wallStart;
    }

    /** The reporter of a rank other than 0: it keeps the figures but prints and writes nothing. */
    static Reporter silent(TrainConfig cfg, long wallStart, int ranks) {
        return new Reporter(new PrintStream(java.io.OutputStream.nullOutputStream()), s -> { }, null, cfg, wallStart, ranks);
    }

    /** A plain log line (skipped steps, resume notes). */
    void log(String line) { log.accept(line); }

    /** A line of the run's header or summary, on standard output. */
    void line(String format, Object... args) { out.printf(format + "%n", args); }

    /** The lines a run starts with: ranks, run directory, effective config, model, data, backend and threads. */
    void header(leviathan.distributed.Communicator comm, RunDirectory rd, TrainConfig cfg, leviathan.model.Gpt m, TrainingData data,
                leviathan.backend.Backend backend) {
        int B = cfg.schedule().batchSize();
        if (comm.size() > 1) line("%s ranks: batch of %d rows, %d per rank (%s)", comm.size(), B, B / comm.size(), comm.describe());
        line("run: %s", rd == null ? "" : rd.path());
        line("config: %s", cfg.toJson().replaceAll("\\s+", " ").trim());
        line("model: %s: %,d parameters", m.config().describe(), m.parameterCount());
        line("data: %s, %,d characters (%,d train, %,d val); backend %s; %d threads", data.file(), data.characters(),
                data.train().length(), data.val().length(), backend.describe(), leviathan.kernel.Parallel.threads());
    }

    /** Training tokens per second so far (0 before the first step). */
    double tokensPerSecond() { return trainSeconds > 0 ? trainTokens / trainSeconds : 0; }

    /** An applied step: the progress line, and a metrics row every {@code log_interval} steps and at the last. */
    void step(TrainingStep.Outcome o) throws IOException {
        int done = o.step();
        trainSeconds += o.seconds();
        trainTokens += tokensPerStep;
        commSeconds += o.commSeconds();
        idleSeconds += o.idleSeconds();
        smoothed = Double.isNaN(smoothed) ? o.loss() : 0.9 * smoothed + 0.1 * o.loss();
        double tps = tokensPerSecond();
        // the line's strings are made only for a line printed (each step on a terminal, else each log_interval):
        // between log lines a step's report allocates nothing
        if (tty) {
            out.printf("\r\033[Kstep %d/%s | loss %.4f (avg %.4f) | lr %.2e | %,.0f tok/s | %s left%s", done, total(), o.loss(), smoothed,
                    o.lr(), tps, eta(done, tps), brief(o.extras()));
            out.flush();
        } else if (done % logInterval == 0) {
            out.printf("step %5d/%s | loss %.4f | lr %.2e | %,.0f tok/s | %s left%s%n", done, total(), o.loss(), o.lr(), tps, eta(done, tps),
                    brief(o.extras()));
        }
        if (done % logInterval == 0 || done == totalSteps) {
            append(String.format(Locale.ROOT, "{\"step\":%d,\"lr\":%.6g,\"train_loss\":%.6f,\"tokens_per_s\":%.1f,\"elapsed_s\":%.3f%s}",
                    done, o.lr(), o.loss(), tps, (System.nanoTime() - wallStart) / 1e9, breakdown() + json(o.extras())));
        }
    }

    /** Time left after {@code done} steps at {@code tps} tokens per second. */
    private String eta(int done, double tps) {
        if (budgetEnd != 0) return duration(Math.max(0, (budgetEnd - System.nanoTime()) / 1e9)) + " of " + duration(budget);
        return duration((totalSteps - done) * tokensPerStep / Math.max(1e-9, tps));
    }

    /** A time budget of {@code seconds} ending at {@code end} ({@code System.nanoTime}): the progress line counts down to it. */
    void budget(long end, double seconds) {
        this.budgetEnd = end;
        this.budget = seconds;
    }

    /** The total once a time budget has fixed it. */
    void totalSteps(int steps) { this.totalSteps = steps; }

    private String total() { return totalSteps > 0 ? Integer.toString(totalSteps) : "?"; }

    /**
     * An evaluation at step {@code done}: the eval line and a metrics row. The row's {@code train_s}
     * counts training steps only; {@code elapsed_s} counts from the run's clock start (the process start
     * for a time-budgeted run), evaluations included, so val loss can be plotted against wall-clock time.
     */
    void eval(int done, float lr, double trainLoss, double valLoss, double seconds) throws IOException {
        if (tty) out.print("\r\033[K");
        out.printf("step %5d | train %.4f | val %.4f | val bpc %.4f | %,.0f tok/s | eval %.1fs%n", done, trainLoss, valLoss,
                valLoss / Math.log(2), tokensPerSecond(), seconds);
        append(String.format(Locale.ROOT,
                "{\"step\":%d,\"lr\":%.6g,\"eval_train_loss\":%.6f,\"val_loss\":%.6f,\"val_bpc\":%.6f,\"tokens_per_s\":%.1f,\"train_s\":%.3f,\"elapsed_s\":%.3f}",
                done, lr, trainLoss, valLoss, valLoss / Math.log(2), tokensPerSecond(), trainSeconds, wallSeconds()));
    }

    /** Ends a progress line that a terminal keeps rewriting. */
    void endProgress() {
        if (tty) out.println();
    }

    /**
     * The closing summary: final losses, throughput, wall time, peak RSS, skipped steps; with several ranks the step-time
     * breakdown and how many gradient-bucket allreduces started during backward ({@code overlapped}).
     */
    void finish(double valLoss, double trainLoss, int skipped, long overlapped, Path model) {
        long rss = peakRss();
        out.printf("final: val loss %.4f, val bpc %.4f, train loss %.4f, %,.0f tokens/s, wall %.1f s, peak RSS %s%s%n",
                valLoss, valLoss / Math.log(2), trainLoss, tokensPerSecond(), wallSeconds(), rss > 0 ? (rss >> 20) + " MiB" : "n/a",
                skipped > 0 ? ", " + skipped + " steps skipped" : "");
        if (ranks > 1) {
            out.printf("step time (rank 0, %d ranks): compute %.3f s, communication %.3f s, idle %.3f s; %d bucket allreduces overlapped with backward%n",
                    ranks, trainSeconds - commSeconds - idleSeconds, commSeconds, idleSeconds, overlapped);
        }
        out.printf("model: %s%n", model);
    }

    /** With several ranks, the step-time breakdown so far as JSON members ({@code ,"compute_s":...}); else nothing. */
    private String breakdown() {
        if (ranks == 1) return "";
        return String.format(Locale.ROOT, ",\"ranks\":%d,\"compute_s\":%.3f,\"comm_s\":%.3f,\"idle_s\":%.3f", ranks,
                trainSeconds - commSeconds - idleSeconds, commSeconds, idleSeconds);
    }

    double wallSeconds() { return (System.nanoTime() - wallStart) / 1e9; }

    private void append(String line) throws IOException {
        if (metrics == null) return;                               // not rank 0
        try {
            Files.writeString(metrics, line + "\n", StandardCharsets.UTF_8, StandardOpenOption.CREATE, StandardOpenOption.APPEND,
                    java.nio.file.LinkOption.NOFOLLOW_LINKS);
        } catch (IOException e) {
            throw RunDirectory.cannotWrite(metrics, e);
        }
    }

    /** Extra named numbers as JSON members ({@code ,"name":value}); a non-finite value is {@code null}. */
    static String json(Map<String, Double> extras) {
        if (extras.isEmpty()) return "";
        StringBuilder sb = new StringBuilder();
        extras.forEach((k, v) -> {
            sb.append(',');
            Json.quote(sb, k);
            sb.append(':').append(v != null && Double.isFinite(v) ? String.format(Locale.ROOT, "%.6g", v) : "null");
        });
        return sb.toString();
    }

    /** The first two extras for the progress line ({@code " | name value ..."}), or nothing. */
    static String brief(Map<String, Double> extras) {
        if (extras.isEmpty()) return "";
        StringBuilder sb = new StringBuilder(" |");
        extras.entrySet().stream().limit(2).forEach(e -> sb.append(' ').append(e.getKey()).append(' ')
                .append(String.format(Locale.ROOT, "%.3g", e.getValue())));
        return sb.toString();
    }

    static String duration(double seconds) {
        long s = Math.round(seconds);
        return s >= 3600 ? String.format("%dh%02dm", s / 3600, s % 3600 / 60) : s >= 60 ? String.format("%dm%02ds", s / 60, s % 60) : s + "s";
    }

    /** Peak resident set size of this process (Linux {@code VmHWM}), or -1 where unknown. */
    static long peakRss() {
        try {
            for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
                if (line.startsWith("VmHWM:")) return Long.parseLong(line.replaceAll("[^0-9]", "")) * 1024;
            }
        } catch (IOException | RuntimeException e) {
            // not Linux: no peak figure
        }
        return -1;
    }
}
