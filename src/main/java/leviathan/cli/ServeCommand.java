package leviathan.cli;

import java.lang.management.ManagementFactory;
import java.net.BindException;
import java.nio.file.Path;
import java.time.Duration;
import java.util.concurrent.Callable;
import java.util.concurrent.CountDownLatch;
import leviathan.api.LanguageModel;
import leviathan.server.CompletionServer;
import leviathan.server.HttpAccess;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code leviathan serve}: an OpenAI-compatible completion server (see {@link CompletionServer}). */
@Command(name = "serve", mixinStandardHelpOptions = true, sortOptions = false,
        description = "Serve a checkpoint over HTTP: OpenAI-compatible /v1/completions (with streaming), /v1/models, /health, /metrics, and a playground at /.")
final class ServeCommand implements Callable<Integer>, PartFlags.Taker {
    @Override public boolean buildsModels() { return false; }

    @Option(names = "--checkpoint", required = true, paramLabel = "FILE", description = "A model.safetensors written by train.")
    Path checkpoint;
    @Mixin
    ListenOptions listen = new ListenOptions(8080);
    @Option(names = "--slots", description = "Generations in progress at once; they take turns token by token, so more slots than cores cost memory, not first-token latency (default: the core count, ${DEFAULT-VALUE}).")
    int slots = Runtime.getRuntime().availableProcessors();
    @Option(names = "--turns", description = "Token steps computing at once across the slots (default: the core count, ${DEFAULT-VALUE}).")
    int turns = Runtime.getRuntime().availableProcessors();
    @Option(names = "--queue", description = "Requests that may wait for a slot; beyond that, 429 (default: ${DEFAULT-VALUE}).")
    int queue = 64;
    @Option(names = "--max-tokens", description = "Cap on a request's max_tokens (default: ${DEFAULT-VALUE}).")
    int maxTokens = 4096;
    @Option(names = "--max-body", paramLabel = "BYTES", description = "Cap on a request body; larger ones get 413 (default: ${DEFAULT-VALUE}).")
    int maxBody = 1 << 20;
    @Option(names = "--max-choices", description = "Cap on prompts x n per request (default: ${DEFAULT-VALUE}).")
    int maxChoices = 16;
    @Option(names = "--timeout", paramLabel = "SECONDS", description = "Time bound per completion request, queueing included (default: ${DEFAULT-VALUE}).")
    double timeout = 300;
    @Option(names = "--write-timeout", paramLabel = "SECONDS", description = "Deadline of each write to a client; one that reads nothing for this long is disconnected and its slot freed (default: ${DEFAULT-VALUE}).")
    double writeTimeout = 30;
    @Option(names = "--drain", paramLabel = "SECONDS", description = "On SIGTERM, how long in-flight requests may finish before they are cancelled (default: ${DEFAULT-VALUE}).")
    double drain = 30;
    @Option(names = "--warmup", paramLabel = "CHARS", description = "Characters to generate before listening, so that the first requests do not wait for the JIT (default: ${DEFAULT-VALUE}).")
    int warmup = 0;
    @Option(names = "--model-name", description = "Model id clients see (default: the checkpoint's file or directory name).")
    String modelName;
    @Mixin
    EngineOptions engine;
    @Mixin
    VerboseOption verbose;

