package leviathan.reliability;

import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import leviathan.testing.KillResume;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.Timeout;
import org.junit.jupiter.api.io.TempDir;

/**
 * The fast, seeded subset of the kill campaign ({@link KillResume}; {@code benchmarks/kill-resume.sh}
 * runs hundreds of kills): training JVMs are killed ({@code SIGKILL}) at random moments, in a
 * model write, in a state write, between the writes and the renames, or anywhere; after each kill
 * the checkpoint on disk loads and does not go back, and the interrupted run ends equal to a run
 * that was never interrupted, bit for bit.
 */
class KillResumeTest {
    static final int STEPS = 300, KILLS = 6, MAX_KILLS = 14;
    static final long SEED = 3;

    @Test
    @Timeout(value = 240, threadMode = Timeout.ThreadMode.SEPARATE_THREAD)
    void killingTrainingAtAnyMomentLeavesALoadableCheckpointAndResumeCompletesTheSameRun(@TempDir Path dir) throws Exception {
        // at least KILLS kills, and more (up to MAX_KILLS) until two have caught a write in the act:
        // on a fast disk a write lasts well under a millisecond and a kill may arrive after the rename
        KillResume.Report r = new KillResume(dir, STEPS, SEED).run(KILLS, MAX_KILLS, 2);
        assertTrue(r.midWrite() >= 1, "no kill landed inside a write: " + r.history());
        assertTrue(r.kills().size() >= 3, "too few kills landed: " + r.history());
        System.out.println("kill test: " + r.kills().size() + " kills, " + r.midWrite() + " inside a write: " + String.join("; ", r.history()));
    }
}
