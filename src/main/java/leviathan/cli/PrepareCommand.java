package leviathan.cli;

import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;
import leviathan.data.Datasets;
import leviathan.data.TokenFile;
import leviathan.data.TokenFiles;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code leviathan prepare}: a text of any size into a memory-mapped token file. */
@Command(name = "prepare", mixinStandardHelpOptions = true, sortOptions = false,
        description = {"Tokenize a UTF-8 text into a token file (uint8 or uint16 ids, memory-mapped by train and eval).",
                "Streams the text twice and never holds it in memory. Without --out the file goes to the cache that",
                "train and eval look in (leviathan.tokens.dir, default ~/.cache/leviathan/tokens)."})
final class PrepareCommand implements Callable<Integer> {
    @Option(names = "--data", paramLabel = "NAME|FILE", description = "Dataset name or text file (default: ${DEFAULT-VALUE}).")
    String data = "tinyshakespeare";
    @Option(names = "--out", paramLabel = "DIR", description = "Write DIR/<file name>.tokens instead of into the cache.")
    Path out;
    @Mixin
    VerboseOption verbose;

    @Override
    public Integer call() throws Exception {
        Path text = Datasets.resolve(data, Datasets.home(), System.err::println);
        if (TokenFile.isTokenFile(text)) throw new IllegalArgumentException(text + " is already a token file");
        Path target;
        if (out != null) {
            if (Files.exists(out) && !Files.isDirectory(out)) throw new IllegalArgumentException("--out " + out + " is not a directory");
            Files.createDirectories(out);
            target = out.resolve(text.getFileName() + ".tokens");
        } else {
            target = TokenFiles.cachePath(text, null, false);
            Files.createDirectories(target.getParent());
        }
        long t0 = System.nanoTime();
        TokenFiles.Progress progress = System.console() != null ? new TokenFiles.ProgressLine(System.err)
                : TokenFiles.ProgressLine.plain(System.err::println);
        TokenFile.Header h = TokenFiles.prepare(text, target, null, false, progress);
        System.out.printf("prepared %s%n", target);
        System.out.printf("  %,d characters (%,d train, %,d val), vocabulary %d, %s, %,d bytes, %.1f s%n", h.count(), h.trainEnd(),
                h.count() - h.trainEnd(), h.vocabulary().vocabSize(), h.bytesPerToken() == 1 ? "uint8" : "uint16", h.fileSize(),
                (System.nanoTime() - t0) / 1e9);
        System.out.printf("  source %s (%,d bytes, sha256 %s)%n", h.source().path(), h.source().size(), h.source().sha256());
        return 0;
    }
}
