package leviathan.nn;

import java.lang.foreign.MemorySegment;
import java.util.List;
import java.util.Map;
import leviathan.backend.Backend;
import leviathan.kernel.Gelu;

/**
 * GPT-2's MLP (LEVIATHAN.md, "The language model"): {@code out = gelu(m·c_fcᵀ + b)·c_projᵀ + b},
 * hidden width 4C. Saved per row: the pre-activation {@code fc} and {@code fc_gelu}, 4C each.
 */
public final class DenseMlp implements Mlp {
    public static final PartType<Mlp> TYPE = PartType.mlp("dense", "GPT-2's MLP, hidden width 4·n_embd", DenseMlp::new);

    private final Dims dims;

    private DenseMlp(Dims dims, PartSpec spec) {
        this.dims = dims;
    }

    @Override public String kind() { return "dense"; }

    @Override public Map<String, String> metadata() { return Map.of(); }

    @Override
    public List<Param> params() {
        int C = dims.nEmbd();
        return List.of(Param.weight("mlp.c_fc.weight", 4 * C, C, 0.02), Param.bias("mlp.c_fc.bias", 4 * C),
                Param.weight("mlp.c_proj.weight", C, 4 * C, dims.residualStd()), Param.bias("mlp.c_proj.bias", C));
    }

    @Override
    public List<Act> activations() {
        int C = dims.nEmbd();
        return List.of(new Act("fc", 4 * C), new Act("fc_gelu", 4 * C));
    }

    @Override
    public BlockPart.Bound bind(LayerMemory m) {
        int C = dims.nEmbd();
        Backend be = m.backend();
        MemorySegment fcW = m.param("mlp.c_fc.weight"), fcB = m.param("mlp.c_fc.bias");
        MemorySegment projW = m.param("mlp.c_proj.weight"), projB = m.param("mlp.c_proj.bias");
        MemorySegment gFcW = m.grad("mlp.c_fc.weight"), gFcB = m.grad("mlp.c_fc.bias");
        MemorySegment gProjW = m.grad("mlp.c_proj.weight"), gProjB = m.grad("mlp.c_proj.bias");
        MemorySegment fc = m.act("fc"), fcGelu = m.act("fc_gelu"), dfc = m.dact("fc"), dfcGelu = m.dact("fc_gelu");
        return new BlockPart.Bound() {
            @Override
            public void forward(MemorySegment out, MemorySegment in, int B, int T, int t0) {
                int from = t0, to = B * T;                                // rows [t0, B·T): t0 > 0 only with B = 1
                Linear.forward(be, fc, in, fcW, null, from, to, C, 4 * C);
                Gelu.forwardBias(fcGelu, fc, fcB, from, to, 4 * C);       // c_fc's bias and the GELU in one pass
                Linear.forward(be, out, fcGelu, projW, projB, from, to, 4 * C, C);
            }

            @Override
            public void backward(MemorySegment din, MemorySegment dout, MemorySegment in, int B, int T, float lossScale) {
                int rows = B * T;
                Linear.backward(be, dfcGelu, gProjW, gProjB, dout, fcGelu, projW, rows, 4 * C, C);
                Gelu.backward(dfc, fc, dfcGelu, (long) rows * 4 * C);
                Linear.backward(be, din, gFcW, gFcB, dfc, in, fcW, rows, C, 4 * C);
            }
        };
    }
}
