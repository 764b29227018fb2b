package leviathan.nn;

/**
 * The block's first part, {@code x + mixer(ln_1(x))}: it mixes information across positions
 * (correlation scores, dot-product attention, ...). Causal: row {@code i} of the output depends on
 * input rows {@code <= i} only, which is what lets {@link Bound#forward} with {@code t0 > 0} extend
 * a cached prefix one token at a time. Parameter names start with {@code attn.}.
 */
public interface TokenMixer extends BlockPart { }
