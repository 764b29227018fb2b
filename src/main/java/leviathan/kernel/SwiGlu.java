package leviathan.kernel;

import static leviathan.kernel.Simd.F;
import static leviathan.kernel.Simd.NATIVE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import jdk.incubator.vector.FloatVector;

/**
 * The gate of the SwiGLU MLP (LEVIATHAN.md, "Gated MLP"), elementwise over n floats:
 * {@code h = silu(g)·u} with {@code silu(z) = z·σ(z)}, and its backward
 * {@code dg = dh·u·σ(g)(1 + g(1 - σ(g)))}, {@code du = dh·silu(g)}.
 *
 * <p>The vector path computes {@code σ(z) = 1/(1 + e)} with {@code e = exp(-z)} from
 * {@link VectorMath#exp} (clamped, so it cannot overflow) and {@code 1 - σ = e·σ} without
 * cancellation, as {@link Gelu} does; the scalar reference uses {@link Math#exp}. Work splits in
 * fixed blocks ({@link Elementwise}), so the result does not depend on the thread count.
 */
public final class SwiGlu {
    private SwiGlu() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    /** {@code h[i] = silu(g[i])·u[i]}, i in {@code [from, to)}. */
    public static void forward(MemorySegment h, MemorySegment g, MemorySegment u, long from, long to) {
        Forward k = FORWARD.get();
        k.h = h;
        k.g = g;
        k.u = u;
        Elementwise.forBlocks(from, to, Elementwise.EXP_TASK, k);
    }

    private static final class Forward extends Elementwise.Blocks {
        MemorySegment h, g, u;

        @Override
        void range(long from, long to) { forwardRange(h, g, u, from, to); }
    }

    private static final Parallel.Tasks<Forward> FORWARD = new Parallel.Tasks<>(Forward::new);

    static void forwardRange(MemorySegment h, MemorySegment g, MemorySegment u, long from, long to) {
        long i = from;
        if (Simd.ENABLED) {
            for (long bound = from + F.loopBound(to - from); i < bound; i += F.length()) {
                long off = i * Float.BYTES;
                var z = FloatVector.fromMemorySegment(F, g, off, NATIVE);
                var e = VectorMath.exp(z.neg());
                z.div(e.add(1f)).mul(FloatVector.fromMemorySegment(F, u, off, NATIVE)).intoMemorySegment(h, off, NATIVE);
            }
        }
        forwardScalar(h, g, u, i, to);
    }

    /** The definition, on elements {@code [from, to)}. */
    public static void forwardScalar(MemorySegment h, MemorySegment g, MemorySegment u, long from, long to) {
        for (long i = from; i < to; i++) {
            float z = g.getAtIndex(FL, i);
            float sig = (float) (1.0 / (1.0 + Math.exp(-z)));
            h.setAtIndex(FL, i, z * sig * u.getAtIndex(FL, i));
        }
    }

    /** Writes {@code dg} and {@code du} (not accumulated) for elements {@code [0, n)}. */
    public static void backward(MemorySegment dg, MemorySegment du, MemorySegment dh, MemorySegment g, MemorySegment u, long n) {
        Backward k = BACKWARD.get();
        k.dg = dg;
        k.du = du;
        k.dh = dh;
        k.g = g;
        k.u = u;
        Elementwise.forBlocks(0, n, Elementwise.EXP_TASK, k);
    }

    private static final class Backward extends Elementwise.Blocks {
        MemorySegment dg, du, dh, g, u;

        @Override
        void range(long from, long to) { backwardRange(dg, du, dh, g, u, from, to); }
    }

    private static final Parallel.Tasks<Backward> BACKWARD = new Parallel.Tasks<>(Backward::new);

    static void backwardRange(MemorySegment dg, MemorySegment du, MemorySegment dh, MemorySegment g, MemorySegment u, long from, long to) {
        long i = from;
        if (Simd.ENABLED) {
            for (long bound = from + F.loopBound(to - from); i < bound; i += F.length()) {
                long off = i * Float.BYTES;
                var z = FloatVector.fromMemorySegment(F, g, off, NATIVE);
                var e = VectorMath.exp(z.neg());
                var sig = FloatVector.broadcast(F, 1f).div(e.add(1f));
                var d = FloatVector.fromMemorySegment(F, dh, off, NATIVE);
                var up = FloatVector.fromMemorySegment(F, u, off, NATIVE);
                d.mul(z).mul(sig).intoMemorySegment(du, off, NATIVE);                         // dh·silu(g)
                var slope = sig.mul(z.mul(e.mul(sig)).add(1f));                              // σ(1 + g(1 - σ))
                d.mul(up).mul(slope).intoMemorySegment(dg, off, NATIVE);
            }
        }
        backwardScalar(dg, du, dh, g, u, i, to);
    }

    /** The definition, on elements {@code [from, to)}. */
    public static void backwardScalar(MemorySegment dg, MemorySegment du, MemorySegment dh, MemorySegment g, MemorySegment u,
                                      long from, long to) {
        for (long i = from; i < to; i++) {
            float z = g.getAtIndex(FL, i), d = dh.getAtIndex(FL, i);
            double sig = 1.0 / (1.0 + Math.exp(-z));
            du.setAtIndex(FL, i, (float) (d * z * sig));
            dg.setAtIndex(FL, i, (float) (d * u.getAtIndex(FL, i) * sig * (1 + z * (1 - sig))));
        }
    }
}
