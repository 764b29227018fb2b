package leviathan.bench;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.kernel.CrossEntropy;
import org.openjdk.jmh.annotations.Benchmark;

/** Fused softmax + cross-entropy on the logits, {@code (B·T, V)} = 768×65. */
public class CrossEntropyBench extends KernelBench {
    private MemorySegment logits, probs, losses, targets, dlogits;

    @Override
    void allocate(SplittableRandom rnd) {
        long n = (long) ROWS * V;
        logits = random(n, rnd, 6);
        probs = random(n, rnd, 1);
        losses = random(ROWS, rnd, 1);
        dlogits = random(n, rnd, 1);
        targets = tokens(ROWS, V, rnd);
        CrossEntropy.forwardScalar(losses, probs, logits, targets, ROWS, V);
    }

    @Benchmark public double forward() { return CrossEntropy.forward(losses, probs, logits, targets, ROWS, V); }
    @Benchmark public double forwardScalar() { return CrossEntropy.forwardScalar(losses, probs, logits, targets, ROWS, V); }
    @Benchmark public void backward() { CrossEntropy.backward(dlogits, probs, targets, 1f / ROWS, ROWS, V); }
    @Benchmark public void backwardScalar() { CrossEntropy.backwardScalar(dlogits, probs, targets, 1f / ROWS, ROWS, V); }
}
