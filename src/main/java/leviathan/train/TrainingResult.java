package leviathan.train;

import java.nio.file.Path;

/** What a finished (or paused) run reports; losses are those of its last evaluation. */
public record TrainingResult(Path runDir, int steps, double valLoss, double trainLoss, double tokensPerSecond, long peakRssBytes,
                             double wallSeconds, int skippedSteps, TrainConfig config) {
    public double valBpc() { return valLoss / Math.log(2); }

    /** Whether every configured step ran (false after a pause). */
    public boolean complete() { return steps == config.schedule().steps(); }
}
