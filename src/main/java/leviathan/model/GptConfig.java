package leviathan.model;

import java.util.Map;
import leviathan.nn.BlockPart;
import leviathan.nn.Mlp;
import leviathan.nn.PartSpec;
import leviathan.nn.Parts;
import leviathan.nn.TokenMixer;

/**
 * The architecture of a Leviathan model (LEVIATHAN.md, "The language model"): the stack's
 * dimensions and the two parts of every block, the token mixer and the MLP (see {@link Parts}).
 * The part specs are kept in canonical form (the options their part reports as metadata), so two
 * configs describing the same model are equal.
 *
 * @param vocabSize V, characters in the vocabulary
 * @param blockSize longest sequence (positions in {@code wpe})
 * @param nLayer    transformer blocks
 * @param nHead     heads per block
 * @param nEmbd     embedding width C; head width is {@code nEmbd / nHead}
 * @param mixer     the token mixer ({@code correlation} with its lags, {@code dot}, ...)
 * @param mlp       the MLP ({@code dense}, ...)
 */
public record GptConfig(int vocabSize, int blockSize, int nLayer, int nHead, int nEmbd, PartSpec mixer, PartSpec mlp) {

    public GptConfig {
        if (mixer == null) throw new IllegalArgumentException("a token mixer (attention) is required");
        if (mlp == null) mlp = PartSpec.of("dense");
        validate(vocabSize, blockSize, nLayer, nHead, nEmbd);
        BlockPart.Dims dims = new BlockPart.Dims(nEmbd, nHead, nLayer, blockSize);
        TokenMixer m = Parts.mixer(mixer, dims);
        Mlp p = Parts.mlp(mlp, dims);
        mixer = new PartSpec(m.kind(), m.metadata());
        mlp = new PartSpec(p.kind(), p.metadata());
        long widest = 0;                                  // activation rows must stay addressable with int math
        for (BlockPart part : new BlockPart[] {m, p}) for (var a : part.activations()) widest = Math.max(widest, a.perRow());
        if ((long) blockSize * Math.max(widest, nEmbd) > Integer.MAX_VALUE || (long) vocabSize * nEmbd > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("model too large: block_size times the widest activation row, and vocab·n_embd, must fit in 2^31");
        }
    }

    /** A correlation ({@code lags} lags) or dot-product model with the dense MLP: the original two. */
    public static GptConfig of(int vocabSize, int blockSize, int nLayer, int nHead, int nEmbd, String attention, int lags) {
        return new GptConfig(vocabSize, blockSize, nLayer, nHead, nEmbd,
                Parts.mixerSpec(attention, Map.of("lags", Integer.toString(lags))), PartSpec.of("dense"));
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
    public GptConfig withVocabSize(int v) { return new GptConfig(v, blockSize, nLayer, nHead, nEmbd, mixer, mlp); }

    /** Head width D. */
    public int headDim() { return nEmbd / nHead; }

    /** The dimensions the block parts are shaped by. */
    public BlockPart.Dims dims() { return new BlockPart.Dims(nEmbd, nHead, nLayer, blockSize); }

    /** The token mixer's declaration. */
    public TokenMixer mixerPart() { return Parts.mixer(mixer, dims()); }

    /** The MLP's declaration. */
    public Mlp mlpPart() { return Parts.mlp(mlp, dims()); }

    /** The token mixer's kind, as the checkpoint's {@code attention} metadata names it. */
    public String attention() { return mixer.kind(); }

    /** N, the metadata's {@code lags}: the correlation lag count, 1 for every other mixer. */
    public int lags() { return Integer.parseInt(mixer.options().getOrDefault("lags", "1")); }

    /** One line for logs and messages. */
    public String describe() {
        return "n_layer " + nLayer + ", n_head " + nHead + ", n_embd " + nEmbd + ", block_size " + blockSize + ", attention "
                + mixer + ", mlp " + mlp + ", vocab " + vocabSize;
    }
}
