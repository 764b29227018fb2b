package leviathan.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.SplittableRandom;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;
import leviathan.backend.Backend;
import leviathan.backend.OneDnnBackend;
import leviathan.backend.Precision;
import leviathan.kernel.Parallel;

/**
 * The peak arithmetic rate of one core, the denominator of model-flops utilisation (MFU):
 * <ol>
 * <li>fp32 FMA peak: {@value #CHAINS} independent Vector API FMA chains on the widest species
 *     (2 FLOPs per lane per FMA), enough to cover the FMA latency on two FMA ports;
 * <li>oneDNN {@code dnnl_sgemm} on a square {@code n³} product, one thread: the best fp32 GEMM rate;
 * <li>oneDNN bf16 matmul (the engine's bf16 path, operands rounded to bf16, f32 accumulation) on
 *     the same product, one thread: the bf16 dot-product peak in practice (AVX512_BF16 or AMX).
 * </ol>
 * Each figure is the best of several timed repetitions after warm-up. Run by
 * {@code benchmarks/peak.sh}, which pins the JVM to one core; prints a markdown table.
 */
public final class Peak {
    private Peak() {}

    static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;
    static final int CHAINS = 12;

    public static void main(String[] args) throws Exception {
        int n = args.length > 0 ? Integer.parseInt(args[0]) : 2048;
        Parallel.setThreads(1);
        System.setProperty(OneDnnBackend.THREADS_PROPERTY, "1");
        List<String> rows = new ArrayList<>();
        double fma = fmaPeak();
        rows.add(row("fp32 FMA, Vector API " + F.length() + " lanes x " + CHAINS + " chains", fma, fma));
        try (OneDnnBackend fp32 = OneDnnBackend.open()) {
            double s = gemmRate(fp32, n);
            rows.add(row("oneDNN sgemm " + n + "^3, 1 thread", s, fma));
            List<String> log = new ArrayList<>();
            try (Backend bf16 = fp32.withPrecision(Precision.BF16, 0, log::add)) {
                if (bf16.precision() == Precision.BF16) {
                    double r = gemmRate(bf16, n);
                    rows.add(row("oneDNN bf16 matmul " + n + "^3, 1 thread (" + ((OneDnnBackend) bf16)
                            .bf16Implementation(false, false, n, n, n, 1f, n, n, 0f, n) + ")", r, fma));
                } else {
                    rows.add("| oneDNN bf16 matmul | not run: " + String.join("; ", log) + " | |");
                }
            }
        } catch (Exception e) {
            rows.add("| oneDNN | not run: " + e.getMessage() + " | |");
        }
        System.out.println("| what | GFLOP/s | vs fp32 FMA peak |");
        System.out.println("|---|---:|---:|");
        rows.forEach(System.out::println);
        System.out.println();
        System.out.println("MFU denominators: fp32 = the larger of the first two rows (the FMA loop can fall short of the");
        System.out.println("hardware peak that a tuned GEMM reaches); bf16 = the bf16 row (its rounding copies included).");
    }

    private static String row(String what, double gflops, double fma) {
        return String.format(Locale.ROOT, "| %s | %.1f | %.2fx |", what, gflops, gflops / fma);
    }

    /** GFLOP/s of {@value #CHAINS} independent FMA chains; best of 7 runs of 2^24 iterations. */
    static double fmaPeak() {
        float[] seed = new float[F.length() * 3];
        SplittableRandom rnd = new SplittableRandom(1);
        for (int i = 0; i < seed.length; i++) seed[i] = (float) (0.999 + rnd.nextDouble() * 1e-3);
        double best = 0;
        float sink = 0;
        for (int warm = 0; warm < 20_000; warm++) sink += fmaChains(seed, 64);     // a normal (not OSR) C2 compile
        for (int rep = 0; rep < 9; rep++) {
            long iters = 1L << 24;
            long t0 = System.nanoTime();
            sink += fmaChains(seed, iters);
            long ns = System.nanoTime() - t0;
            if (rep >= 2) best = Math.max(best, 2.0 * F.length() * CHAINS * iters / ns);   // first runs: JIT warm-up
        }
        if (sink == 42f) System.out.println();                                           // keep the result alive
        return best;
    }

    /** {@value #CHAINS} accumulators, each {@code acc = acc·a + b}; a close to 1 keeps values finite. */
    static float fmaChains(float[] seed, long iters) {
        var a = FloatVector.fromArray(F, seed, 0);
        var b = FloatVector.fromArray(F, seed, F.length()).mul(1e-6f);
        var c0 = FloatVector.fromArray(F, seed, 2 * F.length());
        FloatVector c1 = c0.add(1f), c2 = c0.add(2f), c3 = c0.add(3f), c4 = c0.add(4f), c5 = c0.add(5f);
        FloatVector c6 = c0.add(6f), c7 = c0.add(7f), c8 = c0.add(8f), c9 = c0.add(9f), c10 = c0.add(10f), c11 = c0.add(11f);
        for (long i = 0; i < iters; i++) {
            c0 = c0.fma(a, b); c1 = c1.fma(a, b); c2 = c2.fma(a, b); c3 = c3.fma(a, b);
            c4 = c4.fma(a, b); c5 = c5.fma(a, b); c6 = c6.fma(a, b); c7 = c7.fma(a, b);
            c8 = c8.fma(a, b); c9 = c9.fma(a, b); c10 = c10.fma(a, b); c11 = c11.fma(a, b);
        }
        return c0.add(c1).add(c2).add(c3).add(c4).add(c5).add(c6).add(c7).add(c8).add(c9).add(c10).add(c11).reduceLanes(
                jdk.incubator.vector.VectorOperators.ADD);
    }

    /**
     * GFLOP/s of {@code C = A·B} for {@code n×n} matrices on {@code backend}; best of the last 5 of 40
     * calls (the bf16 path's rounding kernel runs interpreted for its first calls, seconds at this size).
     */
    static double gemmRate(Backend backend, int n) {
        try (Arena arena = Arena.ofConfined()) {
            long count = (long) n * n;
            MemorySegment a = arena.allocate(count * 4, 64), b = arena.allocate(count * 4, 64), c = arena.allocate(count * 4, 64);
            SplittableRandom rnd = new SplittableRandom(2);
            for (long i = 0; i < count; i++) {
                a.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rnd.nextDouble(-1, 1));
                b.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rnd.nextDouble(-1, 1));
            }
            double best = 0;
            for (int rep = 0; rep < 40; rep++) {
                long t0 = System.nanoTime();
                backend.sgemm(false, false, n, n, n, 1f, a, n, b, n, 0f, c, n);
                long ns = System.nanoTime() - t0;
                if (rep >= 35) best = Math.max(best, 2.0 * n * n * n / ns);
            }
            return best;
        }
    }
}
