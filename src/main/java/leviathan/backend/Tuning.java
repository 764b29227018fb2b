package leviathan.backend;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SequencedMap;
import java.util.TreeMap;
import java.util.function.Consumer;
import leviathan.kernel.Correlation;
import leviathan.kernel.CorrelationCandidates;
import leviathan.kernel.CorrelationFft;
import leviathan.kernel.Matmul;
import leviathan.kernel.Parallel;

/**
 * Kernel choices timed on the machine that runs them, kept like FFTW's wisdom: the first time a
 * choice is needed (a GEMM shape's engine and thread count, the direct correlation's tile or the
 * FFT path for a model's attention shape, the GEMM tile height) each candidate is timed and the
 * fastest is used and written to the cache; later runs read it back and time nothing.
 *
 * <p>The cache is one file per {@link MachineKey} (CPU model, CPU flags, JDK, vector width,
 * register budget and a hash of the tuned kernels' class files, the engine version) in
 * {@code ${XDG_CACHE_HOME:-~/.cache}/leviathan/tuning} ({@link #CACHE_PROPERTY}; the conventions
 * of {@link NativeCache}): a new CPU, JDK, {@code -XX:MaxVectorSize} or engine build gets a fresh
 * file. A damaged file costs one log line and is timed again. {@code -Dleviathan.tune=false}
 * ({@link #PROPERTY}; or {@code LEVIATHAN_TUNE=false} in the environment) runs the built-in
 * defaults and neither reads nor writes the cache.
 *
 * <p>Every candidate computes the same function: the correlation tiles and GEMM tile heights give
 * the same bits, the Java and oneDNN GEMMs and the FFT path differ by rounding within the oracle
 * tests' tolerance. A choice is made once per shape and JVM and then fixed, so a run with a given
 * seed repeats itself exactly for a given cache file.
 *
 * <p>A choice is timed at its {@value #WARM_CALLS}th use, not its first: by then the JIT has
 * compiled the kernels of the running model, so the candidates are timed as they will run; the
 * calls before it run the default. The candidates run in turns (rounds over all of them), warm-up
 * rounds until none improves by more than 15% (at most {@value #WARM_MAX_RUNS}), then
 * {@value #TIMED_RUNS} timed rounds; each is judged by its median, and a non-default candidate
 * wins only when {@value #MARGIN_PERCENT}% faster than the default. Timing is bounded: all of a
 * JVM's timing together stops at {@link #BUDGET_PROPERTY} milliseconds (default
 * {@value #DEFAULT_BUDGET_MS}), also in the middle of a choice; choices left then run their
 * defaults, uncached, and are timed by a later run ({@code ./leviathan tune} has no budget).
 */
public final class Tuning {

    /** {@code false}: built-in defaults, no timing, no cache. */
    public static final String PROPERTY = "leviathan.tune";
    /** The environment's say when {@link #PROPERTY} is not set (the tests set it, so that the JVMs they start inherit it). */
    public static final String ENV = "LEVIATHAN_TUNE";
    /** The cache directory (default {@code ${XDG_CACHE_HOME:-~/.cache}/leviathan/tuning}). */
    public static final String CACHE_PROPERTY = "leviathan.tune.cache";
    /** Milliseconds of timing a JVM may spend in all (default {@value #DEFAULT_BUDGET_MS}). */
    public static final String BUDGET_PROPERTY = "leviathan.tune.budgetMs";
    static final long DEFAULT_BUDGET_MS = 600;

    static final String HEADER = "leviathan-tuning 1";
    static final int WARM_MAX_RUNS = 12, TIMED_RUNS = 3, MARGIN_PERCENT = 5;
    /** A choice is made at this use of its shape; the uses before it run the default (cold code would time unfairly). */
    public static final int WARM_CALLS = 4;

    /** One cached choice: the winner and what each candidate took (for the table). */
    public record Entry(String name, String choice, String timings) {}

    private static Tuning global;

    private final Path file;
    private final MachineKey key;
    private final boolean enabled;
    private final long budgetNs;
    private final Consumer<String> log;
    private final Map<String, Entry> entries = new TreeMap<>();
    private long spentNs;
    private boolean budgetNoted, saveNoted, unbounded;

    Tuning(Path dir, MachineKey key, boolean enabled, long budgetMs, Consumer<String> log) {
        this.file = dir.resolve(key.id() + ".tsv");
        this.key = key;
        this.enabled = enabled;
        this.budgetNs = budgetMs * 1_000_000L;
        this.log = log;
        if (enabled) load();
    }

