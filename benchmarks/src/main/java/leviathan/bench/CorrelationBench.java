package leviathan.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import leviathan.backend.Backend;
import leviathan.backend.Backends;
import leviathan.kernel.Parallel;
import leviathan.nn.CorrelationAttention;
import leviathan.nn.CorrelationAttention.Impl;
import org.openjdk.jmh.annotations.Benchmark;
import org.openjdk.jmh.annotations.BenchmarkMode;
import org.openjdk.jmh.annotations.Fork;
import org.openjdk.jmh.annotations.Level;
import org.openjdk.jmh.annotations.Measurement;
import org.openjdk.jmh.annotations.Mode;
import org.openjdk.jmh.annotations.OutputTimeUnit;
import org.openjdk.jmh.annotations.Param;
import org.openjdk.jmh.annotations.Scope;
import org.openjdk.jmh.annotations.Setup;
import org.openjdk.jmh.annotations.State;
import org.openjdk.jmh.annotations.TearDown;
import org.openjdk.jmh.annotations.Warmup;
import org.openjdk.jmh.infra.Blackhole;
import org.openjdk.jmh.results.RunResult;
import org.openjdk.jmh.runner.Runner;
import org.openjdk.jmh.runner.options.ChainedOptionsBuilder;
import org.openjdk.jmh.runner.options.OptionsBuilder;
import org.openjdk.jmh.runner.options.TimeValue;

/**
 * Multi-head correlation, forward and forward+backward, per implementation, at B·H = 48
 * (B = 12, H = 4: the char-Shakespeare batch and head count), T in {64, 256, 512}, D in {32, 64},
 * N in {1, 4, 8, D}, on 1 and 2 kernel threads. GFLOP/s counts 4·N·D flops per visible (i, j)
 * pair forward and twice that backward (the convention): {@link #flops}.
 *
 * <p>The full grid ({@link Fast}: direct and GEMM paths, 96 shapes × 2 benchmarks) takes about
 * half an hour with the defaults below. The scalar reference ({@link Ref}) is limited to T = 64,
 * one thread: at T = 512, N = D = 64 one forward+backward would take minutes. A subset, e.g.
 * <pre>
 *   flock /tmp/leviathan-bench.lock ./leviathan bench CorrelationBench -p T=64,256 -p D=32 -p N=1,4,D -wi 2 -i 3 -w 1 -r 1
 * </pre>
 * or {@link #main}, which runs groups of the grid and prints markdown tables with GFLOP/s and
 * the cost ratio {@code time(N)/time(1)}:
 * <pre>
 *   flock /tmp/leviathan-bench.lock java --add-modules=jdk.incubator.vector --enable-native-access=ALL-UNNAMED \
 *       -cp app/target/classes:$(cat app/target/bench.classpath) leviathan.bench.CorrelationBench direct [--full]
 * </pre>
 * Results and the tables built from them: benchmarks/results/correlation.md. The {@code crossover}
 * group times the direct kernel against the FFT path around the AUTO rule's boundary and prints
 * which is faster next to what the rule picks (command in benchmarks/results/fft.md).
 *
 * <p>{@link #gemmRate} measures the selected backend's GEMM on 512³ (the "machine's GEMM rate"
 * the targets are relative to), and on the shape of one score block ({@code 32 × T·N × D}).
 */
@BenchmarkMode(Mode.AverageTime)
@OutputTimeUnit(TimeUnit.MILLISECONDS)
@Warmup(iterations = 10, time = 1)
@Measurement(iterations = 5, time = 1)
@Fork(value = 1, jvmArgsAppend = {"--add-modules=jdk.incubator.vector", "--enable-native-access=ALL-UNNAMED",
        "-Djdk.incubator.vector.VECTOR_ACCESS_OOB_CHECK=0"})
public class CorrelationBench {

    static final int B = 12, H = 4;

    /** Flops of one call: 4·N·D per visible (i, j) pair for the forward, 8·N·D more for the backward. */
    public static double flops(int T, int D, int N, boolean backward) {
        double pairs = (double) T * (T + 1) / 2 * B * H;
        return 4.0 * N * D * pairs * (backward ? 3 : 1);
    }

    /** Inputs, outputs and gradients of one shape, plus the operation under test. */
    public abstract static class Shape {
        CorrelationInputs io;
        Backend backend;
        CorrelationAttention op;
        MemorySegment qkv, lagBias, out, lse, dout, dqkv, dlagBias;
        int len, lagCount, C;

