import java.util.Locale;
import leviathan.kernel.Parallel;
import leviathan.model.GptConfig;
import leviathan.model.MemoryEstimate;
import leviathan.train.TrainConfig;

/**
 * The engine's own off-heap estimate ({@link MemoryEstimate}, built from the same layouts as the
 * allocations, {@code model.Workspace} among them) for a training run, as one JSON line, so that
 * {@code scaling.sh --long-context} can set it beside the measured peak RSS. A source-file program:
 * <pre>
 *   java --add-modules=jdk.incubator.vector -cp "app/target/leviathan.jar:app/target/lib/*" \
 *     benchmarks/experiments/MemoryFigures.java ATTENTION MLP N_LAYER N_HEAD N_EMBD BLOCK BATCH THREADS
 * </pre>
 * The vocabulary is Tiny Shakespeare's (65); other model options keep the train command's defaults
 * (4 lags, window 16, 8 experts, top-2).
 */
public final class MemoryFigures {
    private MemoryFigures() {}

    public static void main(String[] args) {
        if (args.length != 8) {
            System.err.println("usage: MemoryFigures ATTENTION MLP N_LAYER N_HEAD N_EMBD BLOCK BATCH THREADS");
            System.exit(2);
        }
        int block = Integer.parseInt(args[5]), batch = Integer.parseInt(args[6]);
        Parallel.setThreads(Integer.parseInt(args[7]));             // the estimate counts per-thread scratch
        TrainConfig cfg = TrainConfig.builder().attention(args[0]).mlp(args[1]).nLayer(Integer.parseInt(args[2]))
                .nHead(Integer.parseInt(args[3])).nEmbd(Integer.parseInt(args[4])).blockSize(block).batchSize(batch).build();
        GptConfig c = cfg.model().toGptConfig(65);
        MemoryEstimate.Breakdown b = MemoryEstimate.breakdown(c, batch, block, true);
        System.out.println(String.format(Locale.ROOT,
                "{\"parameters\":%d,\"gradients\":%d,\"moments\":%d,\"activations\":%d,\"activation_grads\":%d,\"scratch\":%d,\"total\":%d}",
                b.parameters(), b.gradients(), b.moments(), b.activations(), b.activationGrads(), b.scratch(), b.total()));
    }
}
