package leviathan.model;

import java.lang.management.ManagementFactory;
import leviathan.kernel.Parallel;

/**
 * The off-heap memory a model needs before it is allocated, so that a configuration too large for
 * the machine is refused with a sentence instead of an {@code OutOfMemoryError} (or, worse, the
 * kernel's OOM killer once the pages are touched: native allocations are lazy and not capped by
 * the JVM's heap or direct-memory limits).
 *
 * <p>Sizes come from the same layouts the allocations use ({@link ParameterLayout#of},
 * {@code Workspace.layout}), so the estimate follows the model as it changes. It counts
 * parameters, their gradients and the two AdamW moments, activations and their gradients, the
 * batch's token ids and targets, and the scratch each part declares ({@code BlockPart.scratchBytes}); the JVM
 * itself, the heap and the dataset are not counted, so the real footprint is somewhat larger.
 */
public final class MemoryEstimate {
    private MemoryEstimate() {}

    /** Bytes per role; {@code gradients} and {@code moments} are 0 for inference. */
    public record Breakdown(long parameters, long gradients, long moments, long activations, long activationGrads, long scratch) {
        public long total() { return parameters + gradients + moments + activations + activationGrads + scratch; }

        /** "12.3 GiB (parameters 1.0 GiB, gradients ..., ...)". */
        @Override
        public String toString() {
            return bytes(total()) + " (parameters " + bytes(parameters) + (gradients > 0 ? ", gradients " + bytes(gradients) : "")
                    + (moments > 0 ? ", AdamW moments " + bytes(moments) : "") + ", activations " + bytes(activations)
                    + (activationGrads > 0 ? ", activation gradients " + bytes(activationGrads) : "") + ", scratch " + bytes(scratch) + ")";
        }
    }

    /**
     * Off-heap bytes for {@code config} with a workspace of {@code maxBatch × maxT} tokens, for
     * training (gradients, moments, activation gradients) or inference.
     */
    public static long estimateBytes(GptConfig config, int maxBatch, int maxT, boolean training) {
        return breakdown(config, maxBatch, maxT, training).total();
    }

    /** {@link #estimateBytes} per role. */
    public static Breakdown breakdown(GptConfig config, int maxBatch, int maxT, boolean training) {
        if (maxBatch < 1 || maxT < 1) throw new IllegalArgumentException("batch and sequence length must be >= 1");
        long rows = (long) maxBatch * maxT;
        if (rows > Integer.MAX_VALUE) throw new IllegalArgumentException("batch·T = " + rows + " tokens is more than 2^31");
        long params = ParameterLayout.of(config).byteSize();
        long acts = Workspace.layout(config, (int) rows).byteSize() + 2 * rows * Integer.BYTES;   // + token ids, targets
        long actGrads = training ? Workspace.layout(config, (int) rows).byteSize() : 0;
        long scratch = 0;
        int threads = Parallel.threads();
        long mlp = config.mlpPart().scratchBytes(maxBatch, maxT, threads);
        if (!config.hybrid()) {                                   // one mixer for every layer: no per-layer walk
            scratch = config.nLayer() * (config.mixerPart(0).scratchBytes(maxBatch, maxT, threads) + mlp);
        } else {
            for (int l = 0; l < config.nLayer(); l++) scratch += config.mixerPart(l).scratchBytes(maxBatch, maxT, threads) + mlp;
        }
        return new Breakdown(params, training ? params : 0, training ? 2 * params : 0, acts, actGrads, scratch);
    }

    /**
     * Memory this process can use: the physical RAM, or the container's (cgroup) limit when there is
     * one; {@code Long.MAX_VALUE} where the JVM cannot tell.
     */
    public static long budgetBytes() {
        try {
            if (ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os) {
                long total = os.getTotalMemorySize();                   // container-aware since JDK 14
                if (total > 0) return total;
            }
        } catch (RuntimeException | LinkageError e) {
            // no jdk.management module: no budget to check against
        }
        return Long.MAX_VALUE;
    }

    /**
     * Refuses (with the estimate, the budget and {@code fix}) a configuration whose estimate exceeds
     * the memory budget; returns the estimate otherwise.
     */
    public static Breakdown require(GptConfig config, int maxBatch, int maxT, boolean training, String fix) {
        Breakdown b = breakdown(config, maxBatch, maxT, training);
        long budget = budgetBytes();
        if (b.total() > budget) {
            throw new IllegalArgumentException((training ? "training" : "running") + " this model with " + maxBatch + " × " + maxT
                    + " tokens needs about " + b + ", more than the " + bytes(budget) + " of memory this machine has"
                    + " (physical RAM or container limit)" + (fix == null || fix.isEmpty() ? "" : "; " + fix));
        }
        return b;
    }

    /** Bytes in binary units with 3 significant digits: "512 B", "1.50 KiB", "37.2 GiB". */
    public static String bytes(long n) {
        if (n < 1024) return n + " B";
        String[] units = {"KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
        double v = n;
        int u = -1;
        while (v >= 1024 && u < units.length - 1) {
            v /= 1024;
            u++;
        }
        return String.format(java.util.Locale.ROOT, v >= 100 ? "%.0f %s" : v >= 10 ? "%.1f %s" : "%.2f %s", v, units[u]);
    }
}
