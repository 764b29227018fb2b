package leviathan.model;

import static leviathan.model.Workspace.s;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Objects;
import java.util.SplittableRandom;
import java.util.function.IntConsumer;
import leviathan.backend.Backend;
import leviathan.kernel.CrossEntropy;
import leviathan.kernel.Encoder;
import leviathan.kernel.LayerNorm;
import leviathan.kernel.Residual;
import leviathan.nn.BlockPart;
import leviathan.nn.Linear;
import leviathan.nn.RunOptions;
import leviathan.profile.Profiler;
import leviathan.profile.Profiler.Section;
import leviathan.tensor.Buffers;
import leviathan.tensor.Tensor;

/**
 * The Leviathan language model (LEVIATHAN.md, "The language model"): pre-LayerNorm GPT-2 blocks,
 * {@code x + mixer(ln_1(x))} then {@code x + mlp(ln_2(x))}, with the output head tied to
 * {@code wte}. The mixer and the MLP are the parts the config names ({@link leviathan.nn.Parts});
 * this class only knows the block around them. Parameters are one off-heap block named as in the
 * checkpoint; gradients mirror it. Activations live in a {@link Workspace}, so one model serves
 * several concurrent users with a workspace each.
 */
public final class Gpt implements AutoCloseable {
    // Timers for -Dleviathan.profile=true (no cost when off); the parts and GEMMs time themselves.
    private static final Section P_FORWARD = Profiler.section("model forward"), P_BACKWARD = Profiler.section("model backward"),
            P_ENCODER_F = Profiler.section("encoder forward"), P_ENCODER_B = Profiler.section("encoder backward"),
            P_LN_F = Profiler.section("layernorm forward"), P_LN_B = Profiler.section("layernorm backward"),
            P_RESIDUAL = Profiler.section("residual add"), P_HEAD_F = Profiler.section("lm head forward"),
            P_HEAD_B = Profiler.section("lm head backward"), P_CE_F = Profiler.section("cross-entropy forward"),
            P_CE_B = Profiler.section("cross-entropy backward"), P_ZERO_ACT = Profiler.section("zero activation grads"),
            P_ZERO_GRAD = Profiler.section("zero grads"), P_RESIDUAL_LN = Profiler.section("residual + layernorm forward");

    private final GptConfig config;
    private final Arena arena = Arena.ofShared();
    private final Buffers params;
    private Buffers grads;
    private final BlockParams[] layers;
    private BlockParams[] gradLayers;

    /** The block's own parameters (or gradients) for one layer: the two LayerNorms. */
    private record BlockParams(MemorySegment ln1w, MemorySegment ln1b, MemorySegment ln2w, MemorySegment ln2b) {
        static BlockParams of(Buffers b, int l) {
            String h = "h." + l + ".";
            return new BlockParams(s(b, h + "ln_1.weight"), s(b, h + "ln_1.bias"), s(b, h + "ln_2.weight"), s(b, h + "ln_2.bias"));
        }
    }

    private Gpt(GptConfig config) {
        this.config = config;
        this.params = ParameterLayout.of(config).allocate(arena);
        this.layers = new BlockParams[config.nLayer()];
        for (int l = 0; l < layers.length; l++) layers[l] = BlockParams.of(params, l);
    }

    /** A model with every parameter zero, ready to be filled (e.g. by a checkpoint loader). */
    public static Gpt empty(GptConfig config) { return new Gpt(config); }

    /**
     * A freshly initialised model, like GPT-2: weights normal(0, 0.02), the residual projections
     * ({@code c_proj}) scaled by {@code 1/sqrt(2·n_layer)}, LayerNorm weights 1, biases 0; each
     * part's parameters as it declares them, drawn from one generator in checkpoint order.
     */
    public static Gpt init(GptConfig config, long seed) {
        return init(config, seed, RunOptions.DEFAULTS);
    }

    /** {@link #init(GptConfig, long)} with run options for the parts' initialisers (e.g. {@code lag_bias_init}). */
    public static Gpt init(GptConfig config, long seed, RunOptions options) {
        Gpt g = new Gpt(config);
        SplittableRandom rng = new SplittableRandom(seed);
        List<BlockPart.Param> declared = ParameterLayout.params(config);
        for (BlockPart.Param p : declared) p.init().fill(g.params.get(p.name()), rng, options);
        return g;
    }