    /**
     * The JVM's tuning, made on first use from the properties; {@code log} gets its one-line
     * notes (a damaged cache, a spent budget).
     */
    public static synchronized Tuning global(Consumer<String> log) {
        if (global == null) {
            global = new Tuning(NativeCache.root(CACHE_PROPERTY, "tuning"), MachineKey.current(), enabledBySystem(), budgetMs(), log);
        }
        return global;
    }

    /** {@code -Dleviathan.tune}, else {@code LEVIATHAN_TUNE}, else true. */
    public static boolean enabledBySystem() {
        String p = System.getProperty(PROPERTY);
        String from = "-D" + PROPERTY;
        if (p == null || p.isBlank()) {
            p = System.getenv(ENV);
            from = ENV;
        }
        if (p == null || p.isBlank()) return true;
        p = p.trim();
        if (!p.equals("true") && !p.equals("false")) throw new IllegalArgumentException(from + " must be true or false, got '" + p + "'");
        return p.equals("true");
    }

    private static long budgetMs() {
        String p = System.getProperty(BUDGET_PROPERTY);
        if (p == null || p.isBlank()) return DEFAULT_BUDGET_MS;
        try {
            long v = Long.parseLong(p.trim());
            if (v < 0) throw new NumberFormatException();
            return v;
        } catch (NumberFormatException e) {
            throw new IllegalArgumentException(BUDGET_PROPERTY + " must be a number of milliseconds >= 0, got '" + p + "'");
        }
    }

    public boolean enabled() { return enabled; }

    public Path file() { return file; }

    public MachineKey key() { return key; }

    /** The cached choices, by name. */
    public synchronized List<Entry> entries() { return List.copyOf(entries.values()); }

    /** Forgets every choice (in memory: the file is rewritten by the next choice); {@code tune} times them all again. */
    public synchronized void forget() {
        entries.clear();
        spentNs = 0;
        budgetNoted = false;
    }

    /** Sets the budget aside ({@code tune}: time everything its workload needs). */
    public synchronized void unbounded() { unbounded = true; }

    /**
     * The choice named {@code name} among {@code candidates} (name → one run of the candidate; the
     * first is the built-in default): the cached one, or else the fastest by timing, then cached.
     * Returns the default when tuning is off or its budget is spent.
     */
    public synchronized String choose(String name, SequencedMap<String, Runnable> candidates) {
        String dflt = candidates.firstEntry().getKey();
        if (!enabled) return dflt;
        Entry e = entries.get(name);
        if (e != null && candidates.containsKey(e.choice())) return e.choice();
        if (candidates.size() == 1) return dflt;
        if (!unbounded && spentNs >= budgetNs) {
            if (!budgetNoted) log.accept("tuning: the " + budgetNs / 1_000_000 + " ms budget (-D" + BUDGET_PROPERTY
                    + ") is spent; the remaining choices run their defaults and are timed on a later run");
            budgetNoted = true;
            return dflt;
        }
        long t0 = System.nanoTime();
        List<String> names = new ArrayList<>(candidates.keySet());
        int n = names.size();
        long[][] runs = new long[n][WARM_MAX_RUNS + TIMED_RUNS];
        long[] best = new long[n];
        Arrays.fill(best, Long.MAX_VALUE);
        // Rounds over all candidates in turn, so that code they share is warm for each and a change
        // in the machine's load hits all alike: warm-up rounds until no candidate improves by more
        // than 15% (at least 2, at most WARM_MAX_RUNS), then TIMED_RUNS rounds, judged by medians.
        int round = 0, warm = -1;
        while (warm < 0 || round < warm + TIMED_RUNS) {
            if (!unbounded && spentNs + System.nanoTime() - t0 > budgetNs) {          // cold code can take long: stop here
                spentNs += System.nanoTime() - t0;
                if (!budgetNoted) log.accept("tuning: the " + budgetNs / 1_000_000 + " ms budget (-D" + BUDGET_PROPERTY
                        + ") ran out while timing " + name + "; it and the remaining choices run their defaults (./leviathan tune times them all)");
                budgetNoted = true;
                return dflt;
            }
            boolean improved = false;
            for (int i = 0; i < n; i++) {
                long s0 = System.nanoTime();
                candidates.get(names.get(i)).run();
                long ns = System.nanoTime() - s0;
                runs[i][round] = ns;
                if (ns < 0.85 * best[i]) improved = true;
                best[i] = Math.min(best[i], ns);
            }
            round++;
            if (warm < 0 && round >= 2 && (!improved || round == WARM_MAX_RUNS)) warm = round;
        }
        String winner = dflt;
        double bestNs = Double.MAX_VALUE, dfltNs = 0;
        StringBuilder timings = new StringBuilder();
        for (int i = 0; i < n; i++) {
            long[] timed = Arrays.copyOfRange(runs[i], warm, warm + TIMED_RUNS);
            Arrays.sort(timed);
            double ns = timed[TIMED_RUNS / 2];
            if (names.get(i).equals(dflt)) dfltNs = ns;
            if (timings.length() > 0) timings.append(", ");
            timings.append(names.get(i)).append(' ').append(String.format(java.util.Locale.ROOT, "%.3f", ns / 1e6)).append(" ms");
            if (ns < bestNs) {
                bestNs = ns;
                winner = names.get(i);
            }
        }
        if (!winner.equals(dflt) && bestNs > dfltNs * (1 - MARGIN_PERCENT / 100.0)) winner = dflt;   // not clearly faster
        spentNs += System.nanoTime() - t0;
        entries.put(name, new Entry(name, winner, timings.toString()));
        save();
        return winner;
    }

