package leviathan.model;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.HashMap;
import java.util.Map;
import java.util.function.ObjDoubleConsumer;
import leviathan.backend.Backend;
import leviathan.nn.BlockPart;
import leviathan.nn.RunOptions;
import leviathan.profile.Profiler;
import leviathan.tensor.Buffers;

/**
 * Activations (and, for training, their gradients) for batches of up to {@code maxBatch}
 * sequences of up to {@code maxT} tokens, allocated once and reused by every step: a steady-state
 * step allocates nothing. A batch of {@code B×T} uses the leading {@code B·T} rows of each tensor.
 * Holds each layer's mixer and MLP bound to this memory. Not thread-safe: one workspace per
 * concurrent user; the model's parameters are shared.
 *
 * <p>Activation bytes, for {@code rows = B·T} (each tensor rounded up to 64 bytes):
 * <pre>
 *   per layer      4 · rows · (4C + 4 + mixer + mlp)     block: ln_1, ln_2 (C + mean + rstd each), res_1, res_2
 *                  mixer, mlp: the floats per row their parts declare ({@link BlockPart#activations})
 *   outside        4 · rows · (2C + 2V + 3)               x, ln_f (C + 2), logits V, probs V, losses 1
 *   token ids      8 · rows                               tokens, targets (int32)
 * </pre>
 * For example a correlation/dense layer holds {@code 4·B·T·(16C + H + 4)} bytes: linear in T (the
 * attention keeps the log-sum-exp, not the T×T probabilities). A training workspace doubles the
 * activations for their gradients. Each bound part may hold scratch of its own, which it declares
 * ({@link BlockPart#scratchBytes}). {@link MemoryEstimate} counts all of it from the declarations
 * before anything is allocated; {@link #layerFloatsPerRow} is the per-layer term.
 */
public final class Workspace implements AutoCloseable {
    final Gpt model;
    final GptConfig config;
    final Backend backend;
    final int maxBatch, maxT;
    final Arena arena = Arena.ofShared();
    final Buffers acts;
    final Buffers dacts;                 // null when built for inference only
    final MemorySegment tokens, targets; // (maxBatch, maxT) int32
    final BlockMemory[] layerActs, layerDacts;
    final BlockPart.Bound[] mixers, mlps;
    private final LayerStats[] layerStats;
    /** Dropout of the next training forward and its backward (LEVIATHAN.md): off unless {@link #dropout} armed it. */
    private boolean dropping;
    private float dropP;
    private long dropSeed, dropStep, dropMicro, dropFirstRow;

    /** The block's own tensors for one layer (activations or their gradients). */
    record BlockMemory(MemorySegment ln1, MemorySegment ln1Mean, MemorySegment ln1Rstd, MemorySegment res1,
                       MemorySegment ln2, MemorySegment ln2Mean, MemorySegment ln2Rstd, MemorySegment res2) {
        static BlockMemory of(Buffers b, int l) {
            String h = "h." + l + ".";
            return new BlockMemory(s(b, h + "ln_1"), s(b, h + "ln_1.mean"), s(b, h + "ln_1.rstd"), s(b, h + "res_1"),
                    s(b, h + "ln_2"), s(b, h + "ln_2.mean"), s(b, h + "ln_2.rstd"), s(b, h + "res_2"));
        }
    }

