package leviathan.train;

/**
 * Linear warmup from 0 to {@code maxLr} over {@code warmup} steps, then cosine decay to
 * {@code minLr} at {@code totalSteps}; constant {@code minLr} after that. Steps count from 0.
 */
public record LrSchedule(float maxLr, float minLr, int warmup, int totalSteps) {

    /** The same schedule over {@code steps} steps (a time-budgeted run fixes its length during the warmup). */
    public LrSchedule withTotal(int steps) { return new LrSchedule(maxLr, minLr, warmup, steps); }

    public float at(int step) {
        if (warmup > 0 && step < warmup) return maxLr * (step + 1) / warmup;
        if (step >= totalSteps) return minLr;
        double progress = (double) (step - warmup) / Math.max(1, totalSteps - warmup);
        double cosine = 0.5 * (1 + Math.cos(Math.PI * progress));
        return (float) (minLr + cosine * (maxLr - minLr));
    }
}
