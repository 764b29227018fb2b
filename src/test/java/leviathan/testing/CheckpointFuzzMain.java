package leviathan.testing;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import leviathan.backend.JavaBackend;
import leviathan.data.CharTokenizer;
import leviathan.model.Checkpoint;
import leviathan.model.CheckpointException;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.model.Json;
import leviathan.model.Workspace;

/**
 * The checkpoint fuzzer of {@code CheckpointFuzzTest} ({@link CheckpointMutator}), for as long as asked: seeded mutations of
 * valid checkpoints, each of which must load correctly (and then run) or fail with one
 * {@link CheckpointException} naming the file. Anything else (another exception, an error, an
 * out-of-memory, an iteration that hangs) is written to {@code --out} with its seed and mutation,
 * and makes the exit status non-zero.
 *
 * <pre>
 * benchmarks/fuzz-checkpoints.sh --seconds 600 --workers 2
 * </pre>
 *
 * Options: {@code --seconds N} (default 60), {@code --seed S} (default 1; iteration {@code i} of
 * worker {@code w} uses seed {@code S + i·workers + w}), {@code --workers N} (default 1),
 * {@code --out DIR} (default {@code target/fuzz}).
 */
public final class CheckpointFuzzMain {
    private CheckpointFuzzMain() {}

    /** An iteration running longer than this is reported as a hang. */
    static final long HANG_NANOS = 20_000_000_000L;

    public static void main(String[] args) throws Exception {
        long seconds = 60, seed = 1;
        int workers = 1;
        Path out = Path.of("target", "fuzz");
        for (int i = 0; i < args.length; i++) {
            String a = args[i];
            if (i + 1 >= args.length) throw new IllegalArgumentException("option " + a + " needs a value");
            switch (a) {
                case "--seconds" -> seconds = Long.parseLong(args[++i]);
                case "--seed" -> seed = Long.parseLong(args[++i]);
                case "--workers" -> workers = Integer.parseInt(args[++i]);
                case "--out" -> out = Path.of(args[++i]);
                default -> throw new IllegalArgumentException("unknown option " + a + " (known: --seconds, --seed, --workers, --out)");
            }
        }
        Files.createDirectories(out);
        CharTokenizer tok = CharTokenizer.fromText("abcdefg\n ");
        List<byte[]> seeds = List.of(
                CheckpointMutator.valid(out, GptConfig.of(tok.vocabSize(), 8, 1, 2, 8, "correlation", 2), tok),
                CheckpointMutator.valid(out, GptConfig.of(tok.vocabSize(), 4, 2, 1, 4, "dot", 1), tok));
        long deadline = System.nanoTime() + seconds * 1_000_000_000L;
        AtomicLong iterations = new AtomicLong(), loaded = new AtomicLong(), failures = new AtomicLong();
        Map<String, Long> refusals = new ConcurrentHashMap<>();
        long[] startedAt = new long[workers];
        String[] current = new String[workers];
        List<Thread> threads = new ArrayList<>();
        final long baseSeed = seed;
        final int n = workers;
        final Path outDir = out;
        for (int w = 0; w < workers; w++) {
            final int worker = w;
            Thread t = new Thread(() -> {
                Path file = outDir.resolve("work-" + worker + ".safetensors");
                for (long i = 0; System.nanoTime() < deadline; i++) {
                    long s = baseSeed + i * n + worker;
                    SplittableRandom r = new SplittableRandom(s);
                    byte[] original = seeds.get(r.nextInt(seeds.size()));
                    StringBuilder what = new StringBuilder();
                    byte[] mutated = CheckpointMutator.mutate(original, r, what);
                    synchronized (startedAt) {
                        startedAt[worker] = System.nanoTime();
                        current[worker] = "seed " + s + ": " + what;
                    }
                    try {
                        Files.write(file, mutated);
                        String problem = CheckpointMutator.check(file);
                        if (problem == null) loaded.incrementAndGet();
                        else refusals.merge(problem, 1L, Long::sum);
                    } catch (Throwable e) {
                        failures.incrementAndGet();
                        report(outDir, s, what, mutated, e);
                    }
                    synchronized (startedAt) {
                        startedAt[worker] = 0;
                    }
                    iterations.incrementAndGet();
                }
            }, "fuzz-" + w);
            t.setDaemon(true);
            threads.add(t);
            t.start();
        }
        long lastReport = System.nanoTime();
        while (threads.stream().anyMatch(Thread::isAlive)) {
            Thread.sleep(200);
            synchronized (startedAt) {
                for (int w = 0; w < workers; w++) {
                    if (startedAt[w] != 0 && System.nanoTime() - startedAt[w] > HANG_NANOS) {
                        Files.writeString(outDir.resolve("hang.txt"), current[w] + "\n");
                        System.out.println("HANG: " + current[w] + " (written to " + outDir.resolve("hang.txt") + ")");
                        System.exit(2);
                    }
                }
            }
            if (System.nanoTime() - lastReport > 10_000_000_000L) {
                lastReport = System.nanoTime();
                System.out.printf("%,d iterations, %,d loaded, %,d distinct refusals, %d failures%n",
                        iterations.get(), loaded.get(), refusals.size(), failures.get());
            }
        }
        System.out.printf("done: %,d iterations in %d s (%d workers), %,d loaded, %,d refused, %d failures%n", iterations.get(), seconds,
                workers, loaded.get(), refusals.values().stream().mapToLong(Long::longValue).sum(), failures.get());
        refusals.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed())
                .forEach(e -> System.out.printf("%10d  %s%n", e.getValue(), e.getKey()));
        System.exit(failures.get() == 0 ? 0 : 1);
    }

    static void report(Path out, long seed, CharSequence what, byte[] input, Throwable e) {
        try {
            Files.write(out.resolve("failure-" + seed + ".safetensors"), input);
            StringWriter trace = new StringWriter();
            e.printStackTrace(new PrintWriter(trace));
            Files.writeString(out.resolve("failure-" + seed + ".txt"), "seed " + seed + ": " + what + "\n" + trace);
            System.out.println("FAILURE seed " + seed + ": " + what + ": " + e);
        } catch (IOException io) {
            System.out.println("FAILURE seed " + seed + " (could not be written: " + io + "): " + e);
        }
    }

}
