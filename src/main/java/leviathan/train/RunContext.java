package leviathan.train;

import leviathan.data.CharTokenizer;
import leviathan.distributed.Communicator;
import leviathan.model.Gpt;

/**
 * One rank's run, as the trainer hands it to the loop: the effective config, the run directory
 * (rank 0's, which alone evaluates and writes; null on the other ranks), the model and its
 * vocabulary, the data and the communicator of the job.
 */
record RunContext(TrainConfig config, RunDirectory dir, Gpt model, CharTokenizer tokenizer, TrainingData data, Communicator comm) {
    RunContext {
        if (comm.isRoot() != (dir != null)) throw new IllegalArgumentException("rank 0, and only rank 0, holds the run directory");
    }

    /** Whether this rank evaluates, prints and writes the run directory. */
    boolean rank0() { return comm.isRoot(); }
}
