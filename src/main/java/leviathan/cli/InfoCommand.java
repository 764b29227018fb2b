package leviathan.cli;

import java.util.concurrent.Callable;
import leviathan.backend.Backend;
import leviathan.backend.Backends;
import leviathan.backend.CpuFeatures;
import leviathan.backend.OneDnnBackend;
import leviathan.backend.OneDnnLoader;
import leviathan.kernel.Parallel;
import leviathan.kernel.Simd;
import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Option;

/** {@code leviathan info}: what this machine gives the engine. */
@Command(name = "info", mixinStandardHelpOptions = true,
        description = "Show the JDK, vector width, threads and native backends the engine would use.")
final class InfoCommand implements Callable<Integer> {

    /** Said by {@code info} until the CUDA path has run on a GPU (benchmarks/gpu-check.sh). */
    static final String CUDA_UNTESTED = "untested: the CUDA path has not yet run on a GPU (first check: benchmarks/gpu-check.sh)";

    @Mixin
    VerboseOption verbose;

    @Override
    public Integer call() {
        Runtime rt = Runtime.getRuntime();
        System.out.printf("JDK           %s (%s, %s)%n", Runtime.version(), System.getProperty("java.vendor"), System.getProperty("java.home"));
        System.out.printf("OS / arch     %s %s / %s%n", System.getProperty("os.name"), System.getProperty("os.version"), System.getProperty("os.arch"));
        System.out.printf("vector        %s, %d float lanes (%d bits)%s%n", Simd.F, Simd.lanes(), Simd.F.vectorBitSize(),
                Simd.ENABLED ? "" : "  [disabled: -Dleviathan.scalar=true]");
        System.out.printf("cores         %d available, %d kernel threads (set with --threads or -Dleviathan.threads)%n",
                rt.availableProcessors(), Parallel.threads());
        System.out.printf("heap          max %d MiB (LEVIATHAN_HEAP or -Xmx in LEVIATHAN_JAVA_OPTS), %d MiB committed; collector %s%n",
                rt.maxMemory() >> 20, rt.totalMemory() >> 20, collector());
        for (String line : memoryBudget()) System.out.printf("off-heap      %s%n", line);
        // made before the backend, which logs into a buffer: a damaged tuning cache's line goes to stderr
        leviathan.backend.Tuning tuning = leviathan.backend.Tuning.global(System.err::println);
        StringBuilder lines = new StringBuilder();
        try (Backend b = Backends.select(null, l -> lines.append(l))) {
            System.out.printf("GEMM          %s%n", b.describe());
            System.out.printf("oneDNN        %s%n", OneDnnBackend.status(b));
            System.out.printf("bf16          %s%n", CpuFeatures.bf16Summary(OneDnnLoader.loaded() != null));
        }
        System.out.printf("registers     %d vector registers for kernel tiles (GEMM %d rows, correlation %d vectors by default)%n",
                Simd.registers(), leviathan.kernel.Matmul.defaultTileRows(), leviathan.kernel.Correlation.defaultTileVectors());
        System.out.printf("tuning        %s%n", tuning.summary());
        if (!tuning.entries().isEmpty()) for (String line : tuning.table()) System.out.printf("              %s%n", line);
        for (String line : leviathan.backend.cuda.CudaInfo.lines()) System.out.printf("CUDA          %s%n", line);
        System.out.printf("CUDA          %s%n", CUDA_UNTESTED);
        System.out.printf("MPI           %s%n", leviathan.distributed.Mpi.status());
        for (String line : parts()) System.out.printf("parts         %s%n", line);
        return 0;
    }

    /** The registered block parts, a line each: slot, kind, summary and the flags of its options. */
    static java.util.List<String> parts() {
        java.util.List<String> lines = new java.util.ArrayList<>();
        for (var slot : leviathan.nn.PartType.Slot.values()) {
            for (var t : leviathan.nn.Parts.of(slot).values()) {
                StringBuilder flags = new StringBuilder();
                for (var o : t.options()) flags.append(flags.isEmpty() ? "" : " ").append(o.flag());
                lines.add(String.format("%s %-12s %s%s", slot.flag, t.kind(), t.summary(), flags.isEmpty() ? "" : "  [" + flags + "]"));
            }
        }
        return lines;
    }

    /** The garbage collector's name, from its memory managers (e.g. "Copy, MarkSweepCompact" for the serial one). */
    static String collector() {
        return String.join(", ", java.lang.management.ManagementFactory.getGarbageCollectorMXBeans().stream()
                .map(java.lang.management.GarbageCollectorMXBean::getName).toList());
    }

    /**
     * What the default training recipe and sampling from its model take off the heap (the model,
     * gradients, AdamW moments and activations are native memory, not limited by the heap size).
     */
    static java.util.List<String> memoryBudget() {
        leviathan.train.TrainConfig d = leviathan.train.TrainConfig.defaults();
        leviathan.model.GptConfig c = d.model().toGptConfig(65);          // Tiny Shakespeare's vocabulary
        int B = d.schedule().batchSize(), T = c.blockSize();
        var train = leviathan.model.MemoryEstimate.breakdown(c, B, T, true);
        var sample = leviathan.model.MemoryEstimate.breakdown(c, 1, T, false);
        return java.util.List.of(
                String.format("default train recipe (%s, batch %d): %s", c.describe(), B, train),
                String.format("sampling that model: %s", sample),
                "activations per layer and row: 4 x (4 n_embd + 4 + what the parts declare) bytes, e.g. 4 x (16 n_embd + n_head + 4)"
                        + " for correlation or dot with the dense MLP, doubled when training (model.Workspace)");
    }
}
