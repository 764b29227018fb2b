package leviathan.cli;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import picocli.CommandLine.Option;

/**
 * The options of a command that listens on HTTP ({@code serve}, {@code board}): address, port and
 * the file holding the API key. A command gives its own default port by creating the mixin.
 */
final class ListenOptions {
    @Option(names = "--host", description = "Address to bind (default: ${DEFAULT-VALUE}, loopback only).")
    String host = "127.0.0.1";
    @Option(names = "--port", description = "Port, 0 = any free one (default: ${DEFAULT-VALUE}).")
    int port;
    @Option(names = "--api-key-file", paramLabel = "FILE", description = "File holding the API key clients must send as 'Authorization: Bearer KEY'.")
    Path apiKeyFile;

    ListenOptions(int defaultPort) { this.port = defaultPort; }

    /** Checks the port; returns the API key read from {@code --api-key-file}, or null without one. */
    String validatedKey() throws IOException {
        if (port < 0 || port > 65535) throw new IllegalArgumentException("--port must be in [0, 65535], got " + port);
        if (apiKeyFile == null) return null;
        if (!Files.isRegularFile(apiKeyFile)) throw new IllegalArgumentException("--api-key-file " + apiKeyFile + " is not a readable file");
        String key = Files.readString(apiKeyFile, StandardCharsets.UTF_8).strip();
        if (key.isEmpty()) throw new IllegalArgumentException("--api-key-file " + apiKeyFile + " is empty");
        // a key a client cannot send in 'Authorization: Bearer KEY' would lock every client out
        if (key.lines().count() > 1) {
            throw new IllegalArgumentException("--api-key-file " + apiKeyFile + " holds " + key.lines().count()
                    + " lines; a key is one line (no client can send a line break in its Authorization header)");
        }
        int bad = key.chars().filter(c -> c < 0x21 || c > 0x7e).findFirst().orElse(-1);
        if (bad >= 0) {
            throw new IllegalArgumentException("--api-key-file " + apiKeyFile + " holds " + (bad > 0x7e ? "a non-ASCII" : "a space or control")
                    + String.format(" character (U+%04X)", bad) + "; a key is printable ASCII without spaces, what an Authorization header carries");
        }
        return key;
    }

    /** The message for a port that cannot be bound. */
    IllegalArgumentException cannotListen(Exception e) {
        return new IllegalArgumentException("cannot listen on " + host + ":" + port + " (" + e.getMessage() + "); choose another --port or --host");
    }
}
