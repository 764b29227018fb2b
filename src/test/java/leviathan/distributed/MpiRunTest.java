package leviathan.distributed;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import leviathan.testing.MpiCheckMain;
import org.junit.jupiter.api.Test;

/** Two ranks under real {@code mpirun} on loopback (skipped with the reason where Open MPI is absent). */
class MpiRunTest {

    @Test
    void collectivesOnTwoRanks() throws Exception {
        Path mpirun = MpiTesting.mpirunOrSkip();
        MpiTesting.Run run = MpiTesting.run(mpirun, 2, 180, MpiCheckMain.class.getName(), "collectives", "2");
        assertFalse(run.timedOut(), "mpirun did not finish in 180 s:\n" + run.output());
        assertEquals(0, run.exitCode(), run.output());
        assertTrue(run.output().contains("rank 0 ok") && run.output().contains("rank 1 ok"), run.output());
    }

    @Test
    void aRankThatDiesEndsTheJob() throws Exception {
        Path mpirun = MpiTesting.mpirunOrSkip();
        // rank 0 blocks in allreduce after rank 1 halts; only mpirun can end it
        MpiTesting.Run run = MpiTesting.run(mpirun, 2, 90, MpiCheckMain.class.getName(), "die");
        assertFalse(run.timedOut(), "mpirun hung after a rank died (killed at 90 s):\n" + run.output());
        assertNotEquals(0, run.exitCode(), run.output());
        assertTrue(run.output().contains("rank 1 halting"), run.output());
        assertFalse(run.output().contains("still running"), run.output());
    }
}
