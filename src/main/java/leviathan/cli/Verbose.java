package leviathan.cli;

import picocli.CommandLine;

/** {@code --verbose}: adds stack traces to error messages. */
final class Verbose {
    private Verbose() {}

    static boolean enabled(CommandLine.ParseResult parseResult) {
        for (CommandLine.ParseResult p = parseResult; p != null; p = p.subcommand()) {
            if (p.hasMatchedOption("--verbose")) return true;
        }
        return false;
    }
}