    Workspace(Gpt model, Backend backend, int maxBatch, int maxT, boolean training, RunOptions options) {
        GptConfig config = model.config();
        if (maxBatch < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + maxBatch);
        if (maxT < 1 || maxT > config.blockSize()) {
            throw new IllegalArgumentException("sequence length must be in [1, block_size " + config.blockSize() + "], got " + maxT);
        }
        this.model = model;
        this.config = config;
        this.backend = backend;
        this.maxBatch = maxBatch;
        this.maxT = maxT;
        Buffers.Layout layout = layout(config, maxBatch * maxT);
        this.acts = layout.allocate(arena);
        this.dacts = training ? layout.allocate(arena) : null;
        this.tokens = arena.allocate(ValueLayout.JAVA_INT, (long) maxBatch * maxT);
        this.targets = arena.allocate(ValueLayout.JAVA_INT, (long) maxBatch * maxT);
        int L = config.nLayer();
        this.layerActs = new BlockMemory[L];
        this.layerDacts = new BlockMemory[L];
        this.mixers = new BlockPart.Bound[L];
        this.mlps = new BlockPart.Bound[L];
        this.layerStats = new LayerStats[L];
        for (int l = 0; l < L; l++) layerStats[l] = new LayerStats(l);
        BlockPart mlp = config.mlpPart();
        Buffers grads = training ? model.grads() : null;
        try {
            for (int l = 0; l < L; l++) {
                layerActs[l] = BlockMemory.of(acts, l);
                if (training) layerDacts[l] = BlockMemory.of(dacts, l);
                BlockPart mixer = config.mixerPart(l);
                mixers[l] = mixer.bind(new Memory(l, "h." + l + ".", MIXER, model.params(), grads, options));
                mlps[l] = mlp.bind(new Memory(l, "h." + l + ".", MLP, model.params(), grads, options));
                if (Profiler.ENABLED) {                       // -Dleviathan.profile=true: time each part
                    mixers[l] = new ProfiledPart(mixers[l], "mixer", mixer);
                    mlps[l] = new ProfiledPart(mlps[l], "mlp", mlp);
                }
            }
        } catch (RuntimeException e) {
            close();
            throw e;
        }
    }

    /** Where each slot's activations are named, so that a mixer's and an MLP's names never collide. */
    private static final String MIXER = "attn.", MLP = "mlp.";

    /** Activation tensors for {@code rows = B·T} positions, in forward order. */
    static Buffers.Layout layout(GptConfig c, int rows) {
        int C = c.nEmbd(), V = c.vocabSize();
        BlockPart mlp = c.mlpPart();
        var l = new Buffers.Layout().add("x", rows, C);                       // embeddings, the stream's start
        for (int i = 0; i < c.nLayer(); i++) {
            String h = "h." + i + ".";
            l.add(h + "ln_1", rows, C).add(h + "ln_1.mean", rows).add(h + "ln_1.rstd", rows);
            for (var a : c.mixerPart(i).activations()) l.add(h + MIXER + a.name(), rows, a.perRow());
            l.add(h + "res_1", rows, C);                                      // stream after the mixer
            l.add(h + "ln_2", rows, C).add(h + "ln_2.mean", rows).add(h + "ln_2.rstd", rows);
            for (var a : mlp.activations()) l.add(h + MLP + a.name(), rows, a.perRow());
            l.add(h + "res_2", rows, C);                                      // stream after the MLP
        }
        return l.add("ln_f", rows, C).add("ln_f.mean", rows).add("ln_f.rstd", rows)
                .add("logits", rows, V).add("probs", rows, V).add("losses", rows);
    }

    /** Activation floats layer {@code layer} keeps per row ({@code B·T} rows): the block's {@code 4C + 4} plus what the parts declare. */
    public static long layerFloatsPerRow(GptConfig c, int layer) {
        long n = 4L * c.nEmbd() + 4;
        for (var a : c.mixerPart(layer).activations()) n += a.perRow();
        for (var a : c.mlpPart().activations()) n += a.perRow();
        return n;
    }

    /** One layer's memory as the parts see it: their own names under the layer's prefix. */
    private final class Memory implements BlockPart.LayerMemory {
        private final String prefix, actPrefix;
        private final Buffers params, grads;
        private final RunOptions options;

        private final int layer;

        Memory(int layer, String prefix, String slot, Buffers params, Buffers grads, RunOptions options) {
            this.layer = layer;
            this.prefix = prefix;
            this.actPrefix = prefix + slot;
            this.params = params;
            this.grads = grads;
            this.options = options;
        }

        @Override public MemorySegment param(String name) { return s(params, prefix + name); }

        @Override public MemorySegment grad(String name) { return grads == null ? null : s(grads, prefix + name); }

        @Override public MemorySegment act(String name) { return s(acts, actPrefix + name); }

        @Override public MemorySegment dact(String name) { return dacts == null ? null : s(dacts, actPrefix + name); }

        @Override public Backend backend() { return backend; }

        @Override public int maxBatch() { return maxBatch; }

        @Override public int maxT() { return maxT; }

        @Override public boolean training() { return dacts != null; }

        @Override public RunOptions options() { return options; }

