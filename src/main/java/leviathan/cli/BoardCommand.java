package leviathan.cli;

import java.net.BindException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import leviathan.board.BoardServer;
import leviathan.data.Datasets;
import leviathan.server.HttpAccess;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;
import picocli.CommandLine.Parameters;

/** {@code leviathan board}: a local web page that lists, plots and compares training runs as they train (see {@link BoardServer}). */
@Command(name = "board", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Serve a page that lists the runs under DIR (default: runs/), plots their losses live against step or wall-clock"
                + " time, and shows each run's config, sample, learned lag-bias or window weights and expert loads; runs compare side by"
                + " side. It only reads the run directories.")
final class BoardCommand implements Callable<Integer> {
    @Parameters(arity = "0..*", paramLabel = "DIR", description = "Run directories, or directories holding runs (default: runs/ of the project).")
    List<Path> dirs;
    @Mixin
    ListenOptions listen = new ListenOptions(8090);
    @Option(names = "--interval", paramLabel = "SECONDS", description = "How often the run directories are read again (default: ${DEFAULT-VALUE}).")
    double interval = 1;
    @Mixin
    VerboseOption verbose;

    @Override
    public Integer call() throws Exception {
        if (!(interval >= 0.05 && interval <= 3600)) throw new IllegalArgumentException("--interval must be in [0.05, 3600] seconds, got " + interval);
        String key = listen.validatedKey();
        List<Path> roots = dirs == null || dirs.isEmpty() ? List.of(Datasets.home().resolve("runs")) : dirs;
        for (Path d : roots) {
            if (!Files.isDirectory(d)) {
                throw new IllegalArgumentException(d + (Files.exists(d) ? " is not a directory" : " does not exist")
                        + ": give directories that hold runs (train writes them to runs/ or --out)");
            }
        }
        BoardServer server;
        try {
            server = BoardServer.start(roots, listen.host, listen.port, key, Duration.ofMillis((long) (interval * 1000)), System.err::println);
        } catch (BindException e) {
            throw listen.cannotListen(e);
        }
        CountDownLatch stop = new CountDownLatch(1);
        ServeCommand.Signals.onTermination(stop::countDown);
        System.err.println("board: " + server.runCount() + " runs under " + roots + "; open http://" + HttpAccess.hostForUrl(listen.host) + ":"
                + server.port() + "/" + (key == null ? "" : " (API key required)"));
        stop.await();
        server.close();
        return 0;
    }
}
