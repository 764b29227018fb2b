package leviathan.distributed;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.List;
import java.util.Map;
import org.junit.jupiter.api.Test;

/** The single-process communicator, launch detection and the loader's messages (no mpirun needed). */
class CommunicatorTest {

    @Test
    void outsideMpirunTheJobIsOneProcess() {
        assertFalse(Mpi.launched(), "the test JVM is not started by mpirun");
        Communicator c = Communicator.fromEnvironment();
        assertSame(SingleProcess.INSTANCE, c);
        assertEquals(0, c.rank());
        assertEquals(1, c.size());
        assertTrue(c.isRoot());
    }

    @Test
    void launchDetectionReadsOpenMpiAndPmixVariables() {
        assertTrue(Mpi.launched(Map.of("OMPI_COMM_WORLD_SIZE", "2")));
        assertTrue(Mpi.launched(Map.of("PMIX_RANK", "0")));
        assertFalse(Mpi.launched(Map.of("PATH", "/usr/bin")));
        assertFalse(Mpi.launched(Map.of("OMPI_COMM_WORLD_SIZE", " ")));
    }

    @Test
    void singleProcessCollectivesLeaveBuffersAsTheyAre() {
        Communicator c = SingleProcess.INSTANCE;
        try (Arena a = Arena.ofConfined()) {
            for (int n : new int[] {0, 1, 7, 17}) {
                MemorySegment s = a.allocate(Math.max(1, n) * (long) Float.BYTES);
                for (int i = 0; i < n; i++) s.setAtIndex(ValueLayout.JAVA_FLOAT, i, i - 3.5f);
                float[] before = s.asSlice(0, n * (long) Float.BYTES).toArray(ValueLayout.JAVA_FLOAT);
                c.allreduceSum(s, n);
                c.allreduceMean(s, n);
                assertTrue(c.allreduceSumStart(s, n).test());
                c.broadcast(s, n * (long) Float.BYTES, 0);
                c.barrier();
                assertArrayEquals(before, s.asSlice(0, n * (long) Float.BYTES).toArray(ValueLayout.JAVA_FLOAT));
                assertEquals(Communicator.hash(s, n * 4L), c.checkIdentical(s, n * 4L, "parameters"));
            }
            MemorySegment s = a.allocate(8);
            assertThrows(IllegalArgumentException.class, () -> c.allreduceSum(s, 3), "count past the buffer");
            assertThrows(IllegalArgumentException.class, () -> c.broadcast(s, 4, 1), "root outside the job");
        }
    }

    @Test
    void batchShareOfOneProcessIsTheWholeBatch() {
        assertEquals(new Communicator.BatchShare(0, 12), SingleProcess.INSTANCE.batchShare(12));
        assertEquals(new Communicator.BatchShare(0, 13), SingleProcess.INSTANCE.batchShare(13));
        assertThrows(IllegalArgumentException.class, () -> SingleProcess.INSTANCE.batchShare(0));
    }

    @Test
    void hashSeesEveryByte() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment s = a.allocate(37);
            long h0 = Communicator.hash(s, 37);
            for (long i = 0; i < 37; i++) {
                s.set(ValueLayout.JAVA_BYTE, i, (byte) 1);
                assertNotEquals(h0, Communicator.hash(s, 37), "byte " + i);
                s.set(ValueLayout.JAVA_BYTE, i, (byte) 0);
            }
            assertNotEquals(Communicator.hash(s, 36), Communicator.hash(s, 37), "length counts");
        }
    }

    @Test
    void singleProcessBucketsLeaveGradientsAsTheyAre() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment flat = a.allocate(40 * Float.BYTES, 64);
            for (int i = 0; i < 40; i++) flat.setAtIndex(ValueLayout.JAVA_FLOAT, i, i);
            List<MemorySegment> ts = List.of(flat.asSlice(80, 80), flat.asSlice(0, 80), a.allocate(12, 64));
            try (GradientBuckets b = new GradientBuckets(SingleProcess.INSTANCE, ts, 160)) {
                assertEquals(2, b.bucketCount());
                assertTrue(b.inPlace(0), "two adjacent slices in reverse order share one range");
                assertTrue(b.inPlace(1), "a bucket of one tensor is in place");
                for (int t = 0; t < 3; t++) b.ready(t);
                b.finish();
                for (int i = 0; i < 40; i++) assertEquals(i, flat.getAtIndex(ValueLayout.JAVA_FLOAT, i));
            }
            assertThrows(IllegalArgumentException.class, () -> new GradientBuckets(SingleProcess.INSTANCE, List.of(a.allocate(6)), 64),
                    "not whole floats");
        }
    }

    @Test
    void infoStatusIsOneLine() {
        String status = Mpi.status();
        assertFalse(status.contains("\n"), status);
        if (Mpi.available()) {
            assertTrue(status.startsWith("Open MPI v"), status);
            assertTrue(Mpi.library().path().contains("libmpi"), Mpi.library().path());
        } else {
            assertTrue(status.contains("apt-get install openmpi-bin"), status);
        }
    }

    @Test
    void aMissingLibraryIsOneLineWithTheFix() {
        MpiUnavailableException e = assertThrows(MpiUnavailableException.class, () -> Mpi.open("/nonexistent/libmpi.so.40"));
        assertTrue(e.getMessage().contains("apt-get install openmpi-bin"), e.getMessage());
        assertFalse(e.getMessage().contains("\n"), e.getMessage());
    }
}
