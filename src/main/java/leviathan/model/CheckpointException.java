package leviathan.model;

import java.io.IOException;
import java.nio.file.Path;

/**
 * A checkpoint file that cannot be used: names the file and what is wrong with it, on one line
 * (control characters a broken file may carry into the message are escaped).
 */
public final class CheckpointException extends IOException {
    public CheckpointException(Path file, String problem) {
        super(file + ": " + oneLine(problem));
    }

    public CheckpointException(Path file, String problem, Throwable cause) {
        super(file + ": " + oneLine(problem), cause);
    }

    private static String oneLine(String s) {
        StringBuilder sb = new StringBuilder(s.length());
        for (int i = 0; i < s.length(); i++) {
            char c = s.charAt(i);
            if (c < 0x20 || c == 0x7f || (c >= 0x80 && c < 0xa0) || c == 0x2028 || c == 0x2029) {
                sb.append(String.format("\\u%04x", (int) c));
            } else {
                sb.append(c);
            }
        }
        return sb.toString();
    }
}
