package leviathan.cli;

import picocli.CommandLine.Option;

/** {@code --verbose} on every command (read back from the parse result by {@link Verbose}). */
final class VerboseOption {
    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;
}
