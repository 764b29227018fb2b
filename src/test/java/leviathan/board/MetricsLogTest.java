package leviathan.board;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Files;
import java.nio.file.Path;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Reading metrics.jsonl as it grows: rows the engine writes in unusual states, and lines that are not rows. */
class MetricsLogTest {
    @TempDir
    Path tmp;

    @Test
    void aDivergedLossIsAGapNotAnError() throws Exception {
        Path f = Files.writeString(tmp.resolve("metrics.jsonl"), RunFixtures.trainRow(10, 0, 0)
                + "{\"step\":20,\"lr\":0.001,\"train_loss\":NaN,\"tokens_per_s\":10.0,\"elapsed_s\":1.0}\n"
                + "\n"
                + "{\"step\":30,\"lr\":0.001,\"train_loss\":-Infinity,\"tokens_per_s\":10.0,\"elapsed_s\":2.0}\n");
        MetricsLog log = new MetricsLog(f);
        assertTrue(log.refresh());
        assertNull(log.error());
        assertEquals(3, log.trainLoss.size(), "the blank line is no row");
        assertTrue(Float.isNaN(log.trainLoss.get(1)) && Float.isNaN(log.trainLoss.get(2)));
        assertEquals(30, log.lastStep());
        assertFalse(log.refresh(), "nothing new");
    }

    @Test
    void aLineLongerThanAReadIsAnError() throws Exception {
        Path f = tmp.resolve("metrics.jsonl");
        Files.writeString(f, RunFixtures.trainRow(10, 0, 0) + "{\"step\":20,\"x\":\"" + "a".repeat(9 << 20) + "\"}\n");
        MetricsLog log = new MetricsLog(f);
        log.refresh();
        assertNull(log.error(), "the first read ends inside the long line: it may still be arriving");
        log.refresh();
        assertEquals("metrics.jsonl line 2: longer than 8 MiB, not a metrics row", log.error());
        assertEquals(10, log.lastStep(), "the rows before it stay");
    }

    @Test
    void aRowWithoutAStepIsAnError() throws Exception {
        Path f = Files.writeString(tmp.resolve("metrics.jsonl"), RunFixtures.trainRow(10, 0, 0) + "[1, 2]\n");
        MetricsLog log = new MetricsLog(f);
        log.refresh();
        assertEquals("metrics.jsonl line 2: not a JSON object", log.error());
        Files.writeString(f, RunFixtures.trainRow(10, 0, 0) + "{\"loss\": 1}\n");
        log.refresh();
        assertEquals("metrics.jsonl line 2: no numeric \"step\"", log.error(), "a rewritten file is read again");
    }
}
