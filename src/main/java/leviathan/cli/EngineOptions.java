package leviathan.cli;

import java.util.function.Consumer;
import leviathan.api.LanguageModel;
import picocli.CommandLine.Option;

/** The engine options shared by the commands that load a checkpoint to generate ({@code sample}, {@code serve}). */
final class EngineOptions {
    @Option(names = "--backend", paramLabel = "auto|java|onednn", description = "GEMM backend (default: ${DEFAULT-VALUE}).")
    String backend = "auto";
    @Option(names = "--impl", paramLabel = "auto|scalar|direct|gemm|fft", description = "Correlation implementation (default: ${DEFAULT-VALUE}).")
    String impl = "auto";
    @Option(names = "--threads", description = "Kernel threads, 0 = all cores (default: ${DEFAULT-VALUE}).")
    int threads = 0;

    /** The options, checked, as the API's settings; {@code log} gets the backend line. */
    LanguageModel.Settings settings(Consumer<String> log) {
        return new LanguageModel.Settings(backend, Options.threads(threads), Options.impl(impl), log);
    }
}
