package leviathan.model;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.util.SplittableRandom;
import leviathan.backend.Backend;
import leviathan.kernel.CrossEntropy;
import leviathan.kernel.Encoder;
import leviathan.kernel.Gelu;
import leviathan.kernel.LayerNorm;
import leviathan.kernel.Residual;
import leviathan.nn.CorrelationAttention;
import leviathan.nn.Linear;
import leviathan.tensor.Buffers;
import leviathan.tensor.Tensor;

/**
 * The Leviathan language model (LEVIATHAN.md, "The language model"): pre-LayerNorm GPT-2 blocks
 * with correlation attention (or the dot-product baseline), output head tied to {@code wte}.
 * Parameters are one off-heap block named as in the checkpoint; gradients mirror it. Activations
 * live in a {@link Workspace}, so one model serves several concurrent users with a workspace each.
 * Forward and backward are written out by hand over the kernels.
 */
public final class Gpt implements AutoCloseable {
    private final GptConfig config;
    private final Arena arena = Arena.ofShared();
    private final Buffers params;
    private Buffers grads;
    private final Layer[] layers;
    private Layer[] gradLayers;

    /** Segments of one block's parameters (or gradients). */
    record Layer(MemorySegment ln1w, MemorySegment ln1b, MemorySegment attnW, MemorySegment attnB, MemorySegment lagBias,
                 MemorySegment projW, MemorySegment projB, MemorySegment ln2w, MemorySegment ln2b,
                 MemorySegment fcW, MemorySegment fcB, MemorySegment fcProjW, MemorySegment fcProjB) {
        static Layer of(Buffers b, GptConfig c, int l) {
            String h = "h." + l + ".";
            return new Layer(s(b, h + "ln_1.weight"), s(b, h + "ln_1.bias"), s(b, h + "attn.c_attn.weight"),
                    s(b, h + "attn.c_attn.bias"), c.hasLagBias() ? s(b, h + "attn.lag_bias") : null,
                    s(b, h + "attn.c_proj.weight"), s(b, h + "attn.c_proj.bias"), s(b, h + "ln_2.weight"),
                    s(b, h + "ln_2.bias"), s(b, h + "mlp.c_fc.weight"), s(b, h + "mlp.c_fc.bias"),
                    s(b, h + "mlp.c_proj.weight"), s(b, h + "mlp.c_proj.bias"));
        }
    }

    /** Segments of one block's activations (or activation gradients). */
    record LayerActs(MemorySegment ln1, MemorySegment ln1Mean, MemorySegment ln1Rstd, MemorySegment qkv,
                     MemorySegment att, MemorySegment lse, MemorySegment res1, MemorySegment ln2,
                     MemorySegment ln2Mean, MemorySegment ln2Rstd, MemorySegment fc, MemorySegment fcGelu,
                     MemorySegment res2) {
        static LayerActs of(Buffers b, int l) {
            String h = "h." + l + ".";
            return new LayerActs(s(b, h + "ln_1"), s(b, h + "ln_1.mean"), s(b, h + "ln_1.rstd"), s(b, h + "qkv"),
                    s(b, h + "att"), s(b, h + "lse"), s(b, h + "res_1"), s(b, h + "ln_2"), s(b, h + "ln_2.mean"),
                    s(b, h + "ln_2.rstd"), s(b, h + "fc"), s(b, h + "fc_gelu"), s(b, h + "res_2"));
        }
    }

    private static MemorySegment s(Buffers b, String name) { return b.get(name).segment(); }

    private Gpt(GptConfig config) {
        this.config = config;
        this.params = ParameterLayout.of(config).allocate(arena);
        this.layers = new Layer[config.nLayer()];
        for (int l = 0; l < layers.length; l++) layers[l] = Layer.of(params, config, l);
    }

    /** A model with every parameter zero, ready to be filled (e.g. by a checkpoint loader). */
    public static Gpt empty(GptConfig config) { return new Gpt(config); }

    /**
     * A freshly initialised model, like GPT-2: weights normal(0, 0.02), the residual projections
     * ({@code c_proj}) scaled by {@code 1/sqrt(2·n_layer)}, LayerNorm weights 1, biases and lag bias 0.
     */
    public static Gpt init(GptConfig config, long seed) {
        return init(config, seed, 0f);
    }

