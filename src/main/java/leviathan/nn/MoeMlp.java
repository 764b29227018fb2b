package leviathan.nn;

import java.lang.foreign.MemorySegment;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.function.ObjDoubleConsumer;
import leviathan.backend.Backend;
import leviathan.kernel.ExpertMlp;
import leviathan.kernel.Moe;

/**
 * A sparse mixture of experts (LEVIATHAN.md, "Variants"): a router without bias scores {@code E}
 * experts per token, each token goes to its top-{@code k} (ties to the lower index), dropless, and
 * the experts' GPT-2 MLP outputs (hidden width {@code F}) are summed with the softmax of the chosen
 * logits as weights. Rows are grouped per expert (a stable counting sort), so each expert runs one
 * GEMM pair over a contiguous block through the backend, and the outputs are gathered back per token:
 * every sum runs in a fixed order, whatever the thread count.
 *
 * <p>Training adds, per layer and micro-batch, the load-balance term {@code α·E·Σ_e f_e·P_e} and the
 * router z-loss {@code β·mean(logsumexp z)²} ({@link #auxLoss}); their weights are the run options
 * {@code moe_balance} (default 0.01) and {@code moe_z} (default 0.001), not model options. The
 * layer's expert load fractions {@code f_e} go to the metrics.
 *
 * <p>Saved per token row: router logits and probabilities (E each), logsumexp (1), gates, chosen
 * experts and the two dispatch maps (k each), and per routed pair the gathered input and output
 * (C each) and the expert's hidden activations before and after GELU (F each). The gradients of
 * those rows double as the backward's scratch.
 */
public final class MoeMlp implements Mlp {
    static final PartOption EXPERTS = PartOption.integer("n_expert", PartOption.Scope.MODEL).byDefault(8).min(1).flag("--experts", "E")
            .help("MoE: experts");
    static final PartOption TOP_K = PartOption.integer("top_k", PartOption.Scope.MODEL).byDefault(2).min(1).flag("--top-k", "k")
            .help("MoE: experts per token, 1..E");
    static final PartOption HIDDEN = PartOption.integer("expert_hidden", PartOption.Scope.MODEL).min(1).flag("--expert-hidden", "F")
            .computedDefault("4·n_embd/top-k, the dense MLP's active flops").help("MoE: hidden width of each expert");
    static final PartOption BALANCE = PartOption.number("moe_balance", PartOption.Scope.RUN).byDefault(0.01).min(0).flag("--moe-balance", "A")
            .help("MoE: load-balance loss weight");
    static final PartOption Z = PartOption.number("moe_z", PartOption.Scope.RUN).byDefault(0.001).min(0).flag("--moe-z", "B")
            .help("MoE: router z-loss weight");

    public static final PartType<Mlp> TYPE = PartType.mlp("moe", "sparse mixture of experts: top-k of E GPT-2 MLPs per token, dropless",
            MoeMlp::new, EXPERTS, TOP_K, HIDDEN, BALANCE, Z);

    private final Dims dims;
    private final int experts, topK, hidden;

    private MoeMlp(Dims dims, PartSpec spec) {
        this.dims = dims;
        this.experts = spec.intOption(EXPERTS.key());
        this.topK = spec.intOption(TOP_K.key());
        if (topK > experts) throw new IllegalArgumentException("top_k (--top-k) must be between 1 and n_expert " + experts + ", got " + topK);
        // the default keeps the dense MLP's active flops per token: k·F = 4C
        this.hidden = spec.options().containsKey(HIDDEN.key()) ? spec.intOption(HIDDEN.key()) : Math.max(1, 4 * dims.nEmbd() / topK);
    }

    @Override public String kind() { return "moe"; }

    @Override
    public Map<String, String> metadata() {
        return Map.of(EXPERTS.key(), Integer.toString(experts), TOP_K.key(), Integer.toString(topK), HIDDEN.key(), Integer.toString(hidden));
    }

    @Override
    public List<Param> params() {
        int C = dims.nEmbd(), F = hidden;
        List<Param> p = new ArrayList<>();
        p.add(Param.weight("mlp.router.weight", experts, C, 0.02));
        for (int e = 0; e < experts; e++) {
            String x = "mlp.experts." + e + ".";
            p.add(Param.weight(x + "c_fc.weight", F, C, 0.02));
            p.add(Param.bias(x + "c_fc.bias", F));
            p.add(Param.weight(x + "c_proj.weight", C, F, dims.residualStd()));
            p.add(Param.bias(x + "c_proj.bias", C));
        }
        return p;
    }

    @Override
    public List<Act> activations() {
        int C = dims.nEmbd(), E = experts, k = topK, F = hidden;
        return List.of(new Act("z", E), new Act("prob", E), new Act("lse", 1), new Act("gate", k),
                new Act("expert", k), new Act("row_of", k), new Act("pos_of", k),            // int32 in float slots
                new Act("xe", k * C), new Act("h", k * F), new Act("a", k * F), new Act("ye", k * C));
    }

    /** The dispatch plan's counts and offsets: {@code 2E + 1} int32 per bound layer. */
    @Override
    public long scratchBytes(int maxBatch, int maxT, int threads) { return (2L * experts + 1) * Integer.BYTES; }