        void setUp(Impl impl, int T, int D, String lags, int threads) {
            int N = "D".equals(lags) ? D : Integer.parseInt(lags);
            this.len = T;
            this.lagCount = N;
            this.C = H * D;
            Parallel.setThreads(threads);
            io = new CorrelationInputs(B, T, C, H, N);
            qkv = io.qkv;
            lagBias = io.lagBias;
            dout = io.dout;
            out = io.out;
            lse = io.lse;
            dqkv = io.dqkv;
            dlagBias = io.dlagBias;
            backend = Backends.select(System.getProperty("leviathan.backend", "auto"), line -> { });
            op = new CorrelationAttention(backend, B, T, C, H, N, impl);
            op.forward(out, lse, qkv, lagBias, B, T, 0);               // valid out/lse for backward-only runs
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            op.close();
            backend.close();
            io.close();
        }

        void forward() { op.forward(out, lse, qkv, lagBias, B, len, 0); }

        void forwardBackward() {
            op.forward(out, lse, qkv, lagBias, B, len, 0);
            op.backward(dqkv, dlagBias, dout, out, lse, qkv, lagBias, B, len);
        }
    }

    /** The fast implementations over the full grid ({@code crossover} also runs FFT here). */
    @State(Scope.Benchmark)
    public static class Fast extends Shape {
        @Param({"DIRECT", "GEMM"}) public String impl;
        @Param({"64", "256", "512"}) public int T;
        @Param({"32", "64"}) public int D;
        @Param({"1", "4", "8", "D"}) public String N;
        @Param({"1", "2"}) public int threads;

        @Setup(Level.Trial)
        public void setUp() { setUp(Impl.valueOf(impl), T, D, N, threads); }
    }

    /** The scalar reference, where it runs in reasonable time (one thread: it is not parallel). */
    @State(Scope.Benchmark)
    public static class Ref extends Shape {
        @Param({"64"}) public int T;
        @Param({"32", "64"}) public int D;
        @Param({"1", "4", "8", "D"}) public String N;

        @Setup(Level.Trial)
        public void setUp() { setUp(Impl.SCALAR, T, D, N, 1); }
    }

    @Benchmark
    public void forward(Fast s, Blackhole bh) {
        s.forward();
        bh.consume(s.out);
    }

    @Benchmark
    public void forwardBackward(Fast s, Blackhole bh) {
        s.forwardBackward();
        bh.consume(s.dqkv);
    }

    @Benchmark
    public void scalarForward(Ref s, Blackhole bh) {
        s.forward();
        bh.consume(s.out);
    }

    @Benchmark
    public void scalarForwardBackward(Ref s, Blackhole bh) {
        s.forwardBackward();
        bh.consume(s.dqkv);
    }

    /** The backend's GEMM: 512³, and one score block of the GEMM path (32 × T·N × D, T·N = 2048). */
    @State(Scope.Benchmark)
    public static class Gemm {
        @Param({"512x512x512", "32x2048x32", "32x32x2048"}) public String shape;
        @Param({"1", "2"}) public int threads;
        Arena arena;
        Backend backend;
        MemorySegment a, b, c;
        int M, N, K;

        @Setup(Level.Trial)
        public void setUp() {
            String[] p = shape.split("x");
            M = Integer.parseInt(p[0]);
            N = Integer.parseInt(p[1]);
            K = Integer.parseInt(p[2]);
            Parallel.setThreads(threads);
            arena = Arena.ofShared();
            backend = Backends.select(System.getProperty("leviathan.backend", "auto"), line -> { });
            a = arena.allocate((long) M * K * Float.BYTES, 64).fill((byte) 0x3c);
            b = arena.allocate((long) K * N * Float.BYTES, 64).fill((byte) 0x3c);
            c = arena.allocate((long) M * N * Float.BYTES, 64);
        }

        @TearDown(Level.Trial)
        public void tearDown() {
            backend.close();
            arena.close();
        }
    }

    @Benchmark
    public void gemmRate(Gemm g, Blackhole bh) {
        g.backend.sgemm(false, false, g.M, g.N, g.K, 1f, g.a, g.K, g.b, g.N, 0f, g.c, g.N);
        bh.consume(g.c);
    }

    // ------------------------------------------------------------------------------------------
    // Runner: groups of the grid, printed as markdown
    // ------------------------------------------------------------------------------------------

