package leviathan.nn;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import leviathan.backend.Backend;
import leviathan.kernel.SwiGlu;

/**
 * The gated MLP of LLaMA-style models (LEVIATHAN.md, "Gated MLP"), without biases:
 * {@code out = (silu(m·c_gateᵀ) ⊙ (m·c_fcᵀ))·c_projᵀ}, hidden width {@code F} ({@code mlp_hidden},
 * by default {@code 8C/3} rounded up to a multiple of 16, so that its three matrices hold about
 * the dense MLP's parameters). Saved per row: the gate and up projections and their product, F each.
 */
public final class SwiGluMlp implements Mlp {
    static final PartOption HIDDEN = PartOption.integer("mlp_hidden", PartOption.Scope.MODEL).min(1).flag("--mlp-hidden", "F")
            .computedDefault("8·n_embd/3 rounded up to a multiple of 16").help("SwiGLU: hidden width");

    public static final PartType<Mlp> TYPE = PartType.mlp("swiglu", "gated MLP, silu(m·W_gate)·(m·W_fc) then W_proj, no biases",
            SwiGluMlp::new, HIDDEN);

    private final Dims dims;
    private final int hidden;

    private SwiGluMlp(Dims dims, PartSpec spec) {
        this.dims = dims;
        this.hidden = spec.options().containsKey(HIDDEN.key()) ? spec.intOption(HIDDEN.key()) : (8 * dims.nEmbd() / 3 + 15) / 16 * 16;
    }

    @Override public String kind() { return TYPE.kind(); }

    @Override public Map<String, String> metadata() { return Map.of(HIDDEN.key(), Integer.toString(hidden)); }

    @Override
    public List<Param> params() {
        int C = dims.nEmbd(), F = hidden;
        return List.of(Param.weight("mlp.c_gate.weight", F, C, 0.02), Param.weight("mlp.c_fc.weight", F, C, 0.02),
                Param.weight("mlp.c_proj.weight", C, F, dims.residualStd()));
    }

    @Override
    public List<Act> activations() { return List.of(new Act("gate", hidden), new Act("up", hidden), new Act("h", hidden)); }

    @Override
    public BlockPart.Bound bind(LayerMemory m) {
        int C = dims.nEmbd(), F = hidden;
        Backend be = m.backend();
        MemorySegment gateW = m.param("mlp.c_gate.weight"), fcW = m.param("mlp.c_fc.weight"), projW = m.param("mlp.c_proj.weight");
        MemorySegment gGateW = m.grad("mlp.c_gate.weight"), gFcW = m.grad("mlp.c_fc.weight"), gProjW = m.grad("mlp.c_proj.weight");
        MemorySegment gate = m.act("gate"), up = m.act("up"), h = m.act("h");
        MemorySegment dgate = m.dact("gate"), dup = m.dact("up"), dh = m.dact("h");
        return new BlockPart.Bound() {
            @Override
            public void forward(MemorySegment out, MemorySegment in, int B, int T, int t0) {
                int from = t0, to = B * T;                                // rows [t0, B·T): t0 > 0 only with B = 1
                Linear.forward(be, gate, in, gateW, null, from, to, C, F);
                Linear.forward(be, up, in, fcW, null, from, to, C, F);
                SwiGlu.forward(h, gate, up, (long) from * F, (long) to * F);
                Linear.forward(be, out, h, projW, null, from, to, F, C);
            }

            @Override
            public void backward(MemorySegment din, MemorySegment dout, MemorySegment in, int B, int T, float lossScale) {
                int rows = B * T;
                Linear.backward(be, dh, gProjW, null, dout, h, projW, rows, F, C);
                SwiGlu.backward(dgate, dup, dh, gate, up, (long) rows * F);
                Linear.backward(be, din, gGateW, null, dgate, in, gateW, rows, C, F);
                Linear.backward(be, din, gFcW, null, dup, in, fcW, rows, C, F);
            }
        };
    }
}