    /**
     * Sets the GEMM micro-kernel's tile height ({@link Matmul#setTileRows}) this machine's cache
     * holds; where it holds none and {@code time}, times both first, on one thread and a product
     * small enough that its first, not yet compiled runs stay cheap (they also warm up the Java
     * GEMM before a shape's candidates are timed).
     */
    public synchronized void tuneGemmTile(boolean time) {
        if (!enabled) return;
        Entry cached = entries.get(GEMM_TILE);
        if (cached != null && Matmul.TILE_ROWS.contains(parseInt(cached.choice()))) {
            Matmul.setTileRows(parseInt(cached.choice()));
            return;
        }
        if (!time) return;
        int M = 96, N = 128, K = 64;           // a multiple of both tile heights; small, as cold code runs it first
        try (java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared()) {
            var a = arena.allocate((long) M * K * Float.BYTES, 64);
            var b = arena.allocate((long) K * N * Float.BYTES, 64);
            var c = arena.allocate((long) M * N * Float.BYTES, 64);
            fill(a);
            fill(b);
            SequencedMap<String, Runnable> candidates = new java.util.LinkedHashMap<>();
            int dflt = Matmul.defaultTileRows();
            for (int rows : dflt == Matmul.TILE_ROWS.get(0) ? Matmul.TILE_ROWS : Matmul.TILE_ROWS.reversed()) {
                candidates.put(Integer.toString(rows), () -> {
                    Matmul.setTileRows(rows);
                    Matmul.gemm(1, false, true, M, N, K, 1f, a, 0, K, b, 0, K, 0f, c, 0, N);
                });
            }
            String best = choose(GEMM_TILE, candidates);
            Matmul.setTileRows(Integer.parseInt(best));
        }
    }

    /**
     * The correlation implementation for width C, H heads, N lags and sequences of up to
     * {@code maxT} tokens: {@code "direct"} (with the register tile it timed fastest set, {@link
     * Correlation#setTileVectors}) or {@code "fft"}; {@code dflt} (the built-in rule's choice,
     * {@code direct} or {@code fft}) when tuning is off. Timed on a batch of
     * {@code max(1, ceil(2·threads / H))} sequences (at most {@code maxB}): enough heads for every
     * thread, and a few milliseconds per candidate at the model sizes.
     */
    public String correlation(int maxB, int maxT, int C, int H, int N, String dflt) {
        if (!enabled || !(dflt.equals("direct") || dflt.equals("fft"))) return dflt;
        int B = Math.min(maxB, Math.max(1, (2 * threads() + H - 1) / H));
        String first = dflt.equals("fft") ? "fft" : "direct/" + Correlation.defaultTileVectors();
        String name = "correlation C" + C + " H" + H + " N" + N + " T" + maxT + " B" + B + " threads " + threads();
        String best = cachedCorrelation(name, C / H);
        if (best == null) {                                    // not cached: build the candidates and time them
            int saved = Correlation.tileVectors();
            try (CorrelationCandidates c = new CorrelationCandidates(B, maxT, C, H, N, first)) {
                best = choose(name, c.runs());
            } finally {
                Correlation.setTileVectors(saved);
            }
        }
        if (best.startsWith("direct/")) {
            Correlation.setTileVectors(Integer.parseInt(best.substring("direct/".length())));
            return "direct";
        }
        return best;
    }

