package leviathan.server;

import com.sun.net.httpserver.HttpExchange;
import java.io.ByteArrayOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;

/**
 * The HTTP plumbing of {@link CompletionServer}: method checks, reading a bounded UTF-8 request
 * body, sending a whole response, and writing one Server-Sent Event of a stream.
 */
final class Exchanges {
    private Exchanges() {}

    /** The message of {@code e}, or its class name when it has none. */
    static String message(Throwable e) { return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage(); }

    /** Thrown when writing to a client fails mid-stream. */
    static final class ClientGone extends Exception {
        ClientGone() { super(null, null, false, false); }
    }

    /** 405 (with an {@code Allow} header) unless the request uses {@code method}. */
    static void allow(HttpExchange ex, String method) throws ApiError {
        if (!ex.getRequestMethod().equals(method)) {
            ex.getResponseHeaders().set("Allow", method);
            throw new ApiError(405, "invalid_request_error", null, "method_not_allowed",
                    ex.getRequestMethod() + " is not allowed on " + ex.getRequestURI().getPath() + "; use " + method);
        }
    }

    /** Sends a whole JSON response, each write under {@code wd}; returns {@code status}. */
    static int sendJson(WriteDeadline wd, HttpExchange ex, int status, String json) throws IOException {
        return send(wd, ex, status, "application/json", json.getBytes(StandardCharsets.UTF_8));
    }

    /** Sends a whole response of content type {@code type}, each write under {@code wd}; returns {@code status}. */
    static int send(WriteDeadline wd, HttpExchange ex, int status, String type, byte[] body) throws IOException {
        ex.getResponseHeaders().set("Content-Type", type);
        wd.write(ex, () -> ex.sendResponseHeaders(status, body.length == 0 ? -1 : body.length));
        OutputStream out = ex.getResponseBody();
        wd.write(ex, () -> {
            out.write(body);
            out.close();
        });
        return status;
    }

    /** Sends the status line and headers of a response of unknown length (a stream) under {@code wd}. */
    static void sendStreamHeaders(WriteDeadline wd, HttpExchange ex, int status) throws IOException {
        wd.write(ex, () -> ex.sendResponseHeaders(status, 0));
    }

    /** The request body as UTF-8 text: 400 when it is not valid UTF-8, 413 past {@code maxBodyBytes}. */
    static String readBody(HttpExchange ex, int maxBodyBytes) throws IOException, ApiError {
        String len = ex.getRequestHeaders().getFirst("Content-Length");
        if (len != null) {
            long n;
            try {
                n = Long.parseLong(len.trim());
            } catch (NumberFormatException e) {
                throw ApiError.invalid(null, "bad Content-Length: " + len);   // (the HTTP layer refuses such requests before this)
            }
            if (n > maxBodyBytes) throw tooLarge(n, maxBodyBytes);
        }
        InputStream in = ex.getRequestBody();
        ByteArrayOutputStream buf = new ByteArrayOutputStream();
        byte[] chunk = new byte[8192];
        for (int r; (r = in.read(chunk)) > 0; ) {
            buf.write(chunk, 0, r);
            if (buf.size() > maxBodyBytes) throw tooLarge(buf.size(), maxBodyBytes);
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .onUnmappableCharacter(CodingErrorAction.REPORT).decode(ByteBuffer.wrap(buf.toByteArray())).toString();
        } catch (CharacterCodingException e) {
            throw ApiError.invalid(null, "the request body is not valid UTF-8");
        }
    }

    /** The 413 error for a body of {@code n} bytes. */
    static ApiError tooLarge(long n, int maxBodyBytes) {
        return new ApiError(413, "invalid_request_error", null, "request_too_large",
                "the request body has " + (n > maxBodyBytes ? "more than " + maxBodyBytes : n) + " bytes; this server accepts at most " + maxBodyBytes);
    }

    /**
     * Writes one Server-Sent Event to {@code out}, the body of {@code ex}, and flushes it under
     * {@code wd}; false when the client has gone or did not take it within the write deadline (the
     * connection is then closed).
     */
    static boolean event(WriteDeadline wd, HttpExchange ex, OutputStream out, String data) {
        try {
            byte[] b = ("data: " + data + "\n\n").getBytes(StandardCharsets.UTF_8);
            wd.write(ex, () -> {
                out.write(b);
                out.flush();
            });
            return true;
        } catch (IOException e) {
            return false;
        }
    }
}