    /**
     * Runs one or more groups and prints their tables: {@code direct} (T, D, N, 1 and 2 threads),
     * {@code gemm} (the GEMM path: T = 64 all D, N; T = 256, D = 64, N = 4, 8), {@code scalar},
     * {@code rate} (the backend's GEMM). Short iterations (2 × 1 s warm-up, 3 × 1 s measured)
     * unless {@code --full}, which also runs the GEMM path over the whole grid. {@code -p
     * name=v1,v2} narrows a parameter, as with JMH. {@code --best} tabulates the fastest
     * measurement iteration instead of the mean: the robust choice on a machine shared with
     * other work, where a mean mostly measures the neighbours.
     */
    public static void main(String[] args) throws Exception {
        boolean full = false;
        List<String> groups = new ArrayList<>();
        Map<String, String[]> narrow = new HashMap<>();
        for (int i = 0; i < args.length; i++) {
            if (args[i].equals("--full")) full = true;
            else if (args[i].equals("--best")) best = true;
            else if (args[i].equals("-p")) {
                String[] kv = args[++i].split("=", 2);
                narrow.put(kv[0], kv[1].split(","));
            } else groups.add(args[i]);
        }
        if (groups.isEmpty()) groups = List.of("rate", "scalar", "direct", "gemm");
        if (groups.contains("crossover") && groups.size() > 1) throw new IllegalArgumentException("run crossover on its own");
        for (String g : groups) {
            switch (g) {
                case "direct" -> table("DIRECT", run(options(full, "(forward|forwardBackward)", narrow, "impl", "DIRECT")));
                case "gemm" -> {
                    if (full) table("GEMM", run(options(true, "(forward|forwardBackward)", narrow, "impl", "GEMM")));
                    else {
                        List<RunResult> r = new ArrayList<>(run(options(false, "(forward|forwardBackward)", narrow,
                                "impl", "GEMM", "T", "64")));
                        r.addAll(run(options(false, "(forward|forwardBackward)", narrow, "impl", "GEMM", "T", "256", "D", "64",
                                "N", "4,8", "threads", "1")));
                        table("GEMM", r);
                    }
                }
                case "scalar" -> table("SCALAR", run(options(full, "(scalarForward|scalarForwardBackward)", narrow)));
                case "rate" -> rateTable(run(options(full, "gemmRate", narrow)));
                case "crossover" -> {
                    List<RunResult> r = new ArrayList<>();
                    for (String[] dn : CROSSOVER) {
                        r.addAll(run(options(full, "forwardBackward", narrow, "impl", "DIRECT,FFT", "T", "64,256",
                                "D", dn[0], "N", dn[1], "threads", "1,2")));
                    }
                    crossoverTable(r);
                }
                default -> throw new IllegalArgumentException("unknown group '" + g + "': direct, gemm, scalar, rate or crossover");
            }
        }
    }

    private static boolean best;

    /**
     * The AUTO rule's crossover grid: D and the lag counts around {@code 4·N = 3·D} (the rule in
     * {@code CorrelationAttention.choose}: FFT when {@code 4·N >= 3·D}, D >= 128, D a power of two).
     */
    private static final String[][] CROSSOVER = {{"16", "4,8,12,16"}, {"32", "8,16,24,32"}, {"64", "16,32,48,64"}, {"128", "32,64,96,128"}};

    /**
     * Direct vs FFT, forward+backward, per shape: both times, FFT/direct, the faster one, and what
     * the AUTO rule picks today, so a row where they differ shows where the rule should move.
     */
    private static void crossoverTable(Collection<RunResult> results) {
        Map<Key, double[]> ms = new java.util.TreeMap<>(java.util.Comparator.comparingInt(Key::threads)
                .thenComparingInt(Key::T).thenComparingInt(Key::D).thenComparingInt(Key::N));
        for (RunResult r : results) {
            var p = r.getParams();
            int D = Integer.parseInt(p.getParam("D"));
            String n = p.getParam("N");
            var key = new Key(Integer.parseInt(p.getParam("threads")), Integer.parseInt(p.getParam("T")), D,
                    "D".equals(n) ? D : Integer.parseInt(n));
            ms.computeIfAbsent(key, k -> new double[] {Double.NaN, Double.NaN})["FFT".equals(p.getParam("impl")) ? 1 : 0] = score(r);
        }
        System.out.println();
        System.out.println("| threads | T | D | N | direct fwd+bwd ms | FFT fwd+bwd ms | FFT/direct | faster | AUTO picks |");
        System.out.println("|---|---|---|---|---|---|---|---|---|");
        for (var e : ms.entrySet()) {
            Key k = e.getKey();
            double[] t = e.getValue();
            String faster = Double.isNaN(t[0]) || Double.isNaN(t[1]) ? "" : t[1] < t[0] ? "FFT" : "DIRECT";
            Impl auto = leviathan.nn.CorrelationAttention.autoRule(true, k.D(), k.N());
            System.out.println(String.format(Locale.ROOT, "| %d | %d | %d | %d | %s | %s | %.2f | %s | %s |", k.threads(), k.T(), k.D(),
                    k.N(), fmt(t[0]), fmt(t[1]), t[1] / t[0], faster, auto));
        }
        System.out.flush();
    }

