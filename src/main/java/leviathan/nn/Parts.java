package leviathan.nn;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.TreeMap;
import java.util.function.BiFunction;

/**
 * The registry of block parts: the name that {@code --attention} / {@code --mlp} and the
 * checkpoint metadata use, the model options (metadata keys) the part reads, and its constructor.
 * Adding a part is its class plus one line below.
 */
public final class Parts {
    private Parts() {}

    /**
     * A registered part: its name, the metadata keys of its model options, the keys of the run
     * options it reads ({@link RunOptions}: not stored in checkpoints), and its constructor.
     */
    public record Entry<P extends BlockPart>(String kind, List<String> optionKeys, List<String> runKeys,
                                             BiFunction<BlockPart.Dims, PartSpec, P> factory) {}

    private static final Map<String, Entry<TokenMixer>> MIXERS = new LinkedHashMap<>();
    private static final Map<String, Entry<Mlp>> MLPS = new LinkedHashMap<>();

    static {
        // name, constructor, model options (checkpoint metadata), run options
        mixer("correlation", CorrelationMixer::correlation, List.of("lags"), List.of("lag_bias_init"));  // LEVIATHAN.md
        mixer("dot", CorrelationMixer::dot, List.of(), List.of());                  // the Transformer baseline (one lag, no lag bias)
        mixer("involution", InvolutionMixer::new, List.of("window"), List.of());    // kernels generated per token over a causal window
        mlp("dense", DenseMlp::new, List.of(), List.of());                          // GPT-2's MLP
        mlp("moe", MoeMlp::new, List.of("n_expert", "top_k", "expert_hidden"), List.of("moe_balance", "moe_z"));  // sparse mixture of experts
    }

    private static void mixer(String kind, BiFunction<BlockPart.Dims, PartSpec, TokenMixer> factory, List<String> keys, List<String> runKeys) {
        MIXERS.put(kind, new Entry<>(kind, keys, runKeys, factory));
    }

    private static void mlp(String kind, BiFunction<BlockPart.Dims, PartSpec, Mlp> factory, List<String> keys, List<String> runKeys) {
        MLPS.put(kind, new Entry<>(kind, keys, runKeys, factory));
    }

    /** Every option key some registered part reads, model and run options alike (to refuse typos). */
    public static java.util.Set<String> allOptionKeys() {
        java.util.Set<String> keys = new java.util.TreeSet<>();
        for (var registry : List.of(MIXERS, MLPS)) {
            for (Entry<?> e : registry.values()) {
                keys.addAll(e.optionKeys());
                keys.addAll(e.runKeys());
            }
        }
        return keys;
    }

    /** Every run-option key some registered part reads. */
    public static java.util.Set<String> runOptionKeys() {
        java.util.Set<String> keys = new java.util.TreeSet<>();
        for (var registry : List.of(MIXERS, MLPS)) for (Entry<?> e : registry.values()) keys.addAll(e.runKeys());
        return keys;
    }

    /** Registered token mixers, by name, in registration order. */
    public static Map<String, Entry<TokenMixer>> mixers() { return java.util.Collections.unmodifiableMap(MIXERS); }

    /** Registered MLPs, by name, in registration order. */
    public static Map<String, Entry<Mlp>> mlps() { return java.util.Collections.unmodifiableMap(MLPS); }

    /** The token mixer a spec describes, its options validated against the dimensions. */
    public static TokenMixer mixer(PartSpec spec, BlockPart.Dims dims) { return entry(MIXERS, spec.kind(), "attention").factory().apply(dims, spec); }

    /** The MLP a spec describes, its options validated against the dimensions. */
    public static Mlp mlp(PartSpec spec, BlockPart.Dims dims) { return entry(MLPS, spec.kind(), "mlp").factory().apply(dims, spec); }

    /**
     * The spec of a mixer of {@code kind}, keeping from {@code options} only the keys that part
     * reads (so one flat map of command-line options serves every kind).
     */
    public static PartSpec mixerSpec(String kind, Map<String, String> options) { return spec(MIXERS, kind, "attention", options); }

    /** {@link #mixerSpec} for an MLP. */
    public static PartSpec mlpSpec(String kind, Map<String, String> options) { return spec(MLPS, kind, "mlp", options); }

    private static PartSpec spec(Map<String, ? extends Entry<?>> registry, String kind, String slot, Map<String, String> options) {
        Entry<?> e = entry(registry, kind, slot);
        Map<String, String> kept = new TreeMap<>();
        for (String k : e.optionKeys()) {
            String v = options.get(k);
            if (v != null) kept.put(k, v);
        }
        return new PartSpec(e.kind(), kept);
    }

    private static <E extends Entry<?>> E entry(Map<String, E> registry, String kind, String slot) {
        E e = kind == null ? null : registry.get(kind.trim().toLowerCase(java.util.Locale.ROOT));
        if (e == null) {
            throw new IllegalArgumentException(slot + " must be one of " + String.join(", ", registry.keySet()) + ", got '" + kind + "'");
        }
        return e;
    }
}
