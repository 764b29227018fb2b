package leviathan.nn;

import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.TreeMap;

/**
 * The registry of block parts: one line per part below. Everything about a part (its name, its
 * options with their flags, defaults and bounds, its constructor) is declared by the part's class
 * as a {@link PartType}; the command lines, the checks of {@code config.json} and of checkpoint
 * metadata, the memory estimate and {@code info} read it from here.
 */
public final class Parts {
    private Parts() {}

    private static final Map<String, PartType<TokenMixer>> MIXERS = new LinkedHashMap<>();
    private static final Map<String, PartType<Mlp>> MLPS = new LinkedHashMap<>();
    private static final Map<String, PartOption> OPTIONS = new LinkedHashMap<>();

    static {
        // the first of each slot is its default
        register(CorrelationMixer.CORRELATION);
        register(CorrelationMixer.DOT);
        register(InvolutionMixer.TYPE);
        register(DenseMlp.TYPE);
        register(MoeMlp.TYPE);
        register(SwiGluMlp.TYPE);
    }

    @SuppressWarnings("unchecked")
    private static void register(PartType<?> type) {
        var registry = type.slot() == PartType.Slot.MIXER ? MIXERS : MLPS;
        if (registry.containsKey(type.kind())) throw new IllegalStateException("part '" + type.kind() + "' registered twice");
        ((Map<String, PartType<?>>) (Map<String, ?>) registry).put(type.kind(), type);
        for (PartOption o : type.options()) {
            PartOption known = OPTIONS.putIfAbsent(o.key(), o);
            if (known != null && !known.equals(o)) {
                throw new IllegalStateException("option '" + o.key() + "' of " + type.kind() + " differs from another part's declaration");
            }
        }
    }

    /** Registered token mixers, by name, in registration order (the first is the default). */
    public static Map<String, PartType<TokenMixer>> mixers() { return Collections.unmodifiableMap(MIXERS); }

    /** Registered MLPs, by name, in registration order (the first is the default). */
    public static Map<String, PartType<Mlp>> mlps() { return Collections.unmodifiableMap(MLPS); }

    /** The registered parts of a slot. */
    public static Map<String, ? extends PartType<?>> of(PartType.Slot slot) { return slot == PartType.Slot.MIXER ? mixers() : mlps(); }

    /** The kind a slot has when none is named (and a checkpoint without an {@code mlp} key has). */
    public static String defaultKind(PartType.Slot slot) { return of(slot).keySet().iterator().next(); }

    /** Every option of every registered part, by key, each once, in registration order. */
    public static Map<String, PartOption> options() { return Collections.unmodifiableMap(OPTIONS); }

    /** The keys of the options of {@code scope}. */
    public static List<String> keys(PartOption.Scope scope) {
        List<String> keys = new ArrayList<>();
        for (PartOption o : OPTIONS.values()) if (o.scope() == scope) keys.add(o.key());
        return keys;
    }

    /** The token mixer a spec describes, its options validated against the dimensions. */
    public static TokenMixer mixer(PartSpec spec, BlockPart.Dims dims) { return type(MIXERS, spec.kind(), PartType.Slot.MIXER).create(dims, spec); }

    /** The MLP a spec describes, its options validated against the dimensions. */
    public static Mlp mlp(PartSpec spec, BlockPart.Dims dims) { return type(MLPS, spec.kind(), PartType.Slot.MLP).create(dims, spec); }

    /**
     * Checks a flat map of part options (from the command line or {@code config.json}): every key
     * must be some registered part's option and every value valid for it.
     * @return the values in their recorded form, in the map's order
     */
    public static Map<String, String> check(Map<String, String> options) {
        Map<String, String> checked = new LinkedHashMap<>();
        for (var e : options.entrySet()) {
            PartOption o = OPTIONS.get(e.getKey());
            if (o == null) {
                throw new IllegalArgumentException("unknown model option '" + e.getKey() + "' (known: " + String.join(", ", new TreeMap<>(OPTIONS).keySet()) + ")");
            }
            checked.put(e.getKey(), o.check(e.getValue()));
        }
        return checked;
    }

    /** The run options (kernel choice, initialisation, loss weights) among {@code options}, checked. */
    public static RunOptions runOptions(Map<String, String> options) {
        Map<String, String> run = new LinkedHashMap<>();
        check(options).forEach((k, v) -> {
            if (OPTIONS.get(k).scope() == PartOption.Scope.RUN) run.put(k, v);
        });
        return new RunOptions(run);
    }

    /**
     * The spec of a mixer of {@code kind}, keeping from {@code options} only the model options that
     * part reads, checked, with fixed defaults filled in (so one flat map serves every kind).
     */
    public static PartSpec mixerSpec(String kind, Map<String, String> options) { return spec(MIXERS, kind, PartType.Slot.MIXER, options); }

    /** {@link #mixerSpec} for an MLP. */
    public static PartSpec mlpSpec(String kind, Map<String, String> options) { return spec(MLPS, kind, PartType.Slot.MLP, options); }

    /**
     * The mixer of every layer (LEVIATHAN.md, "Hybrid stacks"): {@code attention} is one kind for
     * every layer (one spec returned), or a comma-separated list of exactly {@code nLayer} kinds from
     * layer 0 (one spec each).
     */
    public static List<PartSpec> mixerStack(String attention, int nLayer, Map<String, String> options) {
        if (attention == null || attention.isBlank()) throw new IllegalArgumentException("attention is required");
        String[] kinds = attention.split(",", -1);
        if (kinds.length != 1 && kinds.length != nLayer) {
            throw new IllegalArgumentException("attention lists " + kinds.length + " kinds but the model has " + nLayer
                    + " layers: give one kind for every layer, or one per layer (comma-separated)");
        }
        if (kinds.length == 1) return List.of(mixerSpec(kinds[0].trim(), options));   // every layer: any n_layer costs O(1)
        List<PartSpec> specs = new ArrayList<>(nLayer);
        for (int l = 0; l < nLayer; l++) specs.add(mixerSpec(kinds[l].trim(), options));
        return List.copyOf(specs);
    }

    /** The metadata value of a stack: its one kind when every layer agrees, else the kinds comma-separated. */
    public static String stackName(List<PartSpec> mixers) {
        if (mixers.stream().map(PartSpec::kind).distinct().count() == 1) return mixers.get(0).kind();
        List<String> kinds = new ArrayList<>();
        for (PartSpec s : mixers) kinds.add(s.kind());
        return String.join(",", kinds);
    }

    private static PartSpec spec(Map<String, ? extends PartType<?>> registry, String kind, PartType.Slot slot, Map<String, String> options) {
        PartType<?> t = type(registry, kind, slot);
        Map<String, String> kept = new TreeMap<>();
        for (PartOption o : t.options()) {
            if (o.scope() != PartOption.Scope.MODEL) continue;
            String v = options.get(o.key());
            if (v != null) kept.put(o.key(), o.check(v));
            else if (o.defaultValue() != null) kept.put(o.key(), o.defaultValue());
        }
        return new PartSpec(t.kind(), kept);
    }

    private static <T extends PartType<?>> T type(Map<String, T> registry, String kind, PartType.Slot slot) {
        T t = kind == null ? null : registry.get(kind.trim().toLowerCase(Locale.ROOT));
        if (t == null) {
            throw new IllegalArgumentException(slot.key + " must be one of " + String.join(", ", registry.keySet()) + ", got '" + kind + "'");
        }
        return t;
    }
}
