package leviathan.bench;

import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.kernel.Moe;
import org.openjdk.jmh.annotations.Benchmark;

/**
 * The routing overhead of a mixture of experts (everything but the expert GEMMs) at the
 * char-Shakespeare size: n = 768 rows, C = 128, E = 8 experts, top-2. {@code route} is the
 * top-k, gates, softmax and logsumexp; {@code dispatch} the counting sort and the gather;
 * {@code combine} the weighted scatter-add back; {@code backward} the combine and gather
 * backwards, the gate backward and the auxiliary gradient.
 *
 * <pre>
 *   flock /tmp/leviathan-bench.lock ./leviathan bench 'leviathan.bench.MoeBench' -p threads=1,2 -wi 2 -i 5 -w 1 -r 1
 * </pre>
 */
public class MoeBench extends KernelBench {
    static final int E = 8, K = 2, N = ROWS;

    private MemorySegment z, expert, gate, prob, lse, count, offset, rowOf, posOf, m, xe, ye, y, dy, dye, dgate, dz, dm;

    private MemorySegment ints(long n) { return zeros(n); }

    @Override
    void allocate(SplittableRandom rnd) {
        z = random((long) N * E, rnd, 2);
        expert = ints((long) N * K);
        gate = zeros((long) N * K);
        prob = zeros((long) N * E);
        lse = zeros(N);
        count = ints(E);
        offset = ints(E + 1);
        rowOf = ints((long) N * K);
        posOf = ints((long) N * K);
        m = random((long) N * C, rnd, 1);
        xe = zeros((long) N * K * C);
        ye = random((long) N * K * C, rnd, 1);
        y = zeros((long) N * C);
        dy = random((long) N * C, rnd, 1);
        dye = zeros((long) N * K * C);
        dgate = zeros((long) N * K);
        dz = zeros((long) N * E);
        dm = zeros((long) N * C);
        Moe.route(expert, gate, prob, lse, z, N, E, K);
        Moe.plan(count, offset, rowOf, posOf, expert, N, E, K);
    }

    @Benchmark public void route() { Moe.route(expert, gate, prob, lse, z, N, E, K); }

    @Benchmark
    public void dispatch() {
        Moe.plan(count, offset, rowOf, posOf, expert, N, E, K);
        Moe.gather(xe, m, rowOf, N, K, C);
    }

    @Benchmark public void combine() { Moe.combine(y, ye, gate, posOf, N, K, C); }
    @Benchmark public void combineScalar() { Moe.combineScalar(y, ye, gate, posOf, N, K, C); }

    @Benchmark
    public void backward() {
        Moe.combineBackward(dye, dgate, dy, ye, gate, posOf, N, K, C);
        Moe.gatherBackward(dm, dye, posOf, N, K, C);
        Moe.gateBackward(dz, dgate, gate, expert, N, E, K);
        Moe.auxBackward(dz, prob, lse, count, N, E, K, 0.01f, 0.001f, 1f);
    }
}