    /**
     * {@link #init(GptConfig, long)} with every head's lag bias at {@code zeroLagBias} for lag 0
     * (and 0 for the other lags): a positive value starts the model close to dot-product attention,
     * lag-0 keys weighted {@code e^zeroLagBias} times the shifted ones.
     */
    public static Gpt init(GptConfig config, long seed, float zeroLagBias) {
        Gpt g = new Gpt(config);
        SplittableRandom rng = new SplittableRandom(seed);
        double residualStd = 0.02 / Math.sqrt(2.0 * config.nLayer());
        for (Tensor t : g.params.tensors().values()) {
            String n = t.name();
            if (n.endsWith("ln_1.weight") || n.endsWith("ln_2.weight") || n.equals("ln_f.weight")) {
                t.fill(1f);
            } else if (t.rank() == 2 && !n.endsWith("lag_bias")) {
                double std = n.endsWith("c_proj.weight") ? residualStd : 0.02;
                for (long i = 0, e = t.numel(); i < e; i++) t.setFlat(i, (float) (rng.nextGaussian() * std));
            } else if (n.endsWith("lag_bias") && zeroLagBias != 0f) {
                int N = config.lags(), zero = (N - 1) / 2;          // the index of lag 0 in L
                for (int h = 0; h < config.nHead(); h++) t.set(zeroLagBias, h, zero);
            }
        }
        return g;
    }

    public GptConfig config() { return config; }

    /** The parameters, named and shaped as in the checkpoint. */
    public Buffers params() { return params; }

