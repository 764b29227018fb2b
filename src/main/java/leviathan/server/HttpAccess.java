package leviathan.server;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.InetSocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.util.function.Consumer;

/**
 * What the command line's HTTP servers ({@code serve}, {@code board}) share: the listening socket on
 * the JDK's {@code jdk.httpserver}, with a warning when it is reachable from other machines without
 * an API key, and the check of the key a client sends as {@code Authorization: Bearer KEY}.
 */
public final class HttpAccess {
    private HttpAccess() {}

    /**
     * A server bound to {@code host:port} (0 = any free port), not yet started; logs a warning, naming
     * {@code command}, when the address is not loopback and {@code apiKey} is null.
     */
    public static HttpServer bind(String host, int port, String apiKey, String command, Consumer<String> log) throws IOException {
        HttpServer http = HttpServer.create(new InetSocketAddress(InetAddress.getByName(host), port), 128);
        InetAddress addr = http.getAddress().getAddress();
        if (!addr.isLoopbackAddress() && apiKey == null) {
            log.accept(command + ": warning: listening on " + addr.getHostAddress()
                    + ", reachable from other machines, without an API key (set --api-key-file)");
        }
        return http;
    }

    /** Whether the request carries {@code apiKey} as a bearer token (always, when {@code apiKey} is null); compared in constant time. */
    public static boolean authorized(HttpExchange ex, String apiKey) {
        if (apiKey == null) return true;
        String h = ex.getRequestHeaders().getFirst("Authorization");
        String given = h != null && h.regionMatches(true, 0, "Bearer ", 0, 7) ? h.substring(7).trim() : "";
        return MessageDigest.isEqual(given.getBytes(StandardCharsets.UTF_8), apiKey.getBytes(StandardCharsets.UTF_8));
    }

    /** The 401 message for a request that {@link #authorized} refused. */
    public static String refusal(HttpExchange ex) {
        return ex.getRequestHeaders().getFirst("Authorization") == null
                ? "no API key given: send the header 'Authorization: Bearer KEY'" : "incorrect API key";
    }

    /** {@code host} as it appears in a URL (an IPv6 address in brackets). */
    public static String hostForUrl(String host) { return host.indexOf(':') >= 0 ? "[" + host + "]" : host; }
}
