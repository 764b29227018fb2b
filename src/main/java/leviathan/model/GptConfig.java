package leviathan.model;

import java.util.Locale;

/**
 * The architecture of a Leviathan model (LEVIATHAN.md, "The language model").
 *
 * @param vocabSize V, characters in the vocabulary
 * @param blockSize longest sequence (positions in {@code wpe})
 * @param nLayer    transformer blocks
 * @param nHead     heads per block
 * @param nEmbd     embedding width C; head width is {@code nEmbd / nHead}
 * @param attention {@link Attention#CORRELATION} or the {@link Attention#DOT} baseline
 * @param lags      N, lags per head (1 for dot)
 */
public record GptConfig(int vocabSize, int blockSize, int nLayer, int nHead, int nEmbd, Attention attention, int lags) {

    /** Correlation scores, or plain scaled dot-product attention (the Transformer baseline). */
    public enum Attention {
        CORRELATION, DOT;

        public String id() { return name().toLowerCase(Locale.ROOT); }

        public static Attention parse(String s) {
            for (Attention a : values()) if (a.id().equals(s.trim().toLowerCase(Locale.ROOT))) return a;
            throw new IllegalArgumentException("attention must be 'correlation' or 'dot', got '" + s + "'");
        }
    }

    public GptConfig {
        if (attention == null) throw new IllegalArgumentException("attention is required");
        if (attention == Attention.DOT) lags = 1;
        validate(vocabSize, blockSize, nLayer, nHead, nEmbd, lags);
    }

    private static void validate(int vocabSize, int blockSize, int nLayer, int nHead, int nEmbd, int lags) {
        if (vocabSize < 1) throw new IllegalArgumentException("vocabulary is empty (vocab_size " + vocabSize + ")");
        if (blockSize < 1) throw new IllegalArgumentException("block_size must be >= 1, got " + blockSize);
        if (nLayer < 1) throw new IllegalArgumentException("n_layer must be >= 1, got " + nLayer);
        if (nHead < 1) throw new IllegalArgumentException("n_head must be >= 1, got " + nHead);
        if (nEmbd < 1) throw new IllegalArgumentException("n_embd must be >= 1, got " + nEmbd);
        if (nEmbd % nHead != 0) {
            throw new IllegalArgumentException("n_embd " + nEmbd + " is not divisible by n_head " + nHead
                    + ": choose n_embd as a multiple of n_head");
        }
        int headDim = nEmbd / nHead;
        if (lags < 1 || lags > headDim) {
            throw new IllegalArgumentException("lags must be between 1 and the head dim n_embd/n_head = " + headDim
                    + ", got " + lags);
        }
        // the largest activation tensor (B,T,4C) and logits must stay addressable with int row math
        if ((long) blockSize * nEmbd * 4 > Integer.MAX_VALUE || (long) vocabSize * nEmbd > Integer.MAX_VALUE) {
            throw new IllegalArgumentException("model too large: block_size·4·n_embd and vocab·n_embd must fit in 2^31");
        }
    }

    /** Head width D. */
    public int headDim() { return nEmbd / nHead; }

    /** Whether blocks carry a {@code lag_bias} (correlation attention only). */
    public boolean hasLagBias() { return attention == Attention.CORRELATION; }
}