    @Override
    public BlockPart.Bound bind(LayerMemory m) {
        return new Bound(m);
    }

    private final class Bound implements BlockPart.Bound {
        private final Backend be;
        private final ExpertMlp.Sgemm gemm;
        private final float alpha, beta;
        private final MemorySegment router, gRouter;
        private final MemorySegment[] fcW = new MemorySegment[experts], fcB = new MemorySegment[experts];
        private final MemorySegment[] projW = new MemorySegment[experts], projB = new MemorySegment[experts];
        private final MemorySegment[] gFcW = new MemorySegment[experts], gFcB = new MemorySegment[experts];
        private final MemorySegment[] gProjW = new MemorySegment[experts], gProjB = new MemorySegment[experts];
        private final MemorySegment z, prob, lse, gate, expert, rowOf, posOf, xe, h, a, ye;
        private final MemorySegment dz, dgate, dxe, dh, da, dye;
        private final java.lang.foreign.Arena arena = java.lang.foreign.Arena.ofShared();
        private final MemorySegment count, offset;                         // (E) and (E + 1) int32: the last forward's plan
        private final float[] load = new float[experts];
        private final String[] loadNames = new String[experts];         // made once: stats() allocates nothing
        private double balance, zLoss;

        Bound(LayerMemory m) {
            be = m.backend();
            gemm = be::sgemm;
            alpha = m.options().number(BALANCE);
            beta = m.options().number(Z);
            router = m.param("mlp.router.weight");
            gRouter = m.grad("mlp.router.weight");
            for (int e = 0; e < experts; e++) {
                String x = "mlp.experts." + e + ".";
                fcW[e] = m.param(x + "c_fc.weight");
                fcB[e] = m.param(x + "c_fc.bias");
                projW[e] = m.param(x + "c_proj.weight");
                projB[e] = m.param(x + "c_proj.bias");
                gFcW[e] = m.grad(x + "c_fc.weight");
                gFcB[e] = m.grad(x + "c_fc.bias");
                gProjW[e] = m.grad(x + "c_proj.weight");
                gProjB[e] = m.grad(x + "c_proj.bias");
            }
            z = m.act("z");
            prob = m.act("prob");
            lse = m.act("lse");
            gate = m.act("gate");
            expert = m.act("expert");
            rowOf = m.act("row_of");
            posOf = m.act("pos_of");
            xe = m.act("xe");
            h = m.act("h");
            a = m.act("a");
            ye = m.act("ye");
            dz = m.dact("z");
            dgate = m.dact("gate");
            dxe = m.dact("xe");
            dh = m.dact("h");
            da = m.dact("a");
            dye = m.dact("ye");
            for (int e = 0; e < experts; e++) loadNames[e] = "mlp.load." + e;
            count = arena.allocate((long) experts * Integer.BYTES, 64);
            offset = arena.allocate((long) (experts + 1) * Integer.BYTES, 64);
        }

        @Override
        public void forward(MemorySegment out, MemorySegment in, int B, int T, int t0) {
            // rows [t0, B·T): t0 > 0 only with B = 1; the kernels address the rows and pairs by index, no slices
            int C = dims.nEmbd(), E = experts, k = topK, F = hidden, from = t0, to = B * T;
            Linear.forward(be, z, in, router, null, from, to, C, E);
            Moe.route(expert, gate, prob, lse, z, from, to, E, k);
            Moe.plan(count, offset, rowOf, posOf, expert, from, to, E, k);
            Moe.gather(xe, in, rowOf, from, to, k, C);
            ExpertMlp.forward(gemm, ye, h, a, xe, offset, fcW, fcB, projW, projB, E, C, F);
            Moe.combine(out, ye, gate, posOf, from, to, k, C);
            balance = Moe.balance(load, prob, count, from, to, E, k, alpha);
            zLoss = Moe.zLoss(lse, from, to, beta);
        }

        @Override
        public void backward(MemorySegment din, MemorySegment dout, MemorySegment in, int B, int T, float lossScale) {
            int C = dims.nEmbd(), E = experts, k = topK, F = hidden, n = B * T;
            Moe.combineBackward(dye, dgate, dout, ye, gate, posOf, n, k, C);
            ExpertMlp.backward(gemm, dxe, gFcW, gFcB, gProjW, gProjB, da, dh, dye, xe, h, a, offset, fcW, projW, E, C, F);
            Moe.gatherBackward(din, dxe, posOf, n, k, C);
            Moe.gateBackward(dz, dgate, gate, expert, n, E, k);
            Moe.auxBackward(dz, prob, lse, count, n, E, k, alpha, beta, lossScale);
            Linear.backward(be, din, gRouter, null, dz, in, router, n, C, E);
        }

        @Override
        public double auxLoss() { return balance + zLoss; }

        @Override
        public void stats(ObjDoubleConsumer<String> sink) {
            sink.accept("mlp.balance", balance);
            sink.accept("mlp.z", zLoss);
            for (int e = 0; e < experts; e++) sink.accept(loadNames[e], load[e]);
        }

        @Override
        public void close() { arena.close(); }
    }
}
