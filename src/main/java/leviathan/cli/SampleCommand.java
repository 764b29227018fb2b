package leviathan.cli;

import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import leviathan.api.LanguageModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;

/** {@code leviathan sample}: streams generated text from a checkpoint. */
@Command(name = "sample", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Generate text from a checkpoint, printing characters as they are drawn.")
final class SampleCommand implements Callable<Integer> {
    @Option(names = "--checkpoint", required = true, paramLabel = "FILE", description = "A model.safetensors written by train.")
    Path checkpoint;
    @Option(names = "--prompt", description = "Text to continue (default: a newline).")
    String prompt = "\n";
    @Option(names = "--tokens", description = "Characters to generate (default: ${DEFAULT-VALUE}).")
    int tokens = 500;
    @Option(names = "--temperature", description = "Softmax temperature, 0 = greedy (default: ${DEFAULT-VALUE}).")
    float temperature = 1.0f;
    @Option(names = "--top-k", description = "Keep the k most likely characters, 0 = all (default: ${DEFAULT-VALUE}).")
    int topK = 0;
    @Option(names = "--seed", description = "Sampling seed (default: ${DEFAULT-VALUE}).")
    long seed = 1337;
    @Option(names = "--drop-unknown", description = "Drop prompt characters outside the vocabulary instead of failing.")
    boolean dropUnknown;
    @Option(names = "--backend", paramLabel = "auto|java|onednn", description = "GEMM backend (default: ${DEFAULT-VALUE}).")
    String backend = "auto";
    @Option(names = "--threads", description = "Kernel threads, 0 = all cores (default: ${DEFAULT-VALUE}).")
    int threads = 0;
    @Option(names = "--verbose", description = "Print stack traces on errors.")
    boolean verbose;

    @Override
    public Integer call() throws Exception {
        if (tokens < 0) throw new IllegalArgumentException("--tokens must be >= 0, got " + tokens);
        if (topK < 0) throw new IllegalArgumentException("--top-k must be >= 0, got " + topK);
        PrintStream out = new PrintStream(System.out, true, StandardCharsets.UTF_8);
        try (LanguageModel lm = LanguageModel.load(checkpoint, new LanguageModel.Settings(backend, threads, s -> System.err.println(s)))) {
            out.print(prompt);
            lm.generate(prompt, new LanguageModel.Generation(tokens, temperature, topK, seed, dropUnknown), out::print);
            out.println();
        }
        return 0;
    }
}
