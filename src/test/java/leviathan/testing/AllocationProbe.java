package leviathan.testing;

import java.io.IOException;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import jdk.jfr.Recording;
import jdk.jfr.consumer.RecordedEvent;
import jdk.jfr.consumer.RecordedFrame;
import jdk.jfr.consumer.RecordingFile;
import leviathan.backend.Backend;
import leviathan.backend.Backends;
import leviathan.backend.Precision;
import leviathan.data.TokenBatchSampler;
import leviathan.data.Tokens;
import leviathan.kernel.Parallel;
import leviathan.kernel.Simd;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.model.Workspace;
import leviathan.nn.PartSpec;
import leviathan.nn.Parts;
import leviathan.nn.RunOptions;
import leviathan.train.Optimizer;
import leviathan.train.Sampler;

/**
 * Heap bytes allocated per training step (batch, forward, backward, gradient norm, clip, AdamW),
 * per generated token ({@link Gpt#forwardIncremental}) or per {@link Sampler#stream} call, window
 * by window, so that the steady state after the JIT has compiled the kernels shows. The counters
 * read are those of the calling thread and the kernel workers ({@link AllocationMeter}).
 *
 * <pre>
 *   AllocationProbe [--mode train|generate|sample] [--steps N] [--window N]
 *                   [--attention correlation|dot|involution] [--mlp dense|moe] [--lags N] [--impl auto|direct|gemm|fft|scalar]
 *                   [--backend java|onednn] [--precision fp32|bf16] [--threads N]
 *                   [--n-layer L] [--n-embd C] [--n-head H] [--block-size T] [--batch-size B]
 *                   [--record FILE.jfr] [--max-bytes-per-step X]
 * </pre>
 * {@code --record} keeps allocation samples with stacks from the second half of the steps in a
 * flight recording and prints the sites that allocated the most there. Exits 1 when the last
 * window allocated more than {@code --max-bytes-per-step} (default 0) per step.
 */
public final class AllocationProbe {
    private AllocationProbe() {}

    public static void main(String[] args) throws Exception {
        String mode = "train", attention = "correlation", mlp = "dense", backend = "java", impl = "auto", precision = "fp32";
        int steps = 4000, window = 500, L = 2, C = 64, H = 2, T = 64, B = 4, threads = 1, lags = 4;
        long maxPerStep = 0;
        String record = null;
        for (int i = 0; i < args.length; i += 2) {
            String v = args[i + 1];
            switch (args[i]) {
                case "--mode" -> mode = v;
                case "--steps" -> steps = Integer.parseInt(v);
                case "--window" -> window = Integer.parseInt(v);
                case "--attention" -> attention = v;
                case "--mlp" -> mlp = v;
                case "--lags" -> lags = Integer.parseInt(v);
                case "--impl" -> impl = v;
                case "--backend" -> backend = v;
                case "--precision" -> precision = v;
                case "--n-layer" -> L = Integer.parseInt(v);
                case "--n-embd" -> C = Integer.parseInt(v);
                case "--n-head" -> H = Integer.parseInt(v);
                case "--block-size" -> T = Integer.parseInt(v);
                case "--batch-size" -> B = Integer.parseInt(v);
                case "--threads" -> threads = Integer.parseInt(v);
                case "--max-bytes-per-step" -> maxPerStep = Long.parseLong(v);
                case "--record" -> record = v;
                default -> throw new IllegalArgumentException("unknown option " + args[i]);
            }
        }
        Parallel.setThreads(threads);
        int V = 65;
        Map<String, String> mixerOptions = switch (attention) {
            case "correlation" -> Map.of("lags", Integer.toString(lags));
            case "involution" -> Map.of("window", Integer.toString(Math.min(T, 16)));
            default -> Map.of();
        };
        GptConfig cfg = new GptConfig(V, T, L, H, C, Parts.mixerSpec(attention, mixerOptions), PartSpec.of(mlp));
        RunOptions options = RunOptions.of("impl", impl);
        long last;
        try (Gpt m = Gpt.init(cfg, 1); Backend be = Backends.select(backend, Precision.parse(precision), s -> System.out.println(s))) {
            System.out.printf("%s, %s, impl %s, %s, %d threads, JDK %s, vector %s%n", mode, cfg.describe(), impl, be.describe(), threads,
                    Runtime.version(), Simd.ENABLED ? Simd.F.toString() : "off (scalar)");
            if (mode.equals("train")) {
                int[] text = new int[200_000];
                SplittableRandom r = new SplittableRandom(3);
                for (int i = 0; i < text.length; i++) text[i] = r.nextInt(V);
                final int bb = B, tt = T;
                try (Workspace ws = m.workspace(be, B, T, true, options);
                     Optimizer opt = new Optimizer(m, Optimizer.Kind.ADAMW, 0.9f, 0.99f, 1e-8f, 0.1f)) {
                    TokenBatchSampler sampler = new TokenBatchSampler(Tokens.of(text), 1337, V);
                    last = run(steps, window, "step", record, i -> {
                        m.zeroGrad();
                        sampler.fill(ws.tokens(), ws.targets(), bb, tt, i, 0);
                        m.forward(ws, bb, tt, true);
                        m.backward(ws, bb, tt, 1f);
                        double norm = opt.gradNorm();
                        opt.step(1e-3f, norm > 1 ? (float) (1 / norm) : 1f);   // clipping as the trainer does it
                    });
                }
            } else if (mode.equals("sample")) {
                try (Sampler sampler = new Sampler(m, be, options)) {
                    var opts = new Sampler.Options(T, 0.8f, 10, 0.9f, 7, true);
                    int[] prompt = {1, 2, 3};
                    Sampler.TokenSink none = t -> true;
                    last = run(steps, window, "call", record, i -> sampler.stream(prompt, opts, none));
                }
            } else {
                final int tt = T;
                try (Workspace ws = m.workspace(be, 1, T, false, options)) {
                    last = run(steps, window, "token", record, i -> {
                        int t = i % tt;
                        ws.tokens().setAtIndex(ValueLayout.JAVA_INT, t, (i * 7) % V);
                        m.forwardIncremental(ws, t);
                    });
                }
            }
        }
        if (last > maxPerStep) {
            System.out.printf("FAIL: %d bytes per step in the last window, more than %d%n", last, maxPerStep);
            System.exit(1);
        }
    }

