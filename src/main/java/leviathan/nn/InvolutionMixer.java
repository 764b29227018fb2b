package leviathan.nn;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import leviathan.backend.Backend;
import leviathan.kernel.Dropout;
import leviathan.kernel.Gelu;
import leviathan.kernel.Involution;

/**
 * Involution scores (LEVIATHAN.md, "Variants"): each token generates its own kernel over the
 * causal window of the {@code K} most recent positions, {@code r = gelu(a·c_reduceᵀ + b)} ({@code R = C/4}),
 * {@code w = r·c_spanᵀ + b} ({@code H·K} logits), {@code p} = the windowed softmax per head,
 * {@code o[i,h] = Σ_k p[i,h,k]·v[i-k,h]} with {@code v = a·c_vᵀ + b}, then {@code out = o·c_projᵀ + b}.
 * No query meets a key: the cost is linear in T, {@code O(T·K·C)} for the weighted sum.
 *
 * <p>Saved per row: the reduction before and after GELU ({@code R} each), the window's
 * probabilities ({@code H·K}; the logits are overwritten, the softmax backward needs only p), the
 * values and the merged output ({@code C} each). Sampling a new token needs its own kernel and the
 * last {@code K} value rows.
 */
public final class InvolutionMixer implements TokenMixer {
    /** K, the causal window: how many steps back a token's generated kernel reaches. */
    static final PartOption WINDOW = PartOption.integer("window", PartOption.Scope.MODEL).byDefault(16).min(1).flag("--window", "K")
            .help("Involution: causal window, 1..block size");

    public static final PartType<TokenMixer> TYPE = PartType.mixer("involution",
            "involution scores: a kernel generated from each token over a causal window (linear in T)", InvolutionMixer::new, WINDOW);

    private final Dims dims;
    private final int window, reduce;

    private InvolutionMixer(Dims dims, PartSpec spec) {
        int K = spec.intOption(WINDOW.key());
        if (K < 1 || K > dims.blockSize()) {
            throw new IllegalArgumentException("window must be between 1 and block_size " + dims.blockSize() + ", got " + K);
        }
        if (dims.nEmbd() % 4 != 0) {
            throw new IllegalArgumentException("involution needs n_embd divisible by 4 (R = n_embd/4), got " + dims.nEmbd());
        }
        this.dims = dims;
        this.window = K;
        this.reduce = dims.nEmbd() / 4;
    }

    @Override public String kind() { return "involution"; }

    @Override public Map<String, String> metadata() { return Map.of(WINDOW.key(), Integer.toString(window)); }

    @Override
    public List<Param> params() {
        int C = dims.nEmbd(), HK = dims.nHead() * window;
        return List.of(Param.weight("attn.c_reduce.weight", reduce, C, 0.02), Param.bias("attn.c_reduce.bias", reduce),
                Param.weight("attn.c_span.weight", HK, reduce, 0.02), Param.bias("attn.c_span.bias", HK),
                Param.weight("attn.c_v.weight", C, C, 0.02), Param.bias("attn.c_v.bias", C),
                Param.weight("attn.c_proj.weight", C, C, dims.residualStd()), Param.bias("attn.c_proj.bias", C));
    }

    @Override
    public List<Act> activations() {
        int C = dims.nEmbd();
        return List.of(new Act("reduce", reduce), new Act("reduce_gelu", reduce), new Act("span", dims.nHead() * window),
                new Act("v", C), new Act("inv", C));
    }

    /** The dropped window weights of a training workspace with dropout on: {@code maxBatch·maxT·H·K} floats. */
    @Override
    public long scratchBytes(int maxBatch, int maxT, int threads) { return (long) maxBatch * maxT * dims.nHead() * window * Float.BYTES; }

