package leviathan.model;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import leviathan.backend.Backend;
import leviathan.nn.CorrelationAttention;
import leviathan.tensor.Buffers;

/**
 * Activations (and, for training, their gradients) for batches of up to {@code maxBatch}
 * sequences of up to {@code maxT} tokens, allocated once and reused by every step: a steady-state
 * step allocates nothing. A batch of {@code B×T} uses the leading {@code B·T} rows of each tensor.
 * Not thread-safe: one workspace per concurrent user; the model's parameters are shared.
 */
public final class Workspace implements AutoCloseable {
    final GptConfig config;
    final Backend backend;
    final int maxBatch, maxT;
    final Arena arena = Arena.ofShared();
    final Buffers acts;
    final Buffers dacts;                 // null when built for inference only
    final MemorySegment tokens, targets; // (maxBatch, maxT) int32
    final CorrelationAttention attention;
    private final Gpt.LayerActs[] layerActs, layerDacts;

    Workspace(GptConfig config, Backend backend, int maxBatch, int maxT, boolean training, CorrelationAttention.Impl impl) {
        if (maxBatch < 1) throw new IllegalArgumentException("batch size must be >= 1, got " + maxBatch);
        if (maxT < 1 || maxT > config.blockSize()) {
            throw new IllegalArgumentException("sequence length must be in [1, block_size " + config.blockSize() + "], got " + maxT);
        }
        this.config = config;
        this.backend = backend;
        this.maxBatch = maxBatch;
        this.maxT = maxT;
        Buffers.Layout layout = layout(config, maxBatch * maxT);
        this.acts = layout.allocate(arena);
        this.dacts = training ? layout.allocate(arena) : null;
        this.tokens = arena.allocate(ValueLayout.JAVA_INT, (long) maxBatch * maxT);
        this.targets = arena.allocate(ValueLayout.JAVA_INT, (long) maxBatch * maxT);
        this.layerActs = new Gpt.LayerActs[config.nLayer()];
        this.layerDacts = training ? new Gpt.LayerActs[config.nLayer()] : null;
        for (int l = 0; l < config.nLayer(); l++) {
            layerActs[l] = Gpt.LayerActs.of(acts, l);
            if (training) layerDacts[l] = Gpt.LayerActs.of(dacts, l);
        }
        this.attention = new CorrelationAttention(backend, maxBatch, maxT, config.nEmbd(), config.nHead(), config.lags(), impl);
    }

    /** Activation tensors for {@code rows = B·T} positions, in forward order. */
    static Buffers.Layout layout(GptConfig c, int rows) {
        int C = c.nEmbd(), H = c.nHead(), V = c.vocabSize();
        var l = new Buffers.Layout().add("x", rows, C);                       // embeddings, the stream's start
        for (int i = 0; i < c.nLayer(); i++) {
            String h = "h." + i + ".";
            l.add(h + "ln_1", rows, C).add(h + "ln_1.mean", rows).add(h + "ln_1.rstd", rows)
             .add(h + "qkv", rows, 3 * C)                                     // (B, T, 3C)
             .add(h + "att", rows, C)                                         // correlation output, heads merged
             .add(h + "lse", H * rows)                                        // (B, H, T) softmax log-sum-exp
             .add(h + "res_1", rows, C)                                       // stream after attention
             .add(h + "ln_2", rows, C).add(h + "ln_2.mean", rows).add(h + "ln_2.rstd", rows)
             .add(h + "fc", rows, 4 * C).add(h + "fc_gelu", rows, 4 * C)
             .add(h + "res_2", rows, C);                                      // stream after the MLP
        }
        return l.add("ln_f", rows, C).add("ln_f.mean", rows).add("ln_f.rstd", rows)
                .add("logits", rows, V).add("probs", rows, V).add("losses", rows);
    }

    Gpt.LayerActs layerActs(int l) { return layerActs[l]; }

    Gpt.LayerActs layerDacts(int l) { return layerDacts[l]; }

    /** The token ids of the batch, {@code (maxBatch, maxT)} int32; fill the leading {@code B·T}. */
    public MemorySegment tokens() { return tokens; }

    /** Next-token targets, same layout as {@link #tokens()}. */
    public MemorySegment targets() { return targets; }

    public int maxBatch() { return maxBatch; }

    public int maxT() { return maxT; }

    /** Logits of the last forward, {@code (B, T, V)} in the leading rows. */
    public MemorySegment logits() { return acts.get("logits").segment(); }

    /** Bytes of off-heap memory this workspace holds. */
    public long byteSize() {
        return acts.all().byteSize() + (dacts == null ? 0 : dacts.all().byteSize()) + tokens.byteSize() + targets.byteSize();
    }

    @Override
    public void close() {
        attention.close();
        arena.close();
    }
}
