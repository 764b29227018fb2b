package leviathan.cli;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.Callable;
import leviathan.api.LanguageModel;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code leviathan sample}: streams generated text from a checkpoint. */
@Command(name = "sample", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Generate text from a checkpoint, printing characters as they are drawn.")
final class SampleCommand implements Callable<Integer>, PartFlags.Taker {
    @Override public boolean buildsModels() { return false; }

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
    @Option(names = "--top-p", description = "Keep the most likely characters whose probability reaches p, 1 = all (default: ${DEFAULT-VALUE}).")
    float topP = 1f;
    @Option(names = "--stop", paramLabel = "TEXT", description = "Stop when this text appears (left out of the output); repeatable.")
    List<String> stop = new ArrayList<>();
    @Option(names = "--seed", description = "Sampling seed (default: ${DEFAULT-VALUE}).")
    long seed = 1337;
    @Option(names = "--drop-unknown", description = "Drop prompt characters outside the vocabulary instead of failing.")
    boolean dropUnknown;
    @Mixin
    EngineOptions engine;
    @Option(names = "--context-shift", description = "When the context fills, keep its last half (recomputed once) and continue incrementally, "
            + "instead of sliding the exact block_size window every character: much faster past the context, but a character "
            + "is then sometimes conditioned on only half a context.")
    boolean contextShift;
    @Mixin
    VerboseOption verbose;

    @Override
    public Integer call() throws Exception {
        if (tokens < 0) throw new IllegalArgumentException("--tokens must be >= 0, got " + tokens);
        if (topK < 0) throw new IllegalArgumentException("--top-k must be >= 0, got " + topK);
        if (!(temperature >= 0) || Float.isInfinite(temperature)) throw new IllegalArgumentException("--temperature must be a finite number >= 0, got " + temperature);
        if (!(topP > 0 && topP <= 1)) throw new IllegalArgumentException("--top-p must be in (0, 1], got " + topP);
        for (String s : stop) if (s.isEmpty()) throw new IllegalArgumentException("--stop must not be empty");
        LanguageModel.Generation g = new LanguageModel.Generation(tokens, temperature, topK, topP, seed, dropUnknown, stop, null, contextShift);
        // flushed per character so that the text appears as it is drawn; checkError sees a closed stdout
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), false, StandardCharsets.UTF_8);
        try (LanguageModel lm = LanguageModel.load(checkpoint, engine.settings(System.err::println))) {
            // the prompt as the model reads it (without characters --drop-unknown dropped), printed with the first
            // generated character: a model refused during generation leaves nothing on stdout
            String shown = lm.tokenizer().decode(lm.tokenizer().encode(prompt, dropUnknown));
            boolean[] started = {false};
            lm.stream(prompt, g, t -> {
                if (!started[0]) {
                    started[0] = true;
                    out.print(shown);
                }
                out.print(t);
                out.flush();
                return !out.checkError();                     // stdout closed (e.g. `| head`): stop
            });
            if (!started[0]) out.print(shown);
            out.println();
            out.flush();
        }
        return 0;
    }
}