    @Override
    public Integer call() throws Exception {
        if (!(timeout > 0 && timeout <= 86_400)) throw new IllegalArgumentException("--timeout must be in (0, 86400] seconds, got " + timeout);
        if (!(writeTimeout > 0 && writeTimeout <= 86_400)) throw new IllegalArgumentException("--write-timeout must be in (0, 86400] seconds, got " + writeTimeout);
        if (!(drain >= 0 && drain <= 86_400)) throw new IllegalArgumentException("--drain must be in [0, 86400] seconds, got " + drain);
        if (slots < 1 || slots > 4096) throw new IllegalArgumentException("--slots must be in [1, 4096], got " + slots);
        if (turns < 1 || turns > 4096) throw new IllegalArgumentException("--turns must be in [1, 4096], got " + turns);
        if (queue < 0 || queue > 1_000_000) throw new IllegalArgumentException("--queue must be in [0, 1000000], got " + queue);
        if (maxTokens < 1) throw new IllegalArgumentException("--max-tokens must be >= 1, got " + maxTokens);
        if (maxBody < 1) throw new IllegalArgumentException("--max-body must be >= 1, got " + maxBody);
        if (maxChoices < 1) throw new IllegalArgumentException("--max-choices must be >= 1, got " + maxChoices);
        if (warmup < 0) throw new IllegalArgumentException("--warmup must be >= 0, got " + warmup);
        String key = listen.validatedKey();
        String name = modelName != null ? modelName : defaultName(checkpoint);
        CompletionServer.Config cfg = new CompletionServer.Config(listen.host, listen.port, slots, queue, key, maxTokens, maxBody,
                Duration.ofMillis((long) (timeout * 1000)), maxChoices, name, turns, Duration.ofMillis((long) (writeTimeout * 1000)));
        CountDownLatch stop = new CountDownLatch(1);
        // SIGTERM/SIGINT from here on (model loading and warm-up included) end the command cleanly, with exit status 0
        Signals.onTermination(stop::countDown);
        try (LanguageModel lm = LanguageModel.load(checkpoint, engine.settings(System.err::println))) {
            if (warmup > 0 && stop.getCount() > 0) {
                long w0 = System.nanoTime();
                System.err.println("serve: warming up with " + warmup + " characters");
                lm.stream("", new LanguageModel.Generation(warmup, 1f, 0, 1f, 1, true, null, null), t -> stop.getCount() > 0);
                if (stop.getCount() > 0) System.err.printf("serve: warmed up with %d characters in %.1f s%n", warmup, (System.nanoTime() - w0) / 1e9);
            }
            if (stop.getCount() == 0) {
                System.err.println("serve: stopped before listening (signal received while loading or warming up)");
                return 0;
            }
            CompletionServer server;
            try {
                server = CompletionServer.start(lm, cfg, System.err::println);
            } catch (BindException e) {
                throw listen.cannotListen(e);
            }
            long readyMs = ManagementFactory.getRuntimeMXBean().getUptime();
            System.err.println("serve: listening on http://" + HttpAccess.hostForUrl(listen.host) + ":" + server.port() + " (model '" + name + "', "
                    + cfg.slots() + " slots, queue " + cfg.queue() + (key == null ? "" : ", API key required") + "); ready "
                    + readyMs + " ms after the JVM started");
            server.onFailure(stop::countDown);                         // an Error in a request: drain and exit non-zero
            stop.await();
            System.err.println("serve: stopping; in-flight requests may finish within " + drain + " s");
            int cancelled = server.shutdown(Duration.ofMillis((long) (drain * 1000)));
            System.err.println("serve: stopped" + (cancelled > 0 ? " (" + cancelled + " request(s) cancelled at the deadline)" : ""));
            Error failure = server.failure();
            if (failure instanceof OutOfMemoryError oom) {
                throw new IllegalStateException("the server stopped after a request ran out of memory (" + oom.getMessage()
                        + "): lower --slots, --max-body, --max-tokens or --max-choices, or give it more memory (LEVIATHAN_HEAP)");
            }
            if (failure != null) {
                throw new IllegalStateException("the server stopped after an internal error in a request: " + Main.describe(failure));
            }
        }
        return 0;
    }

    /** The checkpoint's file name without {@code .safetensors}, or its directory's name for {@code model.safetensors}. */
    static String defaultName(Path checkpoint) {
        Path abs = checkpoint.toAbsolutePath().normalize();
        String f = abs.getFileName().toString().replaceFirst("\\.safetensors$", "");
        if (f.equals("model") && abs.getParent() != null && abs.getParent().getFileName() != null) return abs.getParent().getFileName().toString();
        return f;
    }

    /** SIGTERM and SIGINT start the drain instead of killing the JVM, so that the exit status is 0. */
    static final class Signals {
        private Signals() {}

        @SuppressWarnings("removal")
        static void onTermination(Runnable r) {
            for (String sig : new String[] {"TERM", "INT"}) {
                try {
                    sun.misc.Signal.handle(new sun.misc.Signal(sig), s -> r.run());
                } catch (IllegalArgumentException | UnsupportedOperationException e) {
                    // a platform without this signal: the shutdown hook below still drains, exit status aside
                }
            }
            Runtime.getRuntime().addShutdownHook(Thread.ofPlatform().unstarted(r));
        }
    }
}
