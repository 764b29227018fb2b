package leviathan.bench;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;

/**
 * The tensors of one multi-head correlation call, shared by the correlation benchmarks: inputs
 * {@code qkv (B, T, 3C)}, {@code lagBias (H, N)} and {@code dout (B, T, C)} uniform in
 * {@code [-1, 1)} from seed 1337 (in that order), and zeroed outputs {@code out (B, T, C)},
 * {@code lse (B, H, T)}, {@code dqkv (B, T, 3C)}, {@code dlagBias (H, N)}, all 64-byte aligned in
 * one shared arena that {@link #close} frees.
 */
final class CorrelationInputs implements AutoCloseable {
    final Arena arena = Arena.ofShared();
    final MemorySegment qkv, lagBias, dout, out, lse, dqkv, dlagBias;

    CorrelationInputs(int B, int T, int C, int H, int N) {
        var rng = new SplittableRandom(1337);
        qkv = random((long) B * T * 3 * C, rng);
        lagBias = random((long) H * N, rng);
        dout = random((long) B * T * C, rng);
        out = zeros((long) B * T * C);
        lse = zeros((long) B * H * T);
        dqkv = zeros((long) B * T * 3 * C);
        dlagBias = zeros((long) H * N);
    }

    private MemorySegment zeros(long n) { return arena.allocate(n * Float.BYTES, 64); }

    private MemorySegment random(long n, SplittableRandom rng) {
        MemorySegment s = zeros(n);
        for (long i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) rng.nextDouble(-1, 1));
        return s;
    }

    @Override
    public void close() { arena.close(); }
}
