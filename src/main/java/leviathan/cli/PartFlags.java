package leviathan.cli;

import java.util.LinkedHashMap;
import java.util.Map;
import leviathan.nn.PartOption;
import leviathan.nn.PartType;
import leviathan.nn.Parts;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Model.OptionSpec;
import picocli.CommandLine.ParseResult;

/**
 * The command-line flags of the block parts, made from the parts' own declarations
 * ({@link Parts}, {@link PartOption}): {@code --attention} and {@code --mlp}, and one flag per
 * part option with its label, help and default. {@code train} takes every flag; the commands that
 * run a saved model take the run options that apply at inference (the kernel choice).
 */
final class PartFlags {
    private PartFlags() {}

    /** A command that takes part flags. */
    interface Taker {
        /** True for a command that builds a model (every flag), false for one that runs a saved model. */
        boolean buildsModels();
    }

    /** Adds the flags to {@code spec}. */
    static void install(CommandSpec spec, boolean buildsModels) {
        if (buildsModels) {
            spec.addOption(slotFlag(PartType.Slot.MIXER, "Token mixer of every layer, or one per layer comma-separated (a hybrid stack,"
                    + " e.g. involution,involution,dot,dot)"));
            spec.addOption(slotFlag(PartType.Slot.MLP, "MLP of every layer"));
        }
        for (PartOption o : Parts.options().values()) {
            if (!buildsModels && !o.atInference()) continue;
            spec.addOption(OptionSpec.builder(o.flag()).paramLabel(o.label()).type(String.class).description(o.description()).build());
        }
    }

    private static OptionSpec slotFlag(PartType.Slot slot, String help) {
        var kinds = Parts.of(slot).keySet();
        StringBuilder d = new StringBuilder(help).append(": ");
        for (var t : Parts.of(slot).values()) d.append(t.kind()).append(" (").append(t.summary()).append("); ");
        d.append("default: ").append(Parts.defaultKind(slot)).append('.');
        return OptionSpec.builder(slot.flag).paramLabel(String.join("|", kinds)).type(String.class).description(d.toString()).build();
    }

    /** The kind named for {@code slot} on the command line, or the slot's default. */
    static String kind(ParseResult parsed, PartType.Slot slot) {
        return parsed.matchedOptionValue(slot.flag, Parts.defaultKind(slot));
    }

    /** The part options given on the command line, by key, checked against their declarations. */
    static Map<String, String> given(ParseResult parsed) {
        Map<String, String> values = new LinkedHashMap<>();
        for (PartOption o : Parts.options().values()) {
            if (parsed.hasMatchedOption(o.flag())) values.put(o.key(), parsed.matchedOptionValue(o.flag(), ""));
        }
        return Parts.check(values);
    }
}
