package leviathan.cli;

import java.util.function.Consumer;
import leviathan.api.LanguageModel;
import picocli.CommandLine.Option;

/**
 * The engine options shared by the commands that load a checkpoint to generate ({@code sample}, {@code serve});
 * those commands also take the part flags that apply at inference ({@link PartFlags}).
 */
final class EngineOptions {
    @Option(names = "--backend", paramLabel = "auto|java|onednn", description = "GEMM backend (default: ${DEFAULT-VALUE}).")
    String backend = "auto";
    @Option(names = "--threads", description = "Kernel threads, 0 = all cores (default: ${DEFAULT-VALUE}).")
    int threads = 0;

    @picocli.CommandLine.Spec(picocli.CommandLine.Spec.Target.MIXEE)
    picocli.CommandLine.Model.CommandSpec command;

    /** The options, checked, with the part flags the command took ({@link PartFlags}), as the API's settings; {@code log} gets the backend line. */
    LanguageModel.Settings settings(Consumer<String> log) {
        return new LanguageModel.Settings(backend, Options.threads(threads), PartFlags.given(command.commandLine().getParseResult()), log);
    }
}
