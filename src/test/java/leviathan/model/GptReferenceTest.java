package leviathan.model;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.ValueLayout;
import java.net.URISyntaxException;
import java.nio.file.Path;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.stream.Stream;
import leviathan.backend.Backend;
import leviathan.backend.JavaBackend;
import leviathan.backend.OneDnnTesting;
import leviathan.nn.CorrelationAttention.Impl;
import leviathan.nn.RunOptions;
import leviathan.tensor.Tensor;
import leviathan.train.Optimizer;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.Arguments;
import org.junit.jupiter.params.provider.MethodSource;

/**
 * The engine against an independent PyTorch implementation of LEVIATHAN.md
 * (fixture from benchmarks/pytorch/make_reference.py, float64 references): logits, loss, every
 * parameter gradient, and the losses of 10 AdamW steps, on every GEMM backend (Java; oneDNN when
 * it loads, which must happen on CI, see {@code OneDnnTesting}) × every correlation implementation.
 */
class GptReferenceTest {

    static Path resource(String name) throws URISyntaxException {
        return Path.of(GptReferenceTest.class.getResource("/reference/" + name).toURI());
    }

    static Map<String, Tensor> readAll(Path file, Arena arena) throws Exception {
        var h = SafeTensors.readHeader(file);
        Map<String, Tensor> m = new LinkedHashMap<>();
        for (var e : h.entries().values()) {
            int[] shape = java.util.Arrays.stream(e.shape()).mapToInt(Math::toIntExact).toArray();
            m.put(e.name(), Tensor.of(e.name(), arena.allocate(Math.max(4, e.numel() * 4), 64), shape));
        }
        SafeTensors.readInto(h, m);
        return m;
    }

    /** fixture (mixer and MLP) × backend × correlation implementation (the fixture's head width, 8, suits them all). */
    static Stream<Arguments> cases() {
        Stream.Builder<Arguments> b = Stream.builder();
        for (String fixture : new String[] {"correlation", "dot", "involution", "dot-moe", "correlation-moe", "involution-moe",
                "correlation-swiglu", "dot-swiglu", "hybrid"}) {
            for (String backend : new String[] {"java", "onednn"}) {
                // the correlation implementations matter only where the mixer is correlation or dot
                for (Impl impl : fixture.startsWith("involution") ? new Impl[] {Impl.AUTO} : Impl.values()) {
                    b.add(Arguments.of(fixture, backend, impl));
                }
            }
        }
        return b.build();
    }

    private static Backend backend(String name) {
        return name.equals("java") ? new JavaBackend() : OneDnnTesting.backendOrSkip();   // oneDNN: shared, left open
    }

    @ParameterizedTest(name = "{0} on {1}, {2}")
    @MethodSource("cases")
    void matchesPyTorch(String fixture, String backendName, Impl impl) throws Exception {
        Backend backend = backend(backendName);
        try (Arena arena = Arena.ofConfined();
             var loaded = Checkpoint.load(resource("tiny-" + fixture + ".safetensors"))) {
            Path refFile = resource("tiny-" + fixture + "-ref.safetensors");
            Map<String, Tensor> ref = readAll(refFile, arena);
            Gpt gpt = loaded.model();
            int B = ref.get("tokens").dim(0), T = ref.get("tokens").dim(1), V = gpt.config().vocabSize();
            // the auxiliary loss weights are training settings: the fixture's metadata carries them
            Map<String, String> meta = SafeTensors.readHeader(refFile).metadata();
            RunOptions options = RunOptions.of("impl", impl.name());
            for (String key : new String[] {"moe_balance", "moe_z"}) if (meta.containsKey(key)) options = options.with(key, meta.get(key));
            try (Workspace ws = gpt.workspace(backend, B, T, true, options)) {
                for (int i = 0; i < B * T; i++) {
                    ws.tokens().setAtIndex(ValueLayout.JAVA_INT, i, (int) ref.get("tokens").getFlat(i));
                    ws.targets().setAtIndex(ValueLayout.JAVA_INT, i, (int) ref.get("targets").getFlat(i));
                }
                gpt.zeroGrad();
                float loss = gpt.forward(ws, B, T, true);
                // float32 engine vs float64 reference on O(1) values: 1e-5 absolute is ~100 ulps
                assertEquals(ref.get("loss").getFlat(0), loss, 1e-5, "loss");
                if (ref.containsKey("total_loss")) {              // cross-entropy plus the parts' auxiliary terms
                    assertEquals(ref.get("total_loss").getFlat(0), loss + ws.auxLoss(), 1e-5, "total loss");
                    Map<String, Double> stats = new LinkedHashMap<>();
                    ws.stats(stats::put);
                    for (int l = 0; ref.containsKey("aux.h." + l + ".balance"); l++) {
                        assertEquals(ref.get("aux.h." + l + ".balance").getFlat(0), stats.get("h." + l + ".mlp.balance"), 1e-6, "balance " + l);
                        assertEquals(ref.get("aux.h." + l + ".z").getFlat(0), stats.get("h." + l + ".mlp.z"), 1e-6, "z-loss " + l);
                        Tensor load = ref.get("load.h." + l);
                        for (int e = 0; e < load.numel(); e++) assertEquals(load.getFlat(e), stats.get("h." + l + ".mlp.load." + e), 1e-7, "load");
                    }
                }
                Tensor logits = ref.get("logits");
                for (int i = 0; i < B * T * V; i++) {
                    assertEquals(logits.getFlat(i), ws.logits().getAtIndex(ValueLayout.JAVA_FLOAT, i), 1e-4, "logit " + i);
                }
                gpt.backward(ws, B, T, 1f);
                for (Tensor g : gpt.grads().tensors().values()) {
                    Tensor r = ref.get("grad." + g.name());
                    double scale = 0;
                    for (long i = 0; i < r.numel(); i++) scale = Math.max(scale, Math.abs(r.getFlat(i)));
                    for (long i = 0; i < r.numel(); i++) {
                        // float32 accumulation over a few hundred terms: 1e-4 of the tensor's largest gradient
                        double err = Math.abs(g.getFlat(i) - r.getFlat(i));
                        assertTrue(err <= 1e-4 * scale + 1e-7, g.name() + "[" + i + "]: " + g.getFlat(i) + " vs " + r.getFlat(i));
                    }
                }
                try (Optimizer opt = new Optimizer(gpt, Optimizer.Kind.ADAMW, 0.9f, 0.99f, 1e-8f, 0.1f)) {
                    Tensor losses = ref.get("adamw_losses");
                    for (int step = 0; step < 10; step++) {
                        gpt.zeroGrad();
                        float l = gpt.forward(ws, B, T, true);
                        // 10 steps of lr 1e-2 amplify float32 rounding a little: 1e-3 absolute
                        assertEquals(losses.getFlat(step), l, 1e-3, "AdamW step " + step);
                        gpt.backward(ws, B, T, 1f);
                        opt.step(1e-2f);
                    }
                }
            }
        }
    }
}
