package leviathan.model;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import leviathan.tensor.Tensor;

/**
 * Reads and writes <a href="https://huggingface.co/docs/safetensors">safetensors</a> files of
 * float32 tensors: an 8-byte little-endian header length, a JSON header (with a string-to-string
 * {@code __metadata__}), then the raw little-endian data. Reading validates the whole header
 * against the file before any tensor memory is touched; writing is atomic (temp file, fsync, rename).
 */
public final class SafeTensors {
    private SafeTensors() {}

    /** Headers larger than this are refused before being read (ours are a few KiB). */
    static final long MAX_HEADER_BYTES = 16L << 20;
    private static final ValueLayout.OfFloat LE_FLOAT = ValueLayout.JAVA_FLOAT_UNALIGNED.withOrder(ByteOrder.LITTLE_ENDIAN);

    /** One tensor's header entry; offsets are relative to the start of the data section. */
    public record Entry(String name, long[] shape, long begin, long end) {
        public long numel() {
            long n = 1;
            for (long d : shape) n *= d;
            return n;
        }
    }

    /** A validated header. */
    public record Header(Path file, Map<String, String> metadata, Map<String, Entry> entries, long dataStart) {}

    /** Reads and validates the header of {@code file}: every failure is a {@link CheckpointException}. */
    public static Header readHeader(Path file) throws IOException {
        if (!Files.isRegularFile(file)) throw new CheckpointException(file, "no such file");
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            long size = ch.size();
            if (size < 8) throw new CheckpointException(file, "too short to be a safetensors file (" + size + " bytes)");
            ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
            readFully(ch, lenBuf, 0);
            long n = lenBuf.getLong(0);
            if (n <= 1 || n > size - 8) {
                throw new CheckpointException(file, "header length " + Long.toUnsignedString(n) + " does not fit the file of " + size + " bytes (truncated or not safetensors)");
            }
            if (n > MAX_HEADER_BYTES) throw new CheckpointException(file, "header of " + n + " bytes is larger than the " + MAX_HEADER_BYTES + " allowed");
            ByteBuffer hb = ByteBuffer.allocate((int) n);
            readFully(ch, hb, 8);
            String json;
            try {
                json = StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                        .onUnmappableCharacter(CodingErrorAction.REPORT).decode(hb.flip()).toString();
            } catch (CharacterCodingException e) {
                throw new CheckpointException(file, "header is not valid UTF-8");
            }
            Object root;
            try {
                root = Json.parse(json.stripTrailing());
            } catch (Json.ParseException e) {
                throw new CheckpointException(file, "header is not valid JSON: " + e.getMessage());
            }
            if (!(root instanceof Map<?, ?> top)) throw new CheckpointException(file, "header is not a JSON object");
            long dataStart = 8 + n, dataSize = size - dataStart;
            Map<String, String> meta = new LinkedHashMap<>();
            Map<String, Entry> entries = new LinkedHashMap<>();
            for (var e : top.entrySet()) {
                String key = (String) e.getKey();
                if (key.equals("__metadata__")) {
                    if (!(e.getValue() instanceof Map<?, ?> m)) throw new CheckpointException(file, "__metadata__ is not an object");
                    for (var me : m.entrySet()) {
                        if (!(me.getValue() instanceof String v)) {
                            throw new CheckpointException(file, "metadata value of '" + me.getKey() + "' is not a string");
                        }
                        meta.put((String) me.getKey(), v);
                    }
                    continue;
                }
                entries.put(key, entry(file, key, e.getValue(), dataSize));
            }
            List<Entry> sorted = new ArrayList<>(entries.values());
            sorted.sort((a, b) -> Long.compare(a.begin(), b.begin()));
            for (int i = 1; i < sorted.size(); i++) {
                if (sorted.get(i).begin() < sorted.get(i - 1).end()) {
                    throw new CheckpointException(file, "tensors '" + sorted.get(i - 1).name() + "' and '" + sorted.get(i).name() + "' overlap");
                }
            }
            return new Header(file, Collections.unmodifiableMap(meta), Collections.unmodifiableMap(entries), dataStart);
        }
    }

    private static Entry entry(Path file, String name, Object v, long dataSize) throws CheckpointException {
        if (!(v instanceof Map<?, ?> m)) throw new CheckpointException(file, "entry '" + name + "' is not an object");
        if (!"F32".equals(m.get("dtype"))) {
            throw new CheckpointException(file, "tensor '" + name + "' has dtype " + m.get("dtype") + "; only F32 is supported");
        }
        if (!(m.get("shape") instanceof List<?> shapeList) || shapeList.size() > 8) {
            throw new CheckpointException(file, "tensor '" + name + "' has no valid shape");
        }
        long[] shape = new long[shapeList.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            if (!(shapeList.get(i) instanceof Long d) || d < 0) throw new CheckpointException(file, "tensor '" + name + "' has a bad dimension " + shapeList.get(i));
            shape[i] = d;
            try {
                numel = Math.multiplyExact(numel, d);
            } catch (ArithmeticException ex) {
                throw new CheckpointException(file, "tensor '" + name + "' shape overflows");
            }
        }
        if (!(m.get("data_offsets") instanceof List<?> off) || off.size() != 2
                || !(off.get(0) instanceof Long begin) || !(off.get(1) instanceof Long end)) {
            throw new CheckpointException(file, "tensor '" + name + "' has no valid data_offsets");
        }
        if (begin < 0 || end < begin || end > dataSize) {
            throw new CheckpointException(file, "tensor '" + name + "' data [" + begin + ", " + end + ") lies outside the "
                    + dataSize + " data bytes (truncated file?)");
        }
        if (numel > Long.MAX_VALUE / 4 || end - begin != numel * 4) {
            throw new CheckpointException(file, "tensor '" + name + "' has " + (end - begin) + " bytes for " + numel + " floats");
        }
        return new Entry(name, shape, begin, end);
    }

    private static void readFully(FileChannel ch, ByteBuffer buf, long pos) throws IOException {
        while (buf.hasRemaining()) {
            int r = ch.read(buf, pos);
            if (r < 0) throw new IOException("unexpected end of file");
            pos += r;
        }
    }

    /** Copies each named tensor's data (little-endian) into {@code targets} (native order). */
    public static void readInto(Header header, Map<String, Tensor> targets) throws IOException {
        try (Arena arena = Arena.ofConfined(); FileChannel ch = FileChannel.open(header.file(), StandardOpenOption.READ)) {
            MemorySegment map = ch.map(FileChannel.MapMode.READ_ONLY, 0, ch.size(), arena);
            for (Tensor t : targets.values()) {
                Entry e = header.entries().get(t.name());
                if (e == null || e.numel() != t.numel()) throw new CheckpointException(header.file(), "tensor '" + t.name() + "' missing or of the wrong size");
                MemorySegment.copy(map, LE_FLOAT, header.dataStart() + e.begin(), t.segment(), ValueLayout.JAVA_FLOAT, 0, t.numel());
            }
        }
    }

    /** Writes {@code tensors} (in order) with {@code metadata} to {@code file} atomically. */
    public static void write(Path file, Map<String, String> metadata, Iterable<Tensor> tensors) throws IOException {
        StringBuilder h = new StringBuilder("{\"__metadata__\":{");
        boolean first = true;
        for (var e : metadata.entrySet()) {
            if (!first) h.append(',');
            first = false;
            Json.quote(h, e.getKey());
            h.append(':');
            Json.quote(h, e.getValue());
        }
        h.append('}');
        long off = 0;
        for (Tensor t : tensors) {
            h.append(',');
            Json.quote(h, t.name());
            h.append(":{\"dtype\":\"F32\",\"shape\":[");
            int[] s = t.shape();
            for (int i = 0; i < s.length; i++) h.append(i == 0 ? "" : ",").append(s[i]);
            long bytes = t.numel() * 4;
            h.append("],\"data_offsets\":[").append(off).append(',').append(off + bytes).append("]}");
            off += bytes;
        }
        h.append('}');
        while ((h.length() + 8) % 8 != 0) h.append(' ');     // keep the data 8-byte aligned, as the format recommends
        byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);

        Path dir = file.toAbsolutePath().getParent();
        Files.createDirectories(dir);
        Path tmp = dir.resolve(file.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
                writeFully(ch, len);
                writeFully(ch, ByteBuffer.wrap(header));
                for (Tensor t : tensors) {
                    long n = t.numel();
                    byte[] bytes = new byte[Math.toIntExact(n * 4)];
                    MemorySegment.copy(t.segment(), ValueLayout.JAVA_FLOAT, 0, MemorySegment.ofArray(bytes), LE_FLOAT, 0, n);
                    writeFully(ch, ByteBuffer.wrap(bytes));
                }
                ch.force(true);                                  // data on disk before the rename makes it visible
            }
            try {
                Files.move(tmp, file, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                Files.move(tmp, file, StandardCopyOption.REPLACE_EXISTING);
            }
            syncDirectory(dir);
        } finally {
            Files.deleteIfExists(tmp);
        }
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }

    /** Makes the rename durable (Linux; a no-op where directories cannot be opened). */
    static void syncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // not every platform can fsync a directory; the rename itself is still atomic
        }
    }
}
