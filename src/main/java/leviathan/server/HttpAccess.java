package leviathan.server;

import com.sun.net.httpserver.HttpExchange;
import com.sun.net.httpserver.HttpServer;
import java.io.IOException;
import java.net.InetAddress;
import java.net.BindException;
import java.net.InetSocketAddress;
import java.nio.ByteBuffer;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.time.Duration;
import java.util.concurrent.ExecutorService;
import java.util.function.BiFunction;
import java.util.function.Consumer;
import org.eclipse.jetty.http.HttpFields;
import org.eclipse.jetty.http.HttpHeader;
import org.eclipse.jetty.http.HttpStatus;
import org.eclipse.jetty.http.spi.JettyHttpServer;
import org.eclipse.jetty.server.HttpConfiguration;
import org.eclipse.jetty.server.HttpConnectionFactory;
import org.eclipse.jetty.server.Request;
import org.eclipse.jetty.server.Response;
import org.eclipse.jetty.server.Server;
import org.eclipse.jetty.server.ServerConnector;
import org.eclipse.jetty.server.handler.ContextHandlerCollection;
import org.eclipse.jetty.server.handler.ErrorHandler;
import org.eclipse.jetty.util.Callback;
import org.eclipse.jetty.util.thread.QueuedThreadPool;

/**
 * What the command line's HTTP servers ({@code serve}, {@code board}) share: the HTTP layer, with a
 * warning when it is reachable from other machines without an API key, and the check of the key a
 * client sends as {@code Authorization: Bearer KEY}.
 *
 * <p>The HTTP layer is Jetty behind the JDK's {@code com.sun.net.httpserver} API
 * ({@code jetty-http-spi}): handlers are {@code HttpHandler}s and each exchange runs on its own
 * virtual thread. Jetty was chosen over {@code jdk.httpserver} because it hands the requests it
 * refuses while parsing (a bad or doubled {@code Content-Length}, a broken request line, headers over
 * 8 KiB) to an error handler of ours, so those get the server's own error body ({@link Refusal})
 * like every other error; {@code jdk.httpserver} answers them with its own HTML page.
 */
public final class HttpAccess {
    private HttpAccess() {}

    /** The exchange attribute holding what closes its connection ({@link #abort}). */
    private static final String ABORT = "leviathan.abort";

    /**
     * Closes {@code ex}'s connection at once, without a response: a write blocked on it fails. For a
     * client that stopped reading ({@link WriteDeadline}).
     */
    static void abort(HttpExchange ex) {
        if (ex.getAttribute(ABORT) instanceof Runnable close) close.run();
    }

    /**
     * How a server answers a request the HTTP layer refuses before any handler runs (and any error a
     * handler lets escape): the body's content type, and the body for a status and Jetty's reason.
     */
    public record Refusal(String contentType, BiFunction<Integer, String, String> body) {}

    /**
     * A server bound to {@code host:port} (0 = any free port), not yet started: a port in use fails
     * here. Exchanges run on {@code handlers} (one virtual thread each); a connection with no traffic
     * for {@code idleTimeout} is closed, so it must exceed the longest quiet spell of a request being
     * handled. Logs a warning, naming {@code command}, when the address is not loopback and
     * {@code apiKey} is null, and one line per request the HTTP layer refuses.
     */
    public static HttpServer bind(String host, int port, String apiKey, String command, ExecutorService handlers,
                                  Duration idleTimeout, Refusal refusal, Consumer<String> log) throws IOException {
        InetSocketAddress addr = new InetSocketAddress(InetAddress.getByName(host), port);
        QueuedThreadPool pool = new QueuedThreadPool();
        pool.setName(command + "-http");
        pool.setVirtualThreadsExecutor(handlers);
        Server server = new Server(pool);
        server.setHandler(new ContextHandlerCollection(true));   // where JettyHttpServer.createContext puts its contexts
        server.setErrorHandler(new RefusalHandler(command, refusal, log));
        HttpConfiguration http = new HttpConfiguration();
        http.setSendServerVersion(false);
        http.setSendXPoweredBy(false);
        http.addCustomizer((request, responseHeaders) -> {          // what abort(exchange) runs
            request.setAttribute(ABORT, (Runnable) () -> request.getConnectionMetaData().getConnection().getEndPoint().close());
            return request;
        });
        ServerConnector connector = new ServerConnector(server, new HttpConnectionFactory(http));
        connector.setHost(addr.getAddress().getHostAddress());
        connector.setPort(port);
        connector.setAcceptQueueSize(128);
        connector.setIdleTimeout(idleTimeout.toMillis());
        try {
            connector.open();
        } catch (IOException e) {
            if (e.getCause() instanceof BindException inUse) throw inUse;   // Jetty wraps it; callers report a port in use
            throw e;
        }
        server.addConnector(connector);
        JettyHttpServer jetty = new JettyHttpServer(server, false);
        jetty.bind(addr, 128);                                     // records the address; the connector above serves it
        InetAddress bound = addr.getAddress();
        if (!bound.isLoopbackAddress() && apiKey == null) {
            log.accept(command + ": warning: listening on " + bound.getHostAddress()
                    + ", reachable from other machines, without an API key (set --api-key-file)");
        }
        return jetty;
    }

    /** Answers the requests Jetty refuses itself with the server's {@link Refusal}, and logs one line for each. */
    private static final class RefusalHandler extends ErrorHandler {
        private final String command;
        private final Refusal refusal;
        private final Consumer<String> log;

        RefusalHandler(String command, Refusal refusal, Consumer<String> log) {
            this.command = command;
            this.refusal = refusal;
            this.log = log;
        }

        @Override
        public boolean handle(Request request, Response response, Callback callback) {
            int status = request.getAttribute(ERROR_STATUS) instanceof Integer s ? s : response.getStatus();
            String reason = request.getAttribute(ERROR_MESSAGE) instanceof String m && !m.isBlank() ? m : HttpStatus.getMessage(status);
            response.getHeaders().put(HttpHeader.CONTENT_TYPE, refusal.contentType());
            response.write(true, body(status, reason), callback);
            return true;
        }

        @Override
        public ByteBuffer badMessageError(int status, String reason, HttpFields.Mutable fields) {
            fields.put(HttpHeader.CONTENT_TYPE, refusal.contentType());
            return body(status, reason == null || reason.isBlank() ? HttpStatus.getMessage(status) : reason);
        }

        private ByteBuffer body(int status, String reason) {
            log.accept(command + ": " + status + " refused by the HTTP layer: " + reason);
            return ByteBuffer.wrap(refusal.body().apply(status, reason).getBytes(StandardCharsets.UTF_8));
        }
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