    public GptConfig config() { return config; }

    /** The parameters, named and shaped as in the checkpoint. */
    public Buffers params() { return params; }

    /** The gradients (same layout as the parameters), allocated at first use. */
    public synchronized Buffers grads() {
        if (grads == null) {
            grads = ParameterLayout.of(config).allocate(arena);
            gradLayers = new BlockParams[config.nLayer()];
            for (int l = 0; l < gradLayers.length; l++) gradLayers[l] = BlockParams.of(grads, l);
        }
        return grads;
    }

    /** Number of parameters (padding excluded). */
    public long parameterCount() {
        long n = 0;
        for (Tensor t : params.tensors().values()) n += t.numel();
        return n;
    }

    /** Clears every parameter gradient: the one place gradients are zeroed. */
    public void zeroGrad() {
        Profiler.begin(P_ZERO_GRAD);
        grads().zero();
        Profiler.end(P_ZERO_GRAD);
    }

    /**
     * A workspace for batches up to {@code maxBatch × maxT}; training ones also hold activation
     * gradients. {@code options} reach every part (e.g. {@code impl} picks the correlation kernel).
     */
    public Workspace workspace(Backend backend, int maxBatch, int maxT, boolean training, RunOptions options) {
        return new Workspace(this, backend, maxBatch, maxT, training, options);
    }

    public Workspace workspace(Backend backend, int maxBatch, int maxT, boolean training) {
        return workspace(backend, maxBatch, maxT, training, RunOptions.DEFAULTS);
    }

    /**
     * Runs the model on {@code ws.tokens()} ({@code B×T}); with {@code withLoss} also scores
     * {@code ws.targets()} and returns the mean cross-entropy (nats), else returns NaN.
     * Logits land in {@code ws.logits()}. Auxiliary losses of the parts: {@link Workspace#auxLoss()}.
     */
    public float forward(Workspace ws, int B, int T, boolean withLoss) {
        forward(ws, B, T, 0);
        if (!withLoss) return Float.NaN;
        int rows = B * T;
        Buffers a = ws.acts;
        Profiler.begin(P_CE_F);
        double sum = CrossEntropy.forward(s(a, "losses"), s(a, "probs"), s(a, "logits"), ws.targets, rows, config.vocabSize());
        Profiler.end(P_CE_F);
        return (float) (sum / rows);
    }

    /**
     * Incremental decoding for one sequence ({@code B = 1}): the workspace already holds the
     * activations of positions {@code [0, t)} (from {@link #forward} or earlier calls), and
     * {@code ws.tokens()[t]} holds the new token. Computes position {@code t} only, O(t) work in
     * the attention, and leaves its logits in row {@code t} of {@code ws.logits()}.
     */
    public void forwardIncremental(Workspace ws, int t) {
        forward(ws, 1, t + 1, t);
    }

    /**
     * The forward pass over rows {@code [t0, T)} of each sequence; rows below {@code t0} (only with
     * {@code B = 1}) must hold this workspace's activations of the same prefix: the cache.
     */
    private void forward(Workspace ws, int B, int T, int t0) {
        checkBatch(ws, B, T);
        if (t0 < 0 || t0 >= T || (t0 > 0 && B != 1)) throw new IllegalArgumentException("t0 " + t0 + " needs B = 1 and t0 < T = " + T);
        // rows [t0, B·T) of every tensor (t0 > 0 only with B = 1), addressed by index: no slices, so nothing is allocated
        int C = config.nEmbd(), V = config.vocabSize(), from = t0, to = B * T;
        Buffers a = ws.acts;
        MemorySegment x = s(a, "x");
        Profiler.begin(P_FORWARD);
        Profiler.begin(P_ENCODER_F);
        Encoder.forward(x, ws.tokens, s(params, "wte"), s(params, "wpe"), from, to, T, C);
        Profiler.end(P_ENCODER_F);
        boolean drop = ws.dropping() && t0 == 0;                 // training forwards only (LEVIATHAN.md: dropout)
        if (drop) ws.drop(x, Workspace.EMBEDDING_SITE, B, T, C);
        MemorySegment stream = x;
        for (int l = 0; l < layers.length; l++) {
            blockForward(ws, l, stream, B, T, t0, drop);
            stream = ws.layerActs[l].res2();
        }
        MemorySegment lnf = s(a, "ln_f");
        Profiler.begin(P_LN_F);
        LayerNorm.forward(lnf, s(a, "ln_f.mean"), s(a, "ln_f.rstd"), stream, s(params, "ln_f.weight"), s(params, "ln_f.bias"), from, to, C);
        Profiler.end(P_LN_F);
        Profiler.begin(P_HEAD_F);
        Linear.forward(ws.backend, s(a, "logits"), lnf, s(params, "wte"), null, from, to, C, V);
        Profiler.end(P_HEAD_F);
        Profiler.end(P_FORWARD);
    }

