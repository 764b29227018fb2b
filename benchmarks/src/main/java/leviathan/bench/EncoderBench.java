package leviathan.bench;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.kernel.Encoder;
import org.openjdk.jmh.annotations.Benchmark;

/** Token + position embedding and its scatter-add backward, B = 12, T = 64, C = 128, V = 65. */
public class EncoderBench extends KernelBench {
    private MemorySegment out, tokens, wte, wpe, dwte, dwpe;

    @Override
    void allocate(SplittableRandom rnd) {
        out = random((long) ROWS * C, rnd, 1);
        tokens = tokens(ROWS, V, rnd);
        wte = random((long) V * C, rnd, 1);
        wpe = random((long) T * C, rnd, 1);
        dwte = random((long) V * C, rnd, 1);
        dwpe = random((long) T * C, rnd, 1);
    }

    @Benchmark public void forward() { Encoder.forward(out, tokens, wte, wpe, B, T, C); }
    @Benchmark public void forwardScalar() { Encoder.forwardScalar(out, tokens, wte, wpe, B, T, C); }
    /** dout is {@code out}: any values do. */
    @Benchmark public void backward() { Encoder.backward(dwte, dwpe, out, tokens, B, T, C); }
    @Benchmark public void backwardScalar() { Encoder.backwardScalar(dwte, dwpe, out, tokens, B, T, C); }
}
