package leviathan.cli;

import java.util.ArrayList;
import java.util.Iterator;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;

/**
 * Named training recipes ({@code train --recipe NAME}): a name for a set of {@code train} flags that a
 * measured study found (benchmarks/results/speedrun.md). A recipe expands in place of its name; a flag the
 * user also gives wins over the recipe's, and {@code --steps} replaces a recipe's {@code --time}.
 */
final class Recipes {
    private Recipes() {}

    /** One named recipe: its flags (every one an option with one value) and where its numbers come from. */
    record Recipe(String name, List<String> flags, String summary) {
        Recipe {
            if (flags.size() % 2 != 0) throw new IllegalArgumentException("recipe " + name + ": flags come in option-value pairs");
            for (int i = 0; i < flags.size(); i += 2) {
                if (!flags.get(i).startsWith("--") || flags.get(i + 1).startsWith("--")) {
                    throw new IllegalArgumentException("recipe " + name + ": " + flags.get(i) + " " + flags.get(i + 1) + " is not an option and its value");
                }
            }
        }

        /** The flags as one line, as printed at the start of a run. */
        String line() { return String.join(" ", flags); }
    }

    /** Every recipe, in the order {@code --help} lists them. */
    static final List<Recipe> ALL = List.of(
            new Recipe("speedrun-10m", List.of("--time", "10m", "--attention", "involution,involution,involution,dot", "--mlp", "moe"),
                    "the best 10-minute recipe of the speedrun study on a 2-vCPU machine: three local involution layers under one dot layer, MoE MLPs (docs/speedrun.md)"));

    static final String OPTION = "--recipe";

    /** The recipe called {@code name}, or an error that lists the known names. */
    static Recipe named(String name) {
        for (Recipe r : ALL) if (r.name().equals(name)) return r;
        throw new IllegalArgumentException("no recipe called '" + name + "'; known: " + names());
    }

    static String names() { return ALL.stream().map(Recipe::name).collect(Collectors.joining(", ")); }

    /** For picocli's {@code ${COMPLETION-CANDIDATES}} in {@code train --help}. */
    static final class Names implements Iterable<String> {
        @Override public Iterator<String> iterator() { return ALL.stream().map(Recipe::name).iterator(); }
    }

    /** Options that stand for each other: giving one drops the recipe's other. */
    private static final Map<String, Set<String>> ALTERNATIVES = Map.of("--steps", Set.of("--time"), "--time", Set.of("--steps"));

    /**
     * {@code args} of a {@code train} command with its {@code --recipe NAME} expanded: the recipe's flags
     * follow {@code train}, less every option the user gives too (and its alternative); {@code --recipe
     * NAME} stays, for the command to print. Any other command line comes back as it is.
     */
    static String[] expand(String[] args) {
        if (args.length == 0 || !args[0].equals("train")) return args;
        String name = null;
        for (int i = 1; i < args.length; i++) {
            if (args[i].equals(OPTION)) {
                if (i + 1 >= args.length) return args;                  // picocli says that the value is missing
                if (name != null) throw new IllegalArgumentException(OPTION + " given twice");
                name = args[++i];
            } else if (args[i].startsWith(OPTION + "=")) {
                if (name != null) throw new IllegalArgumentException(OPTION + " given twice");
                name = args[i].substring(OPTION.length() + 1);
            }
        }
        if (name == null) return args;
        Recipe r = named(name);
        Set<String> given = new java.util.HashSet<>();
        for (int i = 1; i < args.length; i++) {
            if (args[i].startsWith("--")) {
                String opt = args[i].contains("=") ? args[i].substring(0, args[i].indexOf('=')) : args[i];
                given.add(opt);
                given.addAll(ALTERNATIVES.getOrDefault(opt, Set.of()));
            }
        }
        if (given.contains("--resume")) {
            throw new IllegalArgumentException(OPTION + " starts a new run; --resume continues one with its own config.json");
        }
        List<String> out = new ArrayList<>();
        out.add(args[0]);
        for (int i = 0; i < r.flags().size(); i += 2) {
            if (!given.contains(r.flags().get(i))) {
                out.add(r.flags().get(i));
                out.add(r.flags().get(i + 1));
            }
        }
        out.addAll(List.of(args).subList(1, args.length));
        return out.toArray(String[]::new);
    }
}
