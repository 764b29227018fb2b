package leviathan.nn;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import leviathan.backend.Backend;
import leviathan.kernel.Dropout;

/**
 * Multi-head correlation attention (LEVIATHAN.md, "Multi-head correlation"), and with one lag and
 * no lag bias the Transformer's causal dot-product attention: {@code qkv = a·c_attnᵀ + b},
 * {@code o = correlation(q, k, v)} per head, {@code out = o·c_projᵀ + b}. The correlation itself
 * runs in {@link CorrelationAttention}, whose implementation the run option {@code impl} chooses.
 *
 * <p>Saved per row: {@code qkv} (3C), the merged head outputs {@code att} (C) and the softmax
 * log-sum-exp {@code lse} (H). The backward recomputes probabilities from {@code lse}, so the
 * activation memory is linear in T.
 */
public final class CorrelationMixer implements TokenMixer {
    /** N, lags per head; the recipe's 4 lags of head dim 32. */
    static final PartOption LAGS = PartOption.integer("lags", PartOption.Scope.MODEL).byDefault(4).min(1).flag("--lags", "N")
            .help("Correlation: lags per head, 1..head dim (n_embd/n_head)");
    /** The initial lag bias of lag 0 (an experiment; LEVIATHAN.md initialises it to zero). */
    static final PartOption LAG_BIAS_INIT = PartOption.number("lag_bias_init", PartOption.Scope.RUN).byDefault(0).flag("--lag-bias-init", "X")
            .help("Correlation: initial lag bias of lag 0 (others 0); > 0 starts close to dot attention");
    /** Which implementation of the correlation runs (it never changes the result beyond rounding). */
    static final PartOption IMPL = PartOption.choice("impl", PartOption.Scope.RUN, "auto", "scalar", "direct", "gemm", "fft").byDefault("auto")
            .canonical(s -> CorrelationAttention.Impl.fromFlag(s).flag()).usedAtInference()
            .help("Correlation and dot: kernel implementation; auto picks by shape (or takes -Dleviathan.correlation)");

    /** Correlation scores over {@code lags} circular lags, with a learned lag bias per head (LEVIATHAN.md). */
    public static final PartType<TokenMixer> CORRELATION = PartType.mixer("correlation",
            "correlation scores over N circular lags of the head dimension (LEVIATHAN.md)", CorrelationMixer::correlation,
            LAGS, LAG_BIAS_INIT, IMPL);
    /** The Transformer baseline: one lag (plain dot products), no lag bias. */
    public static final PartType<TokenMixer> DOT = PartType.mixer("dot", "causal dot-product attention, the Transformer baseline",
            CorrelationMixer::dot, IMPL);

    private final String kind;
    private final Dims dims;
    private final int lags;
    private final boolean lagBias;

    private CorrelationMixer(String kind, Dims dims, int lags, boolean lagBias) {
        int D = dims.headDim();
        if (lags < 1 || lags > D) {
            throw new IllegalArgumentException("lags must be between 1 and the head dim n_embd/n_head = " + D + ", got " + lags);
        }
        this.kind = kind;
        this.dims = dims;
        this.lags = lags;
        this.lagBias = lagBias;
    }

    private static TokenMixer correlation(Dims dims, PartSpec spec) {
        return new CorrelationMixer(CORRELATION.kind(), dims, spec.intOption(LAGS.key()), true);
    }

    private static TokenMixer dot(Dims dims, PartSpec spec) {
        return new CorrelationMixer(DOT.kind(), dims, 1, false);
    }

    @Override public String kind() { return kind; }

    @Override public Map<String, String> metadata() { return lagBias ? Map.of(LAGS.key(), Integer.toString(lags)) : Map.of(); }

    @Override
    public List<Param> params() {
        int C = dims.nEmbd();
        List<Param> p = new ArrayList<>();
        p.add(Param.weight("attn.c_attn.weight", 3 * C, C, 0.02));     // rows: q, then k, then v
        p.add(Param.bias("attn.c_attn.bias", 3 * C));
        if (lagBias) p.add(new Param("attn.lag_bias", new int[] {dims.nHead(), lags}, this::initLagBias, false));
        p.add(Param.weight("attn.c_proj.weight", C, C, dims.residualStd()));
        p.add(Param.bias("attn.c_proj.bias", C));
        return p;
    }