    @Override
    public BlockPart.Bound bind(LayerMemory m) {
        int C = dims.nEmbd(), H = dims.nHead(), K = window, R = reduce, HK = H * K;
        Backend be = m.backend();
        MemorySegment redW = m.param("attn.c_reduce.weight"), redB = m.param("attn.c_reduce.bias");
        MemorySegment spanW = m.param("attn.c_span.weight"), spanB = m.param("attn.c_span.bias");
        MemorySegment vW = m.param("attn.c_v.weight"), vB = m.param("attn.c_v.bias");
        MemorySegment projW = m.param("attn.c_proj.weight"), projB = m.param("attn.c_proj.bias");
        MemorySegment gRedW = m.grad("attn.c_reduce.weight"), gRedB = m.grad("attn.c_reduce.bias");
        MemorySegment gSpanW = m.grad("attn.c_span.weight"), gSpanB = m.grad("attn.c_span.bias");
        MemorySegment gVW = m.grad("attn.c_v.weight"), gVB = m.grad("attn.c_v.bias");
        MemorySegment gProjW = m.grad("attn.c_proj.weight"), gProjB = m.grad("attn.c_proj.bias");
        MemorySegment red = m.act("reduce"), redGelu = m.act("reduce_gelu"), span = m.act("span"), v = m.act("v"), inv = m.act("inv");
        MemorySegment dred = m.dact("reduce"), dredGelu = m.dact("reduce_gelu"), dspan = m.dact("span"), dv = m.dact("v"), dinv = m.dact("inv");
        Dropout.Mask mask = new Dropout.Mask();                         // this layer's weight-dropout mask, armed per micro-batch
        return new BlockPart.Bound() {
            private final java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared();
            private MemorySegment dropped;                               // the dropped weights, made at the first dropping step

            private MemorySegment dropped() {
                if (dropped == null) dropped = arena.allocate((long) m.maxBatch() * m.maxT() * HK * Float.BYTES, 64);
                return dropped;
            }

            @Override
            public void close() { arena.close(); }

            @Override
            public void forward(MemorySegment out, MemorySegment in, int B, int T, int t0) {
                int from = t0, to = B * T;                                // rows [t0, B·T): t0 > 0 only with B = 1
                Linear.forward(be, red, in, redW, redB, from, to, C, R);
                Gelu.forward(redGelu, red, (long) from * R, (long) to * R);
                Linear.forward(be, span, redGelu, spanW, spanB, from, to, R, HK);
                Linear.forward(be, v, in, vW, vB, from, to, C, C);
                if (t0 == 0 && m.armWeightDropout(mask)) {                 // training: p stays for the backward, pd mixes the values
                    Involution.softmax(span, span, B, T, H, K, 0);
                    Involution.dropWeights(dropped(), span, mask, B, T, H, K);
                    Involution.weightedSum(inv, dropped, v, B, T, C, H, K, 0);
                } else {
                    Involution.forward(inv, span, span, v, B, T, C, H, K, t0);   // the logits become p in place
                }
                Linear.forward(be, out, inv, projW, projB, from, to, C, C);
            }

            @Override
            public void backward(MemorySegment din, MemorySegment dout, MemorySegment in, int B, int T, float lossScale) {
                int rows = B * T;
                Linear.backward(be, dinv, gProjW, gProjB, dout, inv, projW, rows, C, C);
                if (m.armWeightDropout(mask)) {
                    Involution.backward(dspan, dv, dinv, dropped, v, B, T, C, H, K);
                    Involution.dropBackwardCorrection(dspan, dropped, span, dinv, inv, B, T, C, H, K);
                } else {
                    Involution.backward(dspan, dv, dinv, span, v, B, T, C, H, K);
                }
                Linear.backward(be, din, gVW, gVB, dv, in, vW, rows, C, C);
                Linear.backward(be, dredGelu, gSpanW, gSpanB, dspan, redGelu, spanW, rows, R, HK);
                Gelu.backward(dred, red, dredGelu, (long) rows * R);
                Linear.backward(be, din, gRedW, gRedB, dred, in, redW, rows, C, R);
            }
        };
    }
}