    /** A cached correlation choice that this head width can run, or null (then it is timed). */
    private synchronized String cachedCorrelation(String name, int D) {
        Entry e = entries.get(name);
        if (e == null) return null;
        String c = e.choice();
        if (c.equals("fft")) return CorrelationFft.supports(D) ? c : null;
        if (!c.startsWith("direct/")) return null;
        int v = parseInt(c.substring("direct/".length()));
        return v >= 2 && Correlation.TILE_VECTORS.contains(v) ? c : null;
    }

    static final String GEMM_TILE = "gemm tile rows";

    private static int parseInt(String s) {
        try {
            return Integer.parseInt(s);
        } catch (NumberFormatException e) {
            return -1;
        }
    }

    /** Small deterministic values (no NaN, no denormals) to time products on. */
    static void fill(java.lang.foreign.MemorySegment s) {
        long n = s.byteSize() / Float.BYTES;
        for (long i = 0; i < n; i++) s.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, i, (float) ((i * 7919 % 1000) - 500) / 1000f);
    }

    /** The kernel thread count choices were timed at: part of each choice's name. */
    static int threads() { return Parallel.threads(); }

    private void load() {
        List<String> lines;
        try {
            lines = Files.readAllLines(file, StandardCharsets.UTF_8);
        } catch (NoSuchFileException e) {
            return;
        } catch (IOException | RuntimeException e) {       // unreadable, or not UTF-8
            damaged("cannot be read: " + e.getMessage());
            return;
        }
        String why = parse(lines, key, entries);
        if (why != null) {
            entries.clear();
            damaged(why);
        }
    }

    private void damaged(String why) {
        log.accept("tuning: cache " + file + " is damaged (" + why + "); timing again");
    }

    /** Reads a cache file's lines into {@code into}; returns why they are not a valid cache of {@code key}, or null. */
    static String parse(List<String> lines, MachineKey key, Map<String, Entry> into) {
        if (lines.isEmpty() || !lines.get(0).equals(HEADER)) return "no '" + HEADER + "' header";
        if (lines.size() < 3 || !lines.get(1).equals(key.line())) return "its key line is not this machine's";
        String last = lines.get(lines.size() - 1);
        if (!last.startsWith("end\t")) return "truncated: no end line";
        int count;
        try {
            count = Integer.parseInt(last.substring(4));
        } catch (NumberFormatException e) {
            return "bad end line";
        }
        if (count != lines.size() - 3) return "end line counts " + count + " entries, file has " + (lines.size() - 3);
        for (int i = 2; i < lines.size() - 1; i++) {
            String[] f = lines.get(i).split("\t", -1);
            if (f.length != 3 || f[0].isEmpty() || f[1].isEmpty()) return "line " + (i + 1) + " is not name, choice, timings";
            into.put(f[0], new Entry(f[0], f[1], f[2]));
        }
        return null;
    }

    /** Writes the cache (a temporary file renamed over it: readers never see half a file); a failure costs one line, once. */
    private void save() {
        StringBuilder out = new StringBuilder(HEADER).append('\n').append(key.line()).append('\n');
        for (Entry e : entries.values()) out.append(e.name()).append('\t').append(e.choice()).append('\t').append(e.timings()).append('\n');
        out.append("end\t").append(entries.size()).append('\n');
        try {
            NativeCache.prepare(file.getParent());
            leviathan.tensor.AtomicFile.writeString(file, out.toString());
        } catch (IOException | RuntimeException e) {
            if (!saveNoted) log.accept("tuning: cannot write " + file + " (" + e.getMessage() + "); choices last for this run only");
            saveNoted = true;
        }
    }

    /** One line for {@code info}: where the cache is and what it holds. */
    public synchronized String summary() {
        if (!enabled) return "off (-D" + PROPERTY + "=false or " + ENV + "=false): built-in defaults";
        return entries.size() + (entries.size() == 1 ? " choice" : " choices") + " cached in " + file + (Files.exists(file) ? "" : " (not written yet)");
    }

    /** The choices as a table for {@code tune} and {@code info --verbose}: name, choice, candidate times. */
    public synchronized List<String> table() {
        List<String> out = new ArrayList<>();
        int w = 4;
        for (Entry e : entries.values()) w = Math.max(w, e.name().length());
        out.add(String.format("%-" + w + "s  %-10s  %s", "what", "choice", "timed (median of " + TIMED_RUNS + " runs)"));
        for (Entry e : entries.values()) out.add(String.format("%-" + w + "s  %-10s  %s", e.name(), e.choice(), e.timings()));
        return out;
    }
}
