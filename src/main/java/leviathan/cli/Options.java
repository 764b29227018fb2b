package leviathan.cli;

import java.util.Locale;
import leviathan.kernel.Parallel;
import leviathan.train.TrainConfig;

/** Parsing of option values shared by the subcommands; every failure is one clear message. */
final class Options {
    private Options() {}

    private static final java.util.regex.Pattern DURATION = java.util.regex.Pattern.compile("((\\d+(\\.\\d+)?)([hms]))+");
    private static final java.util.regex.Pattern PART = java.util.regex.Pattern.compile("(\\d+(?:\\.\\d+)?)([hms])");

    /** A duration such as {@code 90s}, {@code 10m}, {@code 1h} or {@code 1h30m}, in seconds. */
    static double duration(String flag, String s) {
        String t = s.trim().toLowerCase(Locale.ROOT);
        if (!DURATION.matcher(t).matches()) {
            throw new IllegalArgumentException(flag + " must be a duration such as 90s, 10m, 1h or 1h30m, got '" + s + "'");
        }
        double seconds = 0;
        var m = PART.matcher(t);
        while (m.find()) seconds += Double.parseDouble(m.group(1)) * switch (m.group(2)) { case "h" -> 3600; case "m" -> 60; default -> 1; };
        if (!(seconds > 0)) throw new IllegalArgumentException(flag + " must be longer than 0, got '" + s + "'");
        return seconds;
    }

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
