package leviathan.testing;

import java.nio.file.Path;
import leviathan.distributed.Communicator;
import leviathan.model.Gpt;
import leviathan.train.Trainer;
import leviathan.train.TrainingHooks;

/**
 * What each rank runs under {@code mpirun} for {@code leviathan.train.DataParallelTest}: the
 * trainer on {@link TestData#tinyBuilder}'s model with a global batch of 12, exactly as the one-process
 * run of the test.
 * <ul>
 * <li>{@code train DATA OUT STEPS BATCH [DIE_AT_STEP DIE_RANK [perturb]]}: a new run; with the last two, rank
 *     {@code DIE_RANK} halts (status 3, no MPI call) right after the update of step {@code DIE_AT_STEP},
 *     as a crashed process would; with a further {@code perturb}, it instead adds 1e-3 to its first
 *     parameter there, as a silent corruption would, and training goes on until the next evaluation.</li>
 * <li>{@code resume OUT}: continues the run in {@code OUT}.</li>
 * </ul>
 * Prints {@code rank R done} at the end; failures end the job through the trainer.
 */
public final class MpiTrainMain {
    private MpiTrainMain() {}

    /** The global batch of the equivalence test: divides by 1, 2, 3, 4 and 6 ranks. */
    public static final int BATCH = 12;

    /** The config of the run, shared with the one-process side of the test. */
    public static leviathan.train.TrainConfig config(Path data, Path out, int steps, int batch) {
        return TestData.tinyBuilder(data, out, "correlation", steps, 10).batchSize(batch).evalBatches(1).sampleTokens(0).build();
    }

    public static void main(String[] args) throws Exception {
        Communicator comm = Communicator.fromEnvironment();
        Trainer trainer = new Trainer(System.out::println, System.out).communicator(comm);
        switch (args[0]) {
            case "train" -> {
                if (args.length > 5) {
                    int dieAt = Integer.parseInt(args[5]), dieRank = Integer.parseInt(args[6]);
                    boolean perturb = args.length > 7 && args[7].equals("perturb");
                    trainer.hooks(new TrainingHooks() {
                        @Override
                        public void afterUpdate(int step, Gpt model) {
                            if (step == dieAt && comm.rank() == dieRank && perturb) {
                                var all = model.params().all();
                                all.setAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, 0,
                                        all.getAtIndex(java.lang.foreign.ValueLayout.JAVA_FLOAT, 0) + 1e-3f);
                                System.out.println("rank " + dieRank + " perturbed after step " + step);
                            } else if (step == dieAt && comm.rank() == dieRank) {
                                System.out.println("rank " + dieRank + " halting after step " + step);
                                System.out.flush();
                                Runtime.getRuntime().halt(3);
                            }
                        }
                    });
                }
                trainer.train(config(Path.of(args[1]), Path.of(args[2]), Integer.parseInt(args[3]), Integer.parseInt(args[4])));
            }
            case "resume" -> trainer.resume(Path.of(args[1]), 0);
            default -> throw new IllegalArgumentException("usage: MpiTrainMain train DATA OUT STEPS BATCH [DIE_AT RANK] | resume OUT");
        }
        System.out.println("rank " + comm.rank() + " done");
        comm.close();
    }
}