    /** One block over rows {@code [t0, T)} of each sequence reading {@code in}: {@code x + mixer(ln_1(x))}, then {@code + mlp(ln_2(·))}. */
    private void blockForward(Workspace ws, int l, MemorySegment in, int B, int T, int t0, boolean drop) {
        int C = config.nEmbd(), from = t0, to = B * T;
        BlockParams p = layers[l];
        Workspace.BlockMemory act = ws.layerActs[l];
        Profiler.begin(P_LN_F);
        LayerNorm.forward(act.ln1(), act.ln1Mean(), act.ln1Rstd(), in, p.ln1w(), p.ln1b(), from, to, C);
        Profiler.end(P_LN_F);
        ws.mixers[l].forward(act.res1(), act.ln1(), B, T, t0);
        if (drop) ws.drop(act.res1(), Workspace.mixerSite(l), B, T, C);      // x + drop(mixer output)
        Profiler.begin(P_RESIDUAL_LN);                       // res_1 = in + mixer(...), then ln_2(res_1), in one pass
        LayerNorm.forwardResidual(act.ln2(), act.ln2Mean(), act.ln2Rstd(), act.res1(), in, p.ln2w(), p.ln2b(), from, to, C);
        Profiler.end(P_RESIDUAL_LN);
        ws.mlps[l].forward(act.res2(), act.ln2(), B, T, t0);
        if (drop) ws.drop(act.res2(), Workspace.mlpSite(l), B, T, C);        // x + drop(MLP output)
        Profiler.begin(P_RESIDUAL);
        Residual.add(act.res2(), act.res1(), (long) from * C, (long) to * C);
        Profiler.end(P_RESIDUAL);
    }

    /**
     * Backpropagates the loss of the last {@link #forward} with {@code withLoss}, scaled by
     * {@code lossScale} (1 for one batch; {@code 1/k} when accumulating k micro-batches), adding
     * into {@link #grads()}. The parts add the gradients of their auxiliary losses themselves.
     */
    public void backward(Workspace ws, int B, int T, float lossScale) {
        backward(ws, B, T, lossScale, null);
    }