    /** ms/op of a result: the mean, or the fastest iteration with {@code --best}. */
    private static double score(RunResult r) {
        return best ? r.getPrimaryResult().getStatistics().getMin() : r.getPrimaryResult().getScore();
    }

    private static ChainedOptionsBuilder options(boolean full, String methods, Map<String, String[]> narrow, String... params) {
        ChainedOptionsBuilder o = new OptionsBuilder()
                .include(CorrelationBench.class.getName() + "\\." + methods + "$")
                .warmupIterations(full ? 10 : 6).warmupTime(TimeValue.seconds(1))
                .measurementIterations(full ? 5 : 3).measurementTime(TimeValue.seconds(1))
                .forks(1);
        // JMH's param() adds values to a name, so a narrowed name must replace the group's values
        // rather than be added beside them.
        Map<String, String[]> values = new java.util.LinkedHashMap<>();
        for (int i = 0; i < params.length; i += 2) values.put(params[i], params[i + 1].split(","));
        values.putAll(narrow);
        values.forEach(o::param);
        return o;
    }

    private static Collection<RunResult> run(ChainedOptionsBuilder o) throws Exception {
        return new Runner(o.build()).run();
    }

    /** One row of a table. */
    private record Key(int threads, int T, int D, int N) { }

    private static void table(String impl, Collection<RunResult> results) {
        Map<Key, double[]> ms = new java.util.TreeMap<>(java.util.Comparator.comparingInt(Key::threads)
                .thenComparingInt(Key::T).thenComparingInt(Key::D).thenComparingInt(Key::N));
        for (RunResult r : results) {
            var p = r.getParams();
            int T = Integer.parseInt(p.getParam("T")), D = Integer.parseInt(p.getParam("D"));
            String n = p.getParam("N");
            int N = "D".equals(n) ? D : Integer.parseInt(n);
            String threads = p.getParam("threads");
            boolean bwd = p.getBenchmark().endsWith("orwardBackward");
            var key = new Key(threads == null ? 1 : Integer.parseInt(threads), T, D, N);
            ms.computeIfAbsent(key, k -> new double[] {Double.NaN, Double.NaN})[bwd ? 1 : 0] = score(r);
        }
        System.out.println();
        System.out.println("| impl | threads | T | D | N | fwd ms | fwd GFLOP/s | fwd+bwd ms | fwd+bwd GFLOP/s | fwd+bwd t(N)/t(1) |");
        System.out.println("|---|---|---|---|---|---|---|---|---|---|");
        for (var e : ms.entrySet()) {
            Key k = e.getKey();
            double[] t = e.getValue();
            double[] one = ms.get(new Key(k.threads(), k.T(), k.D(), 1));
            String ratio = one == null || Double.isNaN(one[1]) || Double.isNaN(t[1]) ? "" : String.format(Locale.ROOT, "%.2f", t[1] / one[1]);
            System.out.println(String.format(Locale.ROOT, "| %s | %d | %d | %d | %d | %s | %s | %s | %s | %s |", impl, k.threads(),
                    k.T(), k.D(), k.N(), fmt(t[0]), gflops(k, t[0], false), fmt(t[1]), gflops(k, t[1], true), ratio));
        }
        System.out.flush();
    }

    private static String fmt(double ms) { return Double.isNaN(ms) ? "" : String.format(Locale.ROOT, ms < 10 ? "%.3f" : "%.1f", ms); }

    private static String gflops(Key k, double ms, boolean backward) {
        if (Double.isNaN(ms)) return "";
        return String.format(Locale.ROOT, "%.1f", flops(k.T(), k.D(), k.N(), backward) / (ms * 1e-3) / 1e9);
    }

    private static void rateTable(Collection<RunResult> results) {
        System.out.println();
        System.out.println("| backend GEMM (M×N×K) | threads | ms | GFLOP/s |");
        System.out.println("|---|---|---|---|");
        for (RunResult r : results) {
            var p = r.getParams();
            String[] mnk = p.getParam("shape").split("x");
            double fl = 2.0 * Double.parseDouble(mnk[0]) * Double.parseDouble(mnk[1]) * Double.parseDouble(mnk[2]);
            double ms = score(r);
            System.out.println(String.format(Locale.ROOT, "| %s | %s | %.3f | %.1f |", p.getParam("shape"), p.getParam("threads"),
                    ms, fl / (ms * 1e-3) / 1e9));
        }
        System.out.flush();
    }
}