    /** The gradients (same layout as the parameters), allocated at first use. */
    public synchronized Buffers grads() {
        if (grads == null) {
            grads = ParameterLayout.of(config).allocate(arena);
            gradLayers = new Layer[config.nLayer()];
            for (int l = 0; l < gradLayers.length; l++) gradLayers[l] = Layer.of(grads, config, l);
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
    public void zeroGrad() { grads().zero(); }

    /** A workspace for batches up to {@code maxBatch × maxT}; training ones also hold activation gradients. */
    public Workspace workspace(Backend backend, int maxBatch, int maxT, boolean training, CorrelationAttention.Impl impl) {
        if (training) grads();
        return new Workspace(config, backend, maxBatch, maxT, training, impl);
    }

    public Workspace workspace(Backend backend, int maxBatch, int maxT, boolean training) {
        return workspace(backend, maxBatch, maxT, training, CorrelationAttention.Impl.AUTO);
    }

    /**
     * Runs the model on {@code ws.tokens()} ({@code B×T}); with {@code withLoss} also scores
     * {@code ws.targets()} and returns the mean cross-entropy (nats), else returns NaN.
     * Logits land in {@code ws.logits()}.
     */
    public float forward(Workspace ws, int B, int T, boolean withLoss) {
        checkBatch(ws, B, T);
        int C = config.nEmbd(), V = config.vocabSize(), rows = B * T;
        Backend be = ws.backend;
        Buffers a = ws.acts;
        MemorySegment x = s(a, "x");
        Encoder.forward(x, ws.tokens, s(params, "wte"), s(params, "wpe"), B, T, C);
        MemorySegment stream = x;
        for (int l = 0; l < layers.length; l++) {
            Layer p = layers[l];
            LayerActs act = ws.layerActs(l);
            blockForward(ws, p, act, stream, B, T, 0);
            stream = act.res2();
        }
        MemorySegment lnf = s(a, "ln_f");
        LayerNorm.forward(lnf, s(a, "ln_f.mean"), s(a, "ln_f.rstd"), stream, s(params, "ln_f.weight"), s(params, "ln_f.bias"), rows, C);
        MemorySegment logits = s(a, "logits");
        Linear.forward(be, logits, lnf, s(params, "wte"), null, rows, C, V);
        if (!withLoss) return Float.NaN;
        double sum = CrossEntropy.forward(s(a, "losses"), s(a, "probs"), logits, ws.targets, rows, V);
        return (float) (sum / rows);
    }

    /** One block over rows {@code [t0, T)} of each sequence reading {@code in}; writes the block's activations. */
    private void blockForward(Workspace ws, Layer p, LayerActs act, MemorySegment in, int B, int T, int t0) {
        int C = config.nEmbd(), rows = B * T;
        Backend be = ws.backend;
        LayerNorm.forward(act.ln1(), act.ln1Mean(), act.ln1Rstd(), in, p.ln1w(), p.ln1b(), rows, C);
        Linear.forward(be, act.qkv(), act.ln1(), p.attnW(), p.attnB(), rows, C, 3 * C);
        ws.attention.forward(act.att(), act.lse(), act.qkv(), p.lagBias(), B, T, t0);
        Linear.forward(be, act.res1(), act.att(), p.projW(), p.projB(), rows, C, C);
        Residual.add(act.res1(), in, (long) rows * C);
        LayerNorm.forward(act.ln2(), act.ln2Mean(), act.ln2Rstd(), act.res1(), p.ln2w(), p.ln2b(), rows, C);
        Linear.forward(be, act.fc(), act.ln2(), p.fcW(), p.fcB(), rows, C, 4 * C);
        Gelu.forward(act.fcGelu(), act.fc(), (long) rows * 4 * C);
        Linear.forward(be, act.res2(), act.fcGelu(), p.fcProjW(), p.fcProjB(), rows, 4 * C, C);
        Residual.add(act.res2(), act.res1(), (long) rows * C);
    }

    /**
     * Backpropagates the loss of the last {@link #forward} with {@code withLoss}, scaled by
     * {@code lossScale} (1 for one batch; {@code 1/k} when accumulating k micro-batches), adding
     * into {@link #grads()}.
     */
    public void backward(Workspace ws, int B, int T, float lossScale) {
        checkBatch(ws, B, T);
        if (ws.dacts == null) throw new IllegalStateException("workspace was built for inference; use a training workspace");
        int C = config.nEmbd(), V = config.vocabSize(), rows = B * T;
        Backend be = ws.backend;
        Buffers a = ws.acts, d = ws.dacts;
        Buffers g = grads();
        d.zero();                                             // activation gradients are per step scratch
        MemorySegment dlogits = s(d, "logits");
        CrossEntropy.backward(dlogits, s(a, "probs"), ws.targets, lossScale / rows, rows, V);
        MemorySegment lastStream = layers.length == 0 ? s(a, "x") : ws.layerActs(layers.length - 1).res2();
        MemorySegment dLastStream = layers.length == 0 ? s(d, "x") : ws.layerDacts(layers.length - 1).res2();
        Linear.backward(be, s(d, "ln_f"), s(g, "wte"), null, dlogits, s(a, "ln_f"), s(params, "wte"), rows, C, V);
        LayerNorm.backward(dLastStream, s(g, "ln_f.weight"), s(g, "ln_f.bias"), s(d, "ln_f"), lastStream,
                s(params, "ln_f.weight"), s(a, "ln_f.mean"), s(a, "ln_f.rstd"), rows, C);
        for (int l = layers.length - 1; l >= 0; l--) {
            Layer p = layers[l], gp = gradLayers[l];
            LayerActs act = ws.layerActs(l), dact = ws.layerDacts(l);
            MemorySegment in = l == 0 ? s(a, "x") : ws.layerActs(l - 1).res2();
            MemorySegment din = l == 0 ? s(d, "x") : ws.layerDacts(l - 1).res2();
            long n = (long) rows * C;
            // res_2 = res_1 + mlp(ln_2(res_1))
            Residual.add(dact.res1(), dact.res2(), n);
            Linear.backward(be, dact.fcGelu(), gp.fcProjW(), gp.fcProjB(), dact.res2(), act.fcGelu(), p.fcProjW(), rows, 4 * C, C);
            Gelu.backward(dact.fc(), act.fc(), dact.fcGelu(), (long) rows * 4 * C);
            Linear.backward(be, dact.ln2(), gp.fcW(), gp.fcB(), dact.fc(), act.ln2(), p.fcW(), rows, C, 4 * C);
            LayerNorm.backward(dact.res1(), gp.ln2w(), gp.ln2b(), dact.ln2(), act.res1(), p.ln2w(), act.ln2Mean(), act.ln2Rstd(), rows, C);
            // res_1 = in + c_proj(attention(ln_1(in)))
            Residual.add(din, dact.res1(), n);
            Linear.backward(be, dact.att(), gp.projW(), gp.projB(), dact.res1(), act.att(), p.projW(), rows, C, C);
            ws.attention.backward(dact.qkv(), gp.lagBias(), dact.att(), act.att(), act.lse(), act.qkv(), p.lagBias(), B, T);
            Linear.backward(be, dact.ln1(), gp.attnW(), gp.attnB(), dact.qkv(), act.ln1(), p.attnW(), rows, C, 3 * C);
            LayerNorm.backward(din, gp.ln1w(), gp.ln1b(), dact.ln1(), in, p.ln1w(), act.ln1Mean(), act.ln1Rstd(), rows, C);
        }
        Encoder.backward(s(g, "wte"), s(g, "wpe"), s(d, "x"), ws.tokens, B, T, C);
    }

    /**
     * Incremental decoding for one sequence ({@code B = 1}): the workspace already holds the
     * activations of positions {@code [0, t)} (from {@link #forward} or earlier calls), and
     * {@code ws.tokens()[t]} holds the new token. Computes position {@code t} only, O(t) work in
     * the attention, and leaves its logits in row {@code t} of {@code ws.logits()}.
     */
    public void forwardIncremental(Workspace ws, int t) {
        checkBatch(ws, 1, t + 1);
        int C = config.nEmbd(), V = config.vocabSize();
        Buffers a = ws.acts;
        long row = (long) t * C * Float.BYTES;
        MemorySegment x = s(a, "x");
        Encoder.forward(x.asSlice(row), ws.tokens.asSlice((long) t * Integer.BYTES), s(params, "wte"),
                s(params, "wpe").asSlice(row), 1, 1, C);
        MemorySegment stream = x;
        for (int l = 0; l < layers.length; l++) {
            LayerActs act = ws.layerActs(l);
            blockForwardRow(ws, layers[l], act, stream, t);
            stream = act.res2();
        }
        MemorySegment lnf = s(a, "ln_f").asSlice(row);
        LayerNorm.forward(lnf, s(a, "ln_f.mean").asSlice((long) t * Float.BYTES), s(a, "ln_f.rstd").asSlice((long) t * Float.BYTES),
                stream.asSlice(row), s(params, "ln_f.weight"), s(params, "ln_f.bias"), 1, C);
        Linear.forward(ws.backend, s(a, "logits").asSlice((long) t * V * Float.BYTES), lnf, s(params, "wte"), null, 1, C, V);
    }

    /** {@link #blockForward} for the single row {@code t} of a one-sequence batch. */
    private void blockForwardRow(Workspace ws, Layer p, LayerActs act, MemorySegment in, int t) {
        int C = config.nEmbd();
        Backend be = ws.backend;
        long r = (long) t * C * Float.BYTES, r3 = 3 * r, r4 = 4 * r, rs = (long) t * Float.BYTES;
        MemorySegment ln1 = act.ln1().asSlice(r), att = act.att().asSlice(r), res1 = act.res1().asSlice(r);
        MemorySegment ln2 = act.ln2().asSlice(r), fc = act.fc().asSlice(r4), fcGelu = act.fcGelu().asSlice(r4);
        MemorySegment res2 = act.res2().asSlice(r), inRow = in.asSlice(r);
        LayerNorm.forward(ln1, act.ln1Mean().asSlice(rs), act.ln1Rstd().asSlice(rs), inRow, p.ln1w(), p.ln1b(), 1, C);
        Linear.forward(be, act.qkv().asSlice(r3), ln1, p.attnW(), p.attnB(), 1, C, 3 * C);
        // lse is (B=1, H, T) with T = t+1 here; the attention writes lse[h·(t+1) + t], scratch for inference
        ws.attention.forward(act.att(), act.lse(), act.qkv(), p.lagBias(), 1, t + 1, t);
        Linear.forward(be, res1, att, p.projW(), p.projB(), 1, C, C);
        Residual.add(res1, inRow, C);
        LayerNorm.forward(ln2, act.ln2Mean().asSlice(rs), act.ln2Rstd().asSlice(rs), res1, p.ln2w(), p.ln2b(), 1, C);
        Linear.forward(be, fc, ln2, p.fcW(), p.fcB(), 1, C, 4 * C);
        Gelu.forward(fcGelu, fc, 4L * C);
        Linear.forward(be, res2, fcGelu, p.fcProjW(), p.fcProjB(), 1, 4 * C, C);
        Residual.add(res2, res1, C);
    }

    private void checkBatch(Workspace ws, int B, int T) {
        if (ws.config != config) {
            if (!ws.config.equals(config)) throw new IllegalArgumentException("workspace was built for another model config");
        }
        if (B < 1 || B > ws.maxBatch) throw new IllegalArgumentException("batch " + B + " outside [1, " + ws.maxBatch + "]");
        if (T < 1 || T > ws.maxT) throw new IllegalArgumentException("sequence length " + T + " outside [1, " + ws.maxT + "]");
    }

    @Override
    public void close() { arena.close(); }
}