    /**
     * {@link #backward(Workspace, int, int, float)} that also calls {@code layerDone.accept(l)} as soon as layer
     * {@code l}'s parameter gradients ({@link #layerGradients}) are final for this backward, last layer first, while
     * the earlier layers still run: a data-parallel trainer starts averaging them there. The embeddings'
     * ({@link #embeddingGradients}) are final only when this returns. {@code layerDone} may be null.
     */
    public void backward(Workspace ws, int B, int T, float lossScale, IntConsumer layerDone) {
        checkBatch(ws, B, T);
        if (ws.dacts == null) throw new IllegalStateException("workspace was built for inference; use a training workspace");
        int C = config.nEmbd(), V = config.vocabSize(), rows = B * T;
        Backend be = ws.backend;
        Buffers a = ws.acts, d = ws.dacts;
        Buffers g = grads();
        Profiler.begin(P_BACKWARD);
        Profiler.begin(P_ZERO_ACT);
        d.zero();                                             // activation gradients are per step scratch
        Profiler.end(P_ZERO_ACT);
        MemorySegment dlogits = s(d, "logits");
        Profiler.begin(P_CE_B);
        CrossEntropy.backward(dlogits, s(a, "probs"), ws.targets, lossScale / rows, rows, V);
        Profiler.end(P_CE_B);
        int last = layers.length - 1;
        Profiler.begin(P_HEAD_B);
        Linear.backward(be, s(d, "ln_f"), s(g, "wte"), null, dlogits, s(a, "ln_f"), s(params, "wte"), rows, C, V);
        Profiler.end(P_HEAD_B);
        Profiler.begin(P_LN_B);
        LayerNorm.backward(ws.layerDacts[last].res2(), s(g, "ln_f.weight"), s(g, "ln_f.bias"), s(d, "ln_f"), ws.layerActs[last].res2(),
                s(params, "ln_f.weight"), s(a, "ln_f.mean"), s(a, "ln_f.rstd"), rows, C);
        Profiler.end(P_LN_B);
        for (int l = last; l >= 0; l--) {
            BlockParams p = layers[l], gp = gradLayers[l];
            Workspace.BlockMemory act = ws.layerActs[l], dact = ws.layerDacts[l];
            MemorySegment in = l == 0 ? s(a, "x") : ws.layerActs[l - 1].res2();
            MemorySegment din = l == 0 ? s(d, "x") : ws.layerDacts[l - 1].res2();
            long n = (long) rows * C;
            // res_2 = res_1 + mlp(ln_2(res_1))
            Profiler.begin(P_RESIDUAL);
            Residual.add(dact.res1(), dact.res2(), n);
            Profiler.end(P_RESIDUAL);
            if (ws.dropping()) ws.drop(dact.res2(), Workspace.mlpSite(l), B, T, C);   // the branch sees the masked gradient
            ws.mlps[l].backward(dact.ln2(), dact.res2(), act.ln2(), B, T, lossScale);
            Profiler.begin(P_LN_B);
            LayerNorm.backward(dact.res1(), gp.ln2w(), gp.ln2b(), dact.ln2(), act.res1(), p.ln2w(), act.ln2Mean(), act.ln2Rstd(), rows, C);
            Profiler.end(P_LN_B);
            // res_1 = in + mixer(ln_1(in))
            Profiler.begin(P_RESIDUAL);
            Residual.add(din, dact.res1(), n);
            Profiler.end(P_RESIDUAL);
            if (ws.dropping()) ws.drop(dact.res1(), Workspace.mixerSite(l), B, T, C);
            ws.mixers[l].backward(dact.ln1(), dact.res1(), act.ln1(), B, T, lossScale);
            Profiler.begin(P_LN_B);
            LayerNorm.backward(din, gp.ln1w(), gp.ln1b(), dact.ln1(), in, p.ln1w(), act.ln1Mean(), act.ln1Rstd(), rows, C);
            Profiler.end(P_LN_B);
            if (layerDone != null) layerDone.accept(l);
        }
        if (ws.dropping()) ws.drop(s(d, "x"), Workspace.EMBEDDING_SITE, B, T, C);
        Profiler.begin(P_ENCODER_B);
        Encoder.backward(s(g, "wte"), s(g, "wpe"), s(d, "x"), ws.tokens, B, T, C);
        Profiler.end(P_ENCODER_B);
        Profiler.end(P_BACKWARD);
    }


    /**
     * Layer {@code l}'s parameter gradients as one slice of {@code grads().all()}: from {@code h.l.ln_1.weight} up to the
     * next layer's first tensor; the last layer's slice runs to the end and so also holds {@code ln_f}'s (final before
     * it). The slices of all layers and {@link #embeddingGradients} tile the gradient buffer.
     */
    public MemorySegment layerGradients(int l) {
        Objects.checkIndex(l, layers.length);
        MemorySegment all = grads().all();
        long from = offset(all, gradLayers[l].ln1w());
        long to = l + 1 < layers.length ? offset(all, gradLayers[l + 1].ln1w()) : all.byteSize();
        return all.asSlice(from, to - from);
    }

    /** The gradients of {@code wte} and {@code wpe} (everything before layer 0's), final only at the end of backward. */
    public MemorySegment embeddingGradients() {
        MemorySegment all = grads().all();
        return all.asSlice(0, offset(all, gradLayers[0].ln1w()));
    }

    private static long offset(MemorySegment buffer, MemorySegment slice) { return slice.address() - buffer.address(); }

    private void checkBatch(Workspace ws, int B, int T) {
        if (ws.model != this) throw new IllegalArgumentException("workspace was built for another model");
        if (B < 1 || B > ws.maxBatch) throw new IllegalArgumentException("batch " + B + " outside [1, " + ws.maxBatch + "]");
        if (T < 1 || T > ws.maxT) throw new IllegalArgumentException("sequence length " + T + " outside [1, " + ws.maxT + "]");
    }

    @Override
    public void close() { arena.close(); }
}
