package leviathan.nn;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.ObjDoubleConsumer;
import leviathan.backend.Backend;
import leviathan.tensor.Tensor;

/**
 * One slot of the pre-LayerNorm block, {@code x + part(ln(x))}: a {@link TokenMixer} or an
 * {@link Mlp}. A part says everything about itself, and the model derives the rest from it: the
 * parameter layout, initialisation, weight-decay groups, checkpoint names, metadata and checks,
 * and the activation workspace. Instances are declarations (immutable, cheap, built by
 * {@link Parts} from a {@link PartSpec} and the model's {@link Dims}); {@link #bind} attaches one
 * to one layer's memory in one workspace, and the {@link Bound} result computes.
 *
 * <p>Shapes: the input {@code in} and the output {@code out} of a bound part are {@code (B, T, C)}
 * row-major float32 segments holding {@code B·T} rows. A part writes {@code out} (it does not add
 * the residual: the block does).
 */
public interface BlockPart {

    /** The registered kind ({@code correlation}, {@code dense}, ...). */
    String kind();

    /** Checkpoint metadata this part adds to the model's own keys (its model options). */
    Map<String, String> metadata();

    /** Parameters in checkpoint order; names are suffixes after {@code h.{l}.} (e.g. {@code attn.c_attn.weight}). */
    List<Param> params();

    /** Activations saved for the backward (and the sampling cache): names after {@code h.{l}.}, floats per row. */
    List<Act> activations();

    /**
     * Off-heap bytes one bound layer of this part allocates beyond its declared activations, for a
     * workspace of {@code maxBatch × maxT} and {@code threads} kernel threads (the memory estimate
     * counts it before anything is allocated); 0 by default.
     */
    default long scratchBytes(int maxBatch, int maxT, int threads) { return 0; }

    /** Attaches the part to one layer's memory; the result owns any scratch it allocates. */
    Bound bind(LayerMemory memory);

    /**
     * A parameter: checkpoint name suffix, shape, initialisation, and whether AdamW weight decay
     * applies (LEVIATHAN.md: 2-D weight matrices only).
     */
    record Param(String name, int[] shape, Init init, boolean decays) {
        public Param {
            shape = shape.clone();
        }

        /** A weight matrix {@code [out, in]}, normal(0, std), decayed. */
        public static Param weight(String name, int out, int in, double std) {
            return new Param(name, new int[] {out, in}, Init.normal(std), true);
        }

        /** A bias {@code [n]}, zero, not decayed. */
        public static Param bias(String name, int n) {
            return new Param(name, new int[] {n}, Init.ZEROS, false);
        }
    }

    /** A saved activation of {@code perRow} floats for each of the {@code B·T} rows. */
    record Act(String name, int perRow) {}

    /**
     * How a parameter starts. Every initialiser draws from the one generator the model passes in
     * checkpoint order, so a seed fixes the whole model.
     */
    @FunctionalInterface
    interface Init {
        Init ZEROS = (t, rng, options) -> { };
        Init ONES = (t, rng, options) -> t.fill(1f);

        void fill(Tensor t, SplittableRandom rng, RunOptions options);

        static Init normal(double std) {
            return (t, rng, options) -> {
                for (long i = 0, n = t.numel(); i < n; i++) t.setFlat(i, (float) (rng.nextGaussian() * std));
            };
        }
    }

    /**
     * One layer's memory in one workspace, by the part's own names: parameters and their gradients
     * (null when the model has none yet), saved activations and their gradients (null for an
     * inference workspace), plus the GEMM backend, the workspace's capacity and the run options.
     */
    interface LayerMemory {
        MemorySegment param(String name);

        /** The gradient of {@code param(name)}, or null in an inference workspace. */
        MemorySegment grad(String name);

        MemorySegment act(String name);

        /** The gradient of {@code act(name)}, or null in an inference workspace. */
        MemorySegment dact(String name);

        Backend backend();

        int maxBatch();

        int maxT();

        boolean training();

        RunOptions options();

        /**
         * Arms {@code mask} for this layer's mixer weights when the workspace's next training
         * forward drops (LEVIATHAN.md, dropout) and returns true; returns false otherwise. The same
         * mask comes back for the forward and the backward of one micro-batch.
         */
        boolean armWeightDropout(leviathan.kernel.Dropout.Mask mask);
    }

    /**
     * A part bound to one layer of one workspace. Not thread-safe (neither is a workspace).
     */
    interface Bound extends AutoCloseable {
        /**
         * Computes rows {@code [t0, T)} of each of the {@code B} sequences of {@code out} from
         * {@code in}. With {@code t0 > 0} (incremental decoding, {@code B = 1}) rows below
         * {@code t0} already hold this layer's activations from earlier calls: the cache.
         */
        void forward(MemorySegment out, MemorySegment in, int B, int T, int t0);

        /**
         * Backpropagates {@code dout} through the last full forward ({@code t0 = 0}): adds into
         * {@code din} and the parameter gradients. {@code lossScale} is the weight of this
         * micro-batch in the step's loss (1, or 1/k when accumulating k), for parts that add
         * their own auxiliary loss terms.
         */
        void backward(MemorySegment din, MemorySegment dout, MemorySegment in, int B, int T, float lossScale);

        /** The auxiliary training loss of the last forward (already weighted), 0 for most parts. */
        default double auxLoss() { return 0; }

        /** Named figures of the last forward for the metrics (e.g. expert loads), none by default. */
        default void stats(ObjDoubleConsumer<String> sink) { }

        @Override
        default void close() { }
    }

    /** The model dimensions a part is shaped by. */
    record Dims(int nEmbd, int nHead, int nLayer, int blockSize) {
        public int headDim() { return nEmbd / nHead; }

        /** GPT-2's initial std for projections into the residual stream: 0.02 / sqrt(2·n_layer). */
        public double residualStd() { return 0.02 / Math.sqrt(2.0 * nLayer); }
    }
}
