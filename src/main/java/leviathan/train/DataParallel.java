package leviathan.train;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import leviathan.distributed.Communicator;
import leviathan.model.TrainState;
import leviathan.tensor.Buffers;

/** What the trainer does across ranks besides the step: sending rank 0's bytes and buffers to all, and ending the job on a failure. */
final class DataParallel {
    private DataParallel() {}

    /** Rank 0's {@code bytes} on every rank (the argument is ignored elsewhere): the length, then the content. */
    static byte[] broadcastBytes(Communicator comm, byte[] bytes) {
        if (comm.size() == 1) return bytes;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment len = a.allocate(ValueLayout.JAVA_LONG);
            len.set(ValueLayout.JAVA_LONG, 0, comm.isRoot() ? bytes.length : 0);
            comm.broadcast(len, Long.BYTES, 0);
            int n = Math.toIntExact(len.get(ValueLayout.JAVA_LONG, 0));
            MemorySegment buf = a.allocate(Math.max(1, n));
            if (comm.isRoot()) MemorySegment.copy(bytes, 0, buf, ValueLayout.JAVA_BYTE, 0, n);
            comm.broadcast(buf, n, 0);
            return buf.asSlice(0, n).toArray(ValueLayout.JAVA_BYTE);
        }
    }

    /** Rank 0's side of a resume with several ranks: the run's config, its counters and its state file, to every rank. */
    static void sendResume(Communicator comm, RunDirectory.Resume point, Path stateFile) throws IOException {
        if (comm.size() == 1) return;
        broadcastBytes(comm, point.config().toJson().getBytes(StandardCharsets.UTF_8));
        broadcastBytes(comm, (point.step() + " " + point.optimizerSteps() + " " + point.skipped() + "\n"
                + (point.complete() == null ? "" : point.complete())).getBytes(StandardCharsets.UTF_8));
        broadcastBytes(comm, Files.readAllBytes(stateFile));
    }

    /** The other ranks' side of {@link #sendResume}: the state is written to {@code stateFile} (the caller removes it). */
    static RunDirectory.Resume receiveResume(Communicator comm, Path stateFile) throws IOException {
        TrainConfig cfg = TrainConfig.fromJson(new String(broadcastBytes(comm, null), StandardCharsets.UTF_8));
        String[] head = new String(broadcastBytes(comm, null), StandardCharsets.UTF_8).split("\n", 2);
        Files.write(stateFile, broadcastBytes(comm, null));
        String[] counters = head[0].split(" ");
        return new RunDirectory.Resume(cfg, TrainState.read(stateFile), Integer.parseInt(counters[0]), Integer.parseInt(counters[1]),
                Integer.parseInt(counters[2]), null, null, head[1].isEmpty() ? null : head[1]);
    }

    /** Copies rank 0's contents of each buffer (parameters, AdamW moments) to every rank. */
    static void broadcast(Communicator comm, Buffers... buffers) {
        for (Buffers b : buffers) comm.broadcast(b.all(), b.all().byteSize(), 0);
    }

    /**
     * Ends the whole job after {@code failure} on this rank: one line naming the rank, then
     * {@link Communicator#abort}, so that no other rank waits forever in a collective. A rank other
     * than 0 waits a moment first, so that where rank 0 fails the same way (a collective check, a bad
     * option) its line alone is printed before the job ends.
     */
    static void endJob(Communicator comm, Throwable failure) {
        String msg = failure.getMessage() == null ? failure.getClass().getSimpleName() : failure.getMessage();
        if (!comm.isRoot()) {
            try {
                Thread.sleep(1000);                     // rank 0, failing the same way, speaks and ends the job first
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
            }
        }
        System.out.flush();
        System.err.println("leviathan: rank " + comm.rank() + " of " + comm.size() + ": " + msg + " (ending the job)");
        System.err.flush();
        comm.abort(1);
    }
}
