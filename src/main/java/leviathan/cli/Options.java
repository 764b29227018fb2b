package leviathan.cli;

import java.util.Locale;
import leviathan.kernel.Parallel;
import leviathan.train.TrainConfig;

/** Parsing of option values shared by the subcommands; every failure is one clear message. */
final class Options {
    private Options() {}

    static TrainConfig.NanPolicy nanPolicy(String s) {
        return switch (s.trim().toLowerCase(Locale.ROOT)) {
            case "stop" -> TrainConfig.NanPolicy.STOP;
            case "skip" -> TrainConfig.NanPolicy.SKIP;
            default -> throw new IllegalArgumentException("--nan-policy must be stop or skip, got '" + s + "'");
        };
    }

    /** {@code --threads}: 0 (all cores) or 1 to {@link Parallel#maxThreads()}. */
    static int threads(int n) {
        if (n == 0) return n;
        String bad = Parallel.checkThreads(n);
        if (bad != null) throw new IllegalArgumentException("--threads " + bad.replace("must be >= 1", "must be >= 0 (0 = all cores)"));
        return n;
    }
}
