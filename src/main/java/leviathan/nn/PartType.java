package leviathan.nn;

import java.util.List;
import java.util.function.BiFunction;

/**
 * What the registry knows of a part before any model exists: the slot it fills, its registered
 * name, one line saying what it is, every option it reads ({@link PartOption}, model and run
 * options alike) and its constructor. A part class declares its type as a constant next to its
 * code; {@link Parts} lists the types, one line each.
 *
 * @param slot    token mixer or MLP
 * @param kind    the name {@code --attention}/{@code --mlp} and the checkpoint metadata use
 * @param summary one line for help and {@code info}
 * @param options every option the part reads, in the order the help lists them
 * @param factory builds the declaration from the model's dimensions and a spec holding its model
 *                options (validated; absent ones with a fixed default filled in)
 */
public record PartType<P extends BlockPart>(Slot slot, String kind, String summary, List<PartOption> options,
                                            BiFunction<BlockPart.Dims, PartSpec, P> factory) {

    /** The two slots of a block. */
    public enum Slot {
        MIXER("attention", "--attention"), MLP("mlp", "--mlp");

        /** The config and metadata key, and the command-line flag, that choose the part of this slot. */
        public final String key, flag;

        Slot(String key, String flag) {
            this.key = key;
            this.flag = flag;
        }
    }

    public PartType {
        options = List.copyOf(options);
    }

    public static PartType<TokenMixer> mixer(String kind, String summary, BiFunction<BlockPart.Dims, PartSpec, TokenMixer> factory,
                                             PartOption... options) {
        return new PartType<>(Slot.MIXER, kind, summary, List.of(options), factory);
    }

    public static PartType<Mlp> mlp(String kind, String summary, BiFunction<BlockPart.Dims, PartSpec, Mlp> factory, PartOption... options) {
        return new PartType<>(Slot.MLP, kind, summary, List.of(options), factory);
    }

    /** The declaration for {@code dims}, from a spec of this kind. */
    public P create(BlockPart.Dims dims, PartSpec spec) { return factory.apply(dims, spec); }
}
