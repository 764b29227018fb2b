package leviathan.kernel;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.LinkedHashMap;
import java.util.SequencedMap;

/**
 * The ways of computing one correlation shape that a tuner can time: the direct kernel at each
 * register-tile width from 2 vectors up ({@code direct/V}, {@link Correlation#TILE_VECTORS}) and, for
 * power-of-two head widths, the FFT path ({@code fft}). Each candidate runs one forward and one
 * backward over a batch of {@code B} sequences of {@code T} tokens on fixed pseudo-random data.
 * The lag-expanded GEMM path is not among them: it needs a backend, and was slower than the
 * direct kernel at every measured shape (see {@code CorrelationAttention#choose}).
 */
public final class CorrelationCandidates implements AutoCloseable {
    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    private final Arena arena = Arena.ofShared();
    private final SequencedMap<String, Runnable> runs = new LinkedHashMap<>();
    private final CorrelationDriver<?>[] drivers;

    /** The candidates for width C, H heads and N lags at {@code B × T}, {@code first} (a candidate's name) first. */
    public CorrelationCandidates(int B, int T, int C, int H, int N, String first) {
        Correlation.checkShape(C, H, N);
        long rows = (long) B * T;
        MemorySegment qkv = random(rows * 3 * C, 1), bias = random((long) H * N, 2), dout = random(rows * C, 3);
        MemorySegment out = arena.allocate(rows * C * Float.BYTES, 64), lse = arena.allocate((long) B * H * T * Float.BYTES, 64);
        MemorySegment dqkv = arena.allocate(rows * 3 * C * Float.BYTES, 64), dbias = arena.allocate((long) H * N * Float.BYTES, 64);
        CorrelationDriver<?> direct = new CorrelationWorkspace(B, T, C, H, N).driver();
        CorrelationDriver<?> fft = CorrelationFft.supports(C / H) ? new CorrelationDriver<>(CorrelationFft.impl(C, H, N), B, T, H, N) : null;
        drivers = new CorrelationDriver<?>[] {direct, fft};
        SequencedMap<String, Runnable> all = new LinkedHashMap<>();
        for (int v : Correlation.TILE_VECTORS) {
            if (v == 1) continue;                              // 4 accumulators: never ahead of 2 vectors
            all.put("direct/" + v, () -> {
                Correlation.setTileVectors(v);
                direct.forward(out, lse, qkv, bias, B, T, 0);
                direct.backward(dqkv, dbias, dout, out, lse, qkv, bias, B, T);
            });
        }
        if (fft != null) {
            all.put("fft", () -> {
                fft.forward(out, lse, qkv, bias, B, T, 0);
                fft.backward(dqkv, dbias, dout, out, lse, qkv, bias, B, T);
            });
        }
        if (all.containsKey(first)) runs.put(first, all.get(first));
        runs.putAll(all);
    }

    /** Name → one forward and backward, the {@code first} named at construction first (when it is a candidate). */
    public SequencedMap<String, Runnable> runs() { return runs; }

    private MemorySegment random(long n, long seed) {
        MemorySegment s = arena.allocate(n * Float.BYTES, 64);
        var rng = new java.util.SplittableRandom(seed);
        for (long i = 0; i < n; i++) s.setAtIndex(FL, i, (float) (rng.nextDouble() * 2 - 1));
        return s;
    }

    @Override
    public void close() {
        for (CorrelationDriver<?> d : drivers) if (d != null) d.close();
        arena.close();
    }
}
