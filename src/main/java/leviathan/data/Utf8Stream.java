package leviathan.data;

import java.io.IOException;
import java.io.InputStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.security.MessageDigest;

/**
 * Streams the code points of a UTF-8 file through one fixed buffer, strictly: a malformed
 * sequence, an overlong form, a surrogate or a value above U+10FFFF is an error naming the file and
 * the byte offset (what {@link TextDataset#readUtf8} rejects, it rejects). Optionally feeds every
 * byte it reads to a digest.
 */
final class Utf8Stream implements AutoCloseable {
    private final Path file;
    private final InputStream in;
    private final MessageDigest digest;                   // may be null
    private final byte[] buf = new byte[1 << 20];
    private int pos, end;
    private long consumed;                                // bytes before buf[0]
    private boolean eof;

    Utf8Stream(Path file, MessageDigest digest) throws IOException {
        this.file = file;
        this.in = Files.newInputStream(file);
        this.digest = digest;
    }

    /** Bytes decoded so far. */
    long bytePosition() { return consumed + pos; }

    /** The next code point, or -1 at the end of the file. */
    int next() throws IOException {
        if (end - pos < 4 && !eof) fill();
        if (pos >= end) return -1;
        int b0 = buf[pos] & 0xFF;
        if (b0 < 0x80) {
            pos++;
            return b0;
        }
        int n, cp, min;
        if (b0 >= 0xC2 && b0 <= 0xDF) { n = 1; cp = b0 & 0x1F; min = 0x80; }
        else if (b0 >= 0xE0 && b0 <= 0xEF) { n = 2; cp = b0 & 0x0F; min = 0x800; }
        else if (b0 >= 0xF0 && b0 <= 0xF4) { n = 3; cp = b0 & 0x07; min = 0x10000; }
        else throw malformed("byte 0x" + Integer.toHexString(b0) + " cannot start a character");
        if (end - pos < n + 1) throw malformed("the file ends inside a character");
        for (int k = 1; k <= n; k++) {
            int b = buf[pos + k] & 0xFF;
            if ((b & 0xC0) != 0x80) throw malformed("byte 0x" + Integer.toHexString(b) + " is not a continuation byte");
            cp = (cp << 6) | (b & 0x3F);
        }
        if (cp < min || cp > Character.MAX_CODE_POINT || (cp >= 0xD800 && cp <= 0xDFFF)) {
            throw malformed(String.format("U+%04X is not encodable in UTF-8 this way", cp));
        }
        pos += n + 1;
        return cp;
    }

    private IOException malformed(String why) {
        return new IOException(file + " is not valid UTF-8 near byte " + bytePosition() + " (" + why + ")");
    }

    /** Moves the unread tail to the front and reads more. */
    private void fill() throws IOException {
        int left = end - pos;
        System.arraycopy(buf, pos, buf, 0, left);
        consumed += pos;
        pos = 0;
        end = left;
        while (end < buf.length) {
            int r = in.read(buf, end, buf.length - end);
            if (r < 0) {
                eof = true;
                break;
            }
            if (digest != null) digest.update(buf, end, r);
            end += r;
            if (end - pos >= 4) break;
        }
    }

    @Override
    public void close() throws IOException { in.close(); }
}