    interface Step { void run(int i); }

    /** Runs the steps, printing bytes per step for each window; returns the last window's figure. */
    static long run(int steps, int window, String unit, String record, Step step) throws IOException {
        AllocationMeter meter = new AllocationMeter();
        long t0 = System.nanoTime(), perStep = 0;
        Recording rec = null;
        meter.start();
        for (int i = 0; i < steps; i++) {
            if (record != null && i == steps / 2) rec = startRecording();
            step.run(i);
            if ((i + 1) % window == 0) {
                long bytes = meter.bytes();
                perStep = bytes / window;
                System.out.printf("%,8d %ss: %,10d bytes/%s (%,d in the window, %d threads)  (%.1f s)%n", i + 1, unit, perStep, unit,
                        bytes, meter.threads(), (System.nanoTime() - t0) / 1e9);
                meter.start();
            }
        }
        if (rec != null) {
            rec.stop();
            Path file = Path.of(record);
            rec.dump(file);
            rec.close();
            System.out.println("allocation samples of the second half written to " + file + "; the sites that allocated most:");
            printSites(file, 12);
        }
        return perStep;
    }

    /** A recording of allocation samples with stacks; each sample weighs the bytes allocated since the previous one. */
    static Recording startRecording() {
        Recording r = new Recording();
        r.enable("jdk.ObjectAllocationSample").withStackTrace().with("throttle", "1000000/s");
        r.start();
        return r;
    }

    /** The {@code top} allocation sites of a recording by sampled weight: class, then the first engine frame and its callers. */
    static void printSites(Path file, int top) throws IOException {
        Map<String, Long> bytes = new HashMap<>();
        long total = 0;
        for (RecordedEvent e : RecordingFile.readAllEvents(file)) {
            if (!e.getEventType().getName().equals("jdk.ObjectAllocationSample") || e.getStackTrace() == null) continue;
            List<RecordedFrame> frames = e.getStackTrace().getFrames();
            int first = 0;
            while (first < frames.size() && !frames.get(first).getMethod().getType().getName().startsWith("leviathan.")) first++;
            if (first < frames.size() && frames.get(first).getMethod().getType().getName().endsWith("AllocationProbe")) continue;
            if (first == frames.size()) first = 0;                    // no engine frame: the allocating frames themselves
            StringBuilder site = new StringBuilder(e.getClass("objectClass").getName());
            for (int f = first; f < Math.min(frames.size(), first + 4); f++) {
                RecordedFrame fr = frames.get(f);
                site.append(f == first ? " at " : " < ").append(fr.getMethod().getType().getName().replace("leviathan.", ""))
                        .append('.').append(fr.getMethod().getName()).append(':').append(fr.getLineNumber());
            }
            long w = e.getLong("weight");
            bytes.merge(site.toString(), w, Long::sum);
            total += w;
        }
        long all = total;
        bytes.entrySet().stream().sorted(Map.Entry.<String, Long>comparingByValue().reversed()).limit(top)
                .forEach(s -> System.out.printf("  %5.1f%%  %s%n", 100.0 * s.getValue() / Math.max(1, all), s.getKey()));
    }
}