        @Override
        public boolean armWeightDropout(leviathan.kernel.Dropout.Mask mask) {
            if (!dropping) return false;
            mask.set(leviathan.kernel.Dropout.key(dropSeed, dropStep, dropMicro, weightsSite(layer)), dropP, (int) dropFirstRow);
            return true;
        }
    }

    static MemorySegment s(Buffers b, String name) { return b.get(name).segment(); }

    /** The token ids of the batch, {@code (maxBatch, maxT)} int32; fill the leading {@code B·T}. */
    public MemorySegment tokens() { return tokens; }

    /** Next-token targets, same layout as {@link #tokens()}. */
    public MemorySegment targets() { return targets; }

    public int maxBatch() { return maxBatch; }

    public int maxT() { return maxT; }

    /**
     * Arms dropout with probability {@code p} for the next training forward and its backward: the
     * masks are keyed by ({@code seed}, {@code step}, {@code micro}, site) and count elements from
     * row {@code firstRow} of the global batch, so they do not depend on the thread or rank count.
     * Evaluation and sampling never arm it; {@link #noDropout} disarms it.
     */
    public void dropout(float p, long seed, long step, int micro, int firstRow) {
        leviathan.kernel.Dropout.threshold(p);                      // checks p in [0, 1)
        dropping = p > 0;
        dropP = p;
        dropSeed = seed;
        dropStep = step;
        dropMicro = micro;
        dropFirstRow = firstRow;
    }

    public void noDropout() { dropping = false; }

    boolean dropping() { return dropping; }

    /** Dropout sites (LEVIATHAN.md): the embedding sum, each layer's two residual branches, and each mixer's weights. */
    static final int EMBEDDING_SITE = 0;

    static int mixerSite(int layer) { return 1 + 3 * layer; }

    static int mlpSite(int layer) { return 2 + 3 * layer; }

    static int weightsSite(int layer) { return 3 + 3 * layer; }

    /**
     * Applies the armed mask of {@code site} to the {@code (B, T, C)} rows of {@code x}: the
     * forward at that site, or, on its gradient, the backward.
     */
    void drop(MemorySegment x, int site, int B, int T, int C) {
        long key = leviathan.kernel.Dropout.key(dropSeed, dropStep, dropMicro, site);
        leviathan.kernel.Dropout.apply(x, key, dropP, dropFirstRow * T * C, 0, (long) B * T * C);
    }

    /** Logits of the last forward, {@code (B, T, V)} in the leading rows. */
    public MemorySegment logits() { return acts.get("logits").segment(); }

    /** The sum of the parts' auxiliary training losses in the last forward (0 for the dense models). */
    public double auxLoss() {
        double sum = 0;
        for (int l = 0; l < mixers.length; l++) sum += mixers[l].auxLoss() + mlps[l].auxLoss();
        return sum;
    }

    /**
     * The parts' named figures of the last forward, each name prefixed by its layer ({@code h.0.…}).
     * The prefixed names are made once per name and kept, so a call allocates nothing once every
     * name has been seen (the parts report the same names each time).
     */
    public void stats(ObjDoubleConsumer<String> sink) {
        for (int l = 0; l < mixers.length; l++) {
            LayerStats p = layerStats[l];
            p.sink = sink;
            mixers[l].stats(p);
            mlps[l].stats(p);
            p.sink = null;
        }
    }

    /** Passes a layer's figures on with the layer's prefix, from a cache of the prefixed names. */
    private static final class LayerStats implements ObjDoubleConsumer<String> {
        private final String prefix;
        private final Map<String, String> named = new HashMap<>();
        private ObjDoubleConsumer<String> sink;

        LayerStats(int layer) { this.prefix = "h." + layer + "."; }

        @Override
        public void accept(String name, double v) {
            String full = named.get(name);
            if (full == null) named.put(name, full = prefix + name);
            sink.accept(full, v);
        }
    }

    /** Bytes of off-heap memory this workspace holds. */
    public long byteSize() {
        return acts.all().byteSize() + (dacts == null ? 0 : dacts.all().byteSize()) + tokens.byteSize() + targets.byteSize();
    }

    @Override
    public void close() {
        for (BlockPart.Bound[] parts : new BlockPart.Bound[][] {mixers, mlps}) {
            if (parts == null) continue;
            for (BlockPart.Bound b : parts) if (b != null) b.close();
        }
        arena.close();
    }
}
