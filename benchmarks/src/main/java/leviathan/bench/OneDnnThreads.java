package leviathan.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import leviathan.backend.OneDnnBackend;
import leviathan.backend.OneDnnLoader;

/**
 * oneDNN on one thread, on two threads, and with the default policy, measured interleaved: each
 * round makes one call with each setting in turn, so all three see the same load on the machine
 * (on a shared 2-vCPU VM that load changes from second to second, and separate JMH forks compared
 * different moments). Prints one markdown row per shape: median µs and the ratio to one thread.
 *
 * <p>Run: {@code java <flags> -cp <bench classpath> leviathan.bench.OneDnnThreads [rounds]}, with
 * {@code -Dleviathan.onednn.waitPolicy=default} for libgomp's own spin-then-sleep wait policy.
 */
public final class OneDnnThreads {
    private OneDnnThreads() {}

    static final String[] SHAPES = {
        "NT:1024x1152x384", "NT:1024x384x384", "NT:1024x1536x384", "NT:1024x384x1536", "NT:1024x65x384",
        "NN:1024x384x1152", "NN:1024x384x384", "NN:1024x384x1536", "NN:1024x1536x384", "NN:1024x384x65",
        "TN:1152x384x1024", "TN:384x384x1024", "TN:1536x384x1024", "TN:384x1536x1024", "TN:65x384x1024",
        "NN:1024x1024x1024", "NN:64x64x64", "NN:128x128x128", "NT:64x384x384", "NT:128x384x384", "NT:256x384x384",
    };

    public static void main(String[] args) throws Exception {
        int rounds = args.length > 0 ? Integer.parseInt(args[0]) : 40;
        String path = OneDnnLoader.configuredPath();
        OneDnnBackend one = OneDnnBackend.open(new OneDnnBackend.Options(path, 1, 0));
        OneDnnBackend two = OneDnnBackend.open(new OneDnnBackend.Options(path, 2, 0));
        OneDnnBackend dflt = OneDnnBackend.open(OneDnnBackend.Options.fromSystem());
        OneDnnBackend[] settings = {one, two, dflt};
        System.out.println("# " + dflt.details() + "; " + rounds + " interleaved rounds per shape");
        System.out.println("| shape | 1 thread µs | 2 threads µs | default µs | 2T / 1T | default / 1T |");
        System.out.println("|---|---:|---:|---:|---:|---:|");
        for (String shape : SHAPES) {
            String[] p = shape.split(":");
            boolean tA = p[0].charAt(0) == 'T', tB = p[0].charAt(1) == 'T';
            int[] d = Arrays.stream(p[1].split("x")).mapToInt(Integer::parseInt).toArray();
            int M = d[0], N = d[1], K = d[2], lda = tA ? M : K, ldb = tB ? K : N;
            try (Arena arena = Arena.ofConfined()) {
                MemorySegment a = OneDnnBench.random(arena, (long) M * K, 1), b = OneDnnBench.random(arena, (long) K * N, 2);
                MemorySegment c = OneDnnBench.random(arena, (long) M * N, 3);
                // small shapes: several calls per sample, so a sample is not just the clock's resolution
                int reps = Math.max(1, (int) (40e6 / (2.0 * M * N * K)));
                for (int w = 0; w < 10; w++) {
                    for (OneDnnBackend s : settings) s.sgemm(tA, tB, M, N, K, 1f, a, lda, b, ldb, 1f, c, N);
                }
                List<double[]> samples = new ArrayList<>();
                for (int s = 0; s < settings.length; s++) samples.add(new double[rounds]);
                for (int r = 0; r < rounds; r++) {
                    for (int s = 0; s < settings.length; s++) {
                        long t0 = System.nanoTime();
                        for (int q = 0; q < reps; q++) settings[s].sgemm(tA, tB, M, N, K, 1f, a, lda, b, ldb, 1f, c, N);
                        samples.get(s)[r] = (System.nanoTime() - t0) / 1e3 / reps;
                    }
                }
                double m1 = median(samples.get(0)), m2 = median(samples.get(1)), md = median(samples.get(2));
                System.out.printf("| `%s` | %s | %s | %s | %.2f | %.2f |%n", shape, fmt(m1), fmt(m2), fmt(md), m2 / m1, md / m1);
            }
        }
    }

    private static double median(double[] v) {
        double[] s = v.clone();
        Arrays.sort(s);
        return s.length % 2 == 1 ? s[s.length / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
    }

    private static String fmt(double us) {
        return us < 100 ? String.format("%.1f", us) : String.format("%,.0f", us);
    }
}
