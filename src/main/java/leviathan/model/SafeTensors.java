package leviathan.model;

import java.io.IOException;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.channels.FileChannel;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.ArrayList;
import java.util.Collections;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import leviathan.tensor.AtomicFile;
import leviathan.tensor.FileKind;
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

    /**
     * Reads and validates the header of {@code file}: header length against the file size, UTF-8,
     * JSON shape, F32 dtypes, shapes, and data offsets that lie inside the data section and tile it
     * exactly (no overlaps, gaps or trailing bytes). Every failure is a {@link CheckpointException}.
     */
    public static Header readHeader(Path file) throws IOException {
        if (Files.isDirectory(file)) throw new CheckpointException(file, "is a directory, not a checkpoint file");
        if (!Files.isRegularFile(file)) {                        // never open a FIFO or a device: reading one can block forever
            String kind = FileKind.notRegular(file);
            throw new CheckpointException(file, kind == null || kind.equals("does not exist") ? "no such file" : kind);
        }
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            return readHeader(file, ch);
        } catch (CheckpointException e) {
            throw e;
        } catch (IOException e) {
            throw new CheckpointException(file, "cannot read the file (" + describe(e) + ")", e);
        }
    }

    private static Header readHeader(Path file, FileChannel ch) throws IOException {
        long size = ch.size();
        if (size < 8) throw new CheckpointException(file, "too short to be a safetensors file (" + size + " bytes)");
        ByteBuffer lenBuf = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN);
        readFully(file, ch, lenBuf, 0);
        long n = lenBuf.getLong(0);
        if (n <= 1 || n > size - 8) {
            throw new CheckpointException(file, "header length " + Long.toUnsignedString(n) + " does not fit the file of " + size + " bytes (truncated or not safetensors)");
        }
        if (n > MAX_HEADER_BYTES) throw new CheckpointException(file, "header of " + n + " bytes is larger than the " + MAX_HEADER_BYTES + " allowed");
        ByteBuffer hb = ByteBuffer.allocate((int) n);
        readFully(file, ch, hb, 8);
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
                        throw new CheckpointException(file, "metadata value of " + show(me.getKey()) + " is not a string");
                    }
                    meta.put((String) me.getKey(), v);
                }
                continue;
            }
            entries.put(key, entry(file, key, e.getValue(), dataSize));
        }
        // The data section must be tiled exactly, as the format requires: any overlap would alias
        // two tensors, and a gap or a tail means the header and the data disagree.
        List<Entry> sorted = new ArrayList<>(entries.values());
        sorted.sort((a, b) -> a.begin() != b.begin() ? Long.compare(a.begin(), b.begin()) : Long.compare(a.end(), b.end()));
        long covered = 0;
        Entry previous = null;
        for (Entry e : sorted) {
            if (e.begin() < covered) {
                throw new CheckpointException(file, "tensors " + show(previous.name()) + " and " + show(e.name()) + " overlap");
            }
            if (e.begin() > covered) {
                throw new CheckpointException(file, (e.begin() - covered) + " data bytes before tensor " + show(e.name())
                        + " belong to no tensor (the offsets must tile the data section)");
            }
            covered = e.end();
            previous = e;
        }
        if (covered != dataSize) {
            throw new CheckpointException(file, "the tensors cover " + covered + " of the " + dataSize
                    + " data bytes (file longer than its header says, or a corrupted offset)");
        }
        return new Header(file, Collections.unmodifiableMap(meta), Collections.unmodifiableMap(entries), dataStart);
    }

    /** A value from a file, quoted, escaped and shortened so that a message stays one readable line. */
    static String show(Object value) {
        String s = String.valueOf(value);
        if (s.length() > 60) s = s.substring(0, 60) + "...";
        StringBuilder sb = new StringBuilder();
        Json.quote(sb, s);
        return "'" + sb.substring(1, sb.length() - 1) + "'";
    }

    private static String describe(IOException e) {
        String m = e.getMessage();
        if (m != null && !(e instanceof java.nio.file.FileSystemException) && e.getClass() == IOException.class) return m;   // "No space left on device"
        String kind = e instanceof java.nio.file.AccessDeniedException ? "permission denied"
                : e instanceof java.nio.file.NoSuchFileException ? "no such file" : e.getClass().getSimpleName();
        return m == null || e instanceof java.nio.file.FileSystemException ? kind : kind + ": " + m;
    }

    private static Entry entry(Path file, String name, Object v, long dataSize) throws CheckpointException {
        String t = "tensor " + show(name);
        if (!(v instanceof Map<?, ?> m)) throw new CheckpointException(file, "entry " + show(name) + " is not an object");
        if (!"F32".equals(m.get("dtype"))) {
            Object dtype = m.get("dtype");
            boolean plain = dtype instanceof String d && d.matches("[A-Za-z0-9_]{1,16}");
            throw new CheckpointException(file, t + " has dtype " + (plain ? dtype : show(dtype)) + "; only F32 is supported");
        }
        if (!(m.get("shape") instanceof List<?> shapeList) || shapeList.size() > 8) {
            throw new CheckpointException(file, t + " has no valid shape (a list of at most 8 dimensions)");
        }
        long[] shape = new long[shapeList.size()];
        long numel = 1;
        for (int i = 0; i < shape.length; i++) {
            if (!(shapeList.get(i) instanceof Long d) || d < 0) throw new CheckpointException(file, t + " has a bad dimension " + show(shapeList.get(i)));
            shape[i] = d;
            try {
                numel = Math.multiplyExact(numel, d);
            } catch (ArithmeticException ex) {
                throw new CheckpointException(file, t + " shape overflows");
            }
        }
        if (!(m.get("data_offsets") instanceof List<?> off) || off.size() != 2
                || !(off.get(0) instanceof Long begin) || !(off.get(1) instanceof Long end)) {
            throw new CheckpointException(file, t + " has no valid data_offsets (two integers)");
        }
        if (begin < 0 || end < begin || end > dataSize) {
            throw new CheckpointException(file, t + " data [" + begin + ", " + end + ") lies outside the "
                    + dataSize + " data bytes (truncated file?)");
        }
        if (numel > Long.MAX_VALUE / 4 || end - begin != numel * 4) {
            throw new CheckpointException(file, t + " has " + (end - begin) + " bytes for " + numel + " floats");
        }
        return new Entry(name, shape, begin, end);
    }

    private static void readFully(Path file, FileChannel ch, ByteBuffer buf, long pos) throws IOException {
        while (buf.hasRemaining()) {
            int r = ch.read(buf, pos);
            if (r < 0) throw new CheckpointException(file, "the file ended at byte " + pos + " while being read (was it changed meanwhile?)");
            pos += r;
        }
    }

    /**
     * Copies each named tensor's data (little-endian) into {@code targets} (native order). The file is
     * read, not mapped, so a file truncated meanwhile is an error rather than a fault.
     */
    public static void readInto(Header header, Map<String, Tensor> targets) throws IOException {
        Path file = header.file();
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            for (Tensor t : targets.values()) {
                Entry e = header.entries().get(t.name());
                if (e == null || e.numel() != t.numel()) {
                    throw new CheckpointException(file, "tensor " + show(t.name()) + " is " + (e == null ? "missing" : "of the wrong size"));
                }
                MemorySegment dst = t.segment();
                long bytes = t.numel() * Float.BYTES;
                for (long done = 0; done < bytes; ) {
                    long n = Math.min(COPY_CHUNK, bytes - done);
                    readFully(file, ch, dst.asSlice(done, n).asByteBuffer(), header.dataStart() + e.begin() + done);
                    done += n;
                }
                if (ByteOrder.nativeOrder() != ByteOrder.LITTLE_ENDIAN) {
                    for (long i = 0, n = t.numel(); i < n; i++) dst.setAtIndex(ValueLayout.JAVA_FLOAT, i, dst.getAtIndex(LE_FLOAT, i));
                }
            }
        } catch (CheckpointException e) {
            throw e;
        } catch (IOException e) {
            throw new CheckpointException(file, "cannot read the file (" + describe(e) + ")", e);
        }
    }

    /** Bytes moved per read or write call. */
    private static final int COPY_CHUNK = 1 << 20;

    /**
     * A save that failed (disk full, permissions...): names the file and the reason, and tells whether
     * a previous version of the file is still there, untouched (the write goes to a temporary file
     * that only a final rename makes visible, so a failed save never damages it).
     */
    public static final class WriteException extends IOException {
        private static final long serialVersionUID = 1L;
        private final transient Path file;
        private final boolean previousKept;

        WriteException(Path file, boolean previousKept, IOException cause) {
            super("cannot write " + file + " (" + reason(cause) + ")", cause);
            this.file = file;
            this.previousKept = previousKept;
        }

        /** The file that was being saved. */
        public Path file() { return file; }

        /** Whether an earlier version of the file exists, unchanged. */
        public boolean previousKept() { return previousKept; }

        private static String reason(IOException e) {
            if (e instanceof java.nio.file.FileSystemException f && f.getReason() != null) return f.getReason();
            return describe(e);
        }
    }

    /**
     * Writes {@code tensors} (in order) with {@code metadata} to {@code file} atomically; a failure
     * is a {@link WriteException}, and leaves any earlier {@code file} as it was.
     */
    public static void write(Path file, Map<String, String> metadata, Iterable<Tensor> tensors) throws IOException {
        try {
            writeAtomically(file, metadata, tensors);
        } catch (WriteException | AtomicFile.OddEntryException e) {
            throw e;
        } catch (IOException e) {
            throw new WriteException(file, Files.isRegularFile(file), e);
        }
    }

    private static void writeAtomically(Path file, Map<String, String> metadata, Iterable<Tensor> tensors) throws IOException {
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

        AtomicFile.write(file, ch -> {
            ByteBuffer len = ByteBuffer.allocate(8).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
            writeFully(ch, len);
            writeFully(ch, ByteBuffer.wrap(header));
            byte[] chunk = new byte[COPY_CHUNK];
            MemorySegment chunkSeg = MemorySegment.ofArray(chunk);
            for (Tensor t : tensors) {
                long bytes = t.numel() * Float.BYTES;
                for (long done = 0; done < bytes; ) {
                    int n = (int) Math.min(COPY_CHUNK, bytes - done);
                    MemorySegment.copy(t.segment(), ValueLayout.JAVA_FLOAT, done, chunkSeg, LE_FLOAT, 0, n / Float.BYTES);
                    writeFully(ch, ByteBuffer.wrap(chunk, 0, n));
                    done += n;
                }
            }
        });
    }

    private static void writeFully(FileChannel ch, ByteBuffer b) throws IOException {
        while (b.hasRemaining()) ch.write(b);
    }
}
