package leviathan.nn;

import static leviathan.testing.Close.assertClose;
import static org.junit.jupiter.api.Assertions.assertEquals;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.SplittableRandom;
import leviathan.backend.JavaBackend;
import leviathan.kernel.Correlation;
import leviathan.kernel.Simd;
import org.junit.jupiter.api.Test;

/**
 * The operation routes Impl.FFT to the FFT path, which matches the reference, and AUTO at many
 * lags and D >= 128 to FFT (to SCALAR under {@code -Dleviathan.scalar=true}, where no vector kernel runs).
 */
class CorrelationAttentionFftTest {

    @Test
    void autoPicksFftAtManyLags() {
        try (var op = new CorrelationAttention(new JavaBackend(), 2, 9, 256, 2, 128, CorrelationAttention.Impl.AUTO)) {
            // D = 128, N = 128 >= 3D/4
            assertEquals(Simd.ENABLED ? CorrelationAttention.Impl.FFT : CorrelationAttention.Impl.SCALAR, op.choose(9));
        }
        try (var op = new CorrelationAttention(new JavaBackend(), 2, 9, 32, 2, 16, CorrelationAttention.Impl.AUTO)) {
            // D = 16, N = 16: the direct kernel was measured faster
            assertEquals(Simd.ENABLED ? CorrelationAttention.Impl.DIRECT : CorrelationAttention.Impl.SCALAR, op.choose(9));
        }
    }

    @Test
    void fftImplMatchesTheScalarReference() {
        int B = 2, T = 9, C = 32, H = 2, N = 16;
        try (Arena a = Arena.ofShared();
             var op = new CorrelationAttention(new JavaBackend(), B, T, C, H, N, CorrelationAttention.Impl.FFT)) {
            assertEquals(CorrelationAttention.Impl.FFT, op.choose(T));
            SplittableRandom r = new SplittableRandom(3);
            MemorySegment qkv = random(a, B * T * 3 * C, r), bias = random(a, H * N, r), dout = random(a, B * T * C, r);
            MemorySegment out = a.allocate(4L * B * T * C), lse = a.allocate(4L * B * H * T);
            MemorySegment outRef = a.allocate(4L * B * T * C), lseRef = a.allocate(4L * B * H * T);
            MemorySegment dqkv = a.allocate(4L * B * T * 3 * C), dbias = a.allocate(4L * H * N);
            MemorySegment dqkvRef = a.allocate(4L * B * T * 3 * C), dbiasRef = a.allocate(4L * H * N);
            op.forward(out, lse, qkv, bias, B, T, 0);
            op.backward(dqkv, dbias, dout, out, lse, qkv, bias, B, T);
            Correlation.forwardScalar(outRef, lseRef, qkv, bias, B, T, C, H, N, 0);
            Correlation.backwardScalar(dqkvRef, dbiasRef, dout, outRef, lseRef, qkv, bias, B, T, C, H, N);
            // float FFT round trips vs direct sums: a few ulps of O(1) values
            assertClose("out", out, outRef, 1e-4, 1e-4);
            assertClose("lse", lse, lseRef, 1e-5, 1e-5);
            assertClose("dqkv", dqkv, dqkvRef, 1e-3, 1e-3);
            assertClose("dbias", dbias, dbiasRef, 1e-3, 1e-3);
        }
    }

    static MemorySegment random(Arena a, int n, SplittableRandom r) {
        MemorySegment s = a.allocate(4L * n);
        for (int i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, (float) r.nextGaussian());
        return s;
    }

}
