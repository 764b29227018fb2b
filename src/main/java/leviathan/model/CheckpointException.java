package leviathan.model;

import java.io.IOException;
import java.nio.file.Path;

/** A checkpoint file that cannot be used: names the file and what is wrong with it. */
public final class CheckpointException extends IOException {
    public CheckpointException(Path file, String problem) {
        super(file + ": " + problem);
    }

    public CheckpointException(Path file, String problem, Throwable cause) {
        super(file + ": " + problem, cause);
    }
}