    /**
     * Zero, as LEVIATHAN.md specifies; the run option {@code lag_bias_init} (an experiment) sets
     * every head's lag-0 entry instead, starting the model close to dot-product attention.
     */
    private void initLagBias(leviathan.tensor.Tensor t, java.util.SplittableRandom rng, RunOptions options) {
        float zero = options.number(LAG_BIAS_INIT);
        if (zero == 0f) return;
        int lagZero = (lags - 1) / 2;                                 // the index of lag 0 in L
        for (int h = 0; h < dims.nHead(); h++) t.set(zero, h, lagZero);
    }

    @Override
    public List<Act> activations() {
        int C = dims.nEmbd();
        return List.of(new Act("qkv", 3 * C), new Act("att", C), new Act("lse", dims.nHead()));
    }

    /**
     * The GEMM path's buffers per kernel thread ({@link CorrelationGemm}): six {@code (T·N, D)}
     * lagged copies and their gradients, two {@code (block, T·N)} score blocks and three
     * {@code (block, D)} row blocks. The other implementations' per-thread scratch is on the Java
     * heap (about {@code 11·T·D} floats per thread and layer, {@code kernel.CorrelationWorkspace}).
     */
    @Override
    public long scratchBytes(int maxBatch, int maxT, int threads) {
        long T = maxT, N = lags, D = dims.headDim();
        long block = Math.max(4, Math.min(32, (1 << 20) / Math.max(1, T * N)));
        long perThread = (6 * T * N * D + 2 * block * T * N + 3 * block * D) * Float.BYTES;
        return Math.min(threads, (long) maxBatch * dims.nHead()) * perThread;
    }

    @Override
    public BlockPart.Bound bind(LayerMemory m) {
        return new Bound(m);
    }

    private final class Bound implements BlockPart.Bound {
        private final Backend be;
        private final CorrelationAttention attention;
        private final MemorySegment attnW, attnB, bias, projW, projB;
        private final MemorySegment gAttnW, gAttnB, gBias, gProjW, gProjB;
        private final MemorySegment qkv, att, lse, dqkv, datt;
        private final LayerMemory memory;
        private final Dropout.Mask mask = new Dropout.Mask();     // this layer's weight-dropout mask, armed per micro-batch

        Bound(LayerMemory m) {
            int C = dims.nEmbd();
            be = m.backend();
            memory = m;
            attention = new CorrelationAttention(be, m.maxBatch(), m.maxT(), C, dims.nHead(), lags, m.options().impl());
            attnW = m.param("attn.c_attn.weight");
            attnB = m.param("attn.c_attn.bias");
            bias = lagBias ? m.param("attn.lag_bias") : null;
            projW = m.param("attn.c_proj.weight");
            projB = m.param("attn.c_proj.bias");
            gAttnW = m.grad("attn.c_attn.weight");
            gAttnB = m.grad("attn.c_attn.bias");
            gBias = lagBias ? m.grad("attn.lag_bias") : null;
            gProjW = m.grad("attn.c_proj.weight");
            gProjB = m.grad("attn.c_proj.bias");
            qkv = m.act("qkv");
            att = m.act("att");
            lse = m.act("lse");
            dqkv = m.dact("qkv");
            datt = m.dact("att");
        }

        @Override
        public void forward(MemorySegment out, MemorySegment in, int B, int T, int t0) {
            int C = dims.nEmbd(), from = t0, to = B * T;              // rows [t0, B·T): t0 > 0 only with B = 1
            Linear.forward(be, qkv, in, attnW, attnB, from, to, C, 3 * C);
            Dropout.Mask drop = t0 == 0 && memory.armWeightDropout(mask) ? mask : null;   // training forwards only
            attention.forward(drop, att, lse, qkv, bias, B, T, t0);
            Linear.forward(be, out, att, projW, projB, from, to, C, C);
        }

        @Override
        public void backward(MemorySegment din, MemorySegment dout, MemorySegment in, int B, int T, float lossScale) {
            int C = dims.nEmbd(), rows = B * T;
            Linear.backward(be, datt, gProjW, gProjB, dout, att, projW, rows, C, C);
            attention.backward(memory.armWeightDropout(mask) ? mask : null, dqkv, gBias, datt, att, lse, qkv, bias, B, T);
            Linear.backward(be, din, gAttnW, gAttnB, dqkv, in, attnW, rows, C, 3 * C);
        }

        @Override
        public void close() { attention.close(); }
    }
}
