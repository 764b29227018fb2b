package leviathan.nn;

/**
 * The block's second part, {@code x + mlp(ln_2(x))}: a per-position transformation (the dense
 * GPT-2 MLP, a mixture of experts, ...). Row {@code i} of the output depends on input row {@code i}
 * only. Parameter names start with {@code mlp.}.
 */
public interface Mlp extends BlockPart { }
