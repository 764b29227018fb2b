package leviathan.model;

import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import leviathan.nn.BlockPart;
import leviathan.nn.PartType;
import leviathan.nn.Mlp;
import leviathan.nn.PartSpec;
import leviathan.nn.Parts;
import leviathan.nn.TokenMixer;

/**
 * The architecture of a Leviathan model (LEVIATHAN.md, "The language model"): the stack's
 * dimensions, the token mixer of every layer (one kind for all, or one per layer: "Hybrid
 * stacks") and the MLP (see {@link Parts}). The part specs are kept in canonical form (the
 * options their part reports as metadata), so two configs describing the same model are equal.
 *
 * @param vocabSize V, characters in the vocabulary
 * @param blockSize longest sequence (positions in {@code wpe})
 * @param nLayer    transformer blocks
 * @param nHead     heads per block
 * @param nEmbd     embedding width C; head width is {@code nEmbd / nHead}
 * @param mixers    the token mixer of every layer: one spec for all of them, or one per layer from layer 0
 *                  ({@code correlation} with its lags, {@code dot}, ...); kept as one spec when all layers agree
 * @param mlp       the MLP of every layer ({@code dense}, ...)
 */
public record GptConfig(int vocabSize, int blockSize, int nLayer, int nHead, int nEmbd, List<PartSpec> mixers, PartSpec mlp) {

    public GptConfig {
        validate(vocabSize, blockSize, nLayer, nHead, nEmbd);
        if (mixers == null || mixers.isEmpty()) throw new IllegalArgumentException("a token mixer (attention) is required");
        if (mixers.size() != 1 && mixers.size() != nLayer) throw new IllegalArgumentException(mixers.size() + " token mixers for " + nLayer + " layers");
        if (mlp == null) mlp = PartSpec.of(Parts.defaultKind(PartType.Slot.MLP));
        BlockPart.Dims dims = new BlockPart.Dims(nEmbd, nHead, nLayer, blockSize);
        List<PartSpec> canonical = new ArrayList<>(mixers.size());
        long widest = 0;                                  // activation rows must stay addressable with int math
        java.util.Map<PartSpec, PartSpec> seen = new java.util.HashMap<>();
        for (PartSpec spec : mixers) {
            PartSpec c = seen.get(spec);
            if (c == null) {
                TokenMixer m = Parts.mixer(spec, dims);
                seen.put(spec, c = new PartSpec(m.kind(), m.metadata()));
                for (var a : m.activations()) widest = Math.max(widest, a.perRow());
            }
            canonical.add(c);
        }
        // one spec stands for every layer (also when a list names the same mixer for all): any n_layer costs O(1)
        mixers = seen.size() == 1 ? List.of(canonical.get(0)) : List.copyOf(canonical);
        Mlp p = Parts.mlp(mlp, dims);
        mlp = new PartSpec(p.kind(), p.metadata());
        for (var a : p.activations()) widest = Math.max(widest, a.perRow());
        if ((long) blockSize * Math.max(widest, nEmbd) > Integer.MAX_VALUE || (long) vocabSize * nEmbd > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("model too large: block_size times the widest activation row, and vocab·n_embd, must fit in 2^31");
        }
    }

    /** A model whose every layer has the mixer {@code mixer}. */
    public GptConfig(int vocabSize, int blockSize, int nLayer, int nHead, int nEmbd, PartSpec mixer, PartSpec mlp) {
        this(vocabSize, blockSize, nLayer, nHead, nEmbd, mixer == null ? null : List.of(mixer), mlp);
    }

    /** A correlation ({@code lags} lags) or dot-product model with the dense MLP: the original two. */
    public static GptConfig of(int vocabSize, int blockSize, int nLayer, int nHead, int nEmbd, String attention, int lags) {
        return new GptConfig(vocabSize, blockSize, nLayer, nHead, nEmbd,
                Parts.mixerStack(attention, nLayer, Map.of("lags", Integer.toString(lags))), PartSpec.of(Parts.defaultKind(PartType.Slot.MLP)));
    }

    private static void validate(int vocabSize, int blockSize, int nLayer, int nHead, int nEmbd) {
        if (vocabSize < 1) throw new IllegalArgumentException("vocabulary is empty (vocab_size " + vocabSize + ")");
        if (blockSize < 1) throw new IllegalArgumentException("block_size must be >= 1, got " + blockSize);
        if (nLayer < 1) throw new IllegalArgumentException("n_layer must be >= 1, got " + nLayer);
        if (nHead < 1) throw new IllegalArgumentException("n_head must be >= 1, got " + nHead);
        if (nEmbd < 1) throw new IllegalArgumentException("n_embd must be >= 1, got " + nEmbd);
        if (nEmbd % nHead != 0) {
            throw new IllegalArgumentException("n_embd " + nEmbd + " is not divisible by n_head " + nHead
                    + ": choose n_embd as a multiple of n_head");
        }
    }

    /** A copy with another vocabulary size. */
    public GptConfig withVocabSize(int v) { return new GptConfig(v, blockSize, nLayer, nHead, nEmbd, mixers, mlp); }

    /** Head width D. */
    public int headDim() { return nEmbd / nHead; }

    /** The dimensions the block parts are shaped by. */
    public BlockPart.Dims dims() { return new BlockPart.Dims(nEmbd, nHead, nLayer, blockSize); }

    /** The token mixer spec of layer {@code l}. */
    public PartSpec mixer(int l) {
        java.util.Objects.checkIndex(l, nLayer);
        return mixers.get(mixers.size() == 1 ? 0 : l);
    }

    /** The token mixer's declaration of layer {@code l}. */
    public TokenMixer mixerPart(int l) { return Parts.mixer(mixer(l), dims()); }

    /** The MLP's declaration. */
    public Mlp mlpPart() { return Parts.mlp(mlp, dims()); }

    /** Whether some layers have different mixers. */
    public boolean hybrid() { return mixers.size() > 1; }

    /** The mixers as the checkpoint's {@code attention} metadata names them: one kind, or the kinds of all layers comma-separated. */
    public String attention() { return Parts.stackName(mixers); }

    /** The mixers' model options merged over the layers (lags from the correlation layers, window from the involution ones). */
    public Map<String, String> mixerOptions() {
        Map<String, String> m = new TreeMap<>();
        for (PartSpec s : mixers) m.putAll(s.options());
        return m;
    }

    /** N, the metadata's {@code lags}: the correlation layers' lag count, 1 where no layer is correlation. */
    public int lags() { return Integer.parseInt(mixerOptions().getOrDefault("lags", "1")); }

    /** One line for logs and messages. */
    public String describe() {
        String mix = mixers.size() == 1 ? mixers.get(0).toString() : mixers.toString();
        return "n_layer " + nLayer + ", n_head " + nHead + ", n_embd " + nEmbd + ", block_size " + blockSize + ", attention "
                + mix + ", mlp " + mlp + ", vocab " + vocabSize;
    }
}
