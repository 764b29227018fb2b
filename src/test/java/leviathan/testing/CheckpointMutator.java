package leviathan.testing;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.lang.foreign.ValueLayout;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import leviathan.backend.JavaBackend;
import leviathan.data.CharTokenizer;
import leviathan.model.Checkpoint;
import leviathan.model.CheckpointException;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.model.Json;
import leviathan.model.Workspace;

/**
 * Seeded mutations of checkpoint files, shared by {@code CheckpointFuzzTest} (bounded, in the suite)
 * and {@link CheckpointFuzzMain} (as long as asked, run by {@code benchmarks/fuzz-checkpoints.sh}):
 * bit flips, byte inserts and deletes, truncation, length-prefix edits, and structural edits of the
 * header JSON (numbers, shapes, offsets, dtypes, metadata, vocabulary). Every outcome of loading a
 * mutated file must be a correct load, after which the model runs, or one
 * {@link CheckpointException} naming the file.
 */
public final class CheckpointMutator {
    private CheckpointMutator() {}

    /** A valid checkpoint of {@code cfg} (non-zero biases so data edits matter), as bytes. */
    public static byte[] valid(Path dir, GptConfig cfg, CharTokenizer tok) throws IOException {
        Path f = dir.resolve("valid-" + cfg.attention() + ".safetensors");
        try (Gpt g = Gpt.init(cfg, 7)) {
            // LayerNorm biases and the lag bias are zero at init: give them values so that data edits matter
            for (var t : g.params().tensors().values()) {
                if (t.name().endsWith("bias")) for (long k = 0; k < t.numel(); k++) t.setFlat(k, 0.01f * (k % 5));
            }
            Checkpoint.save(f, g, tok, Map.of("step", "3"));
        }
        return Files.readAllBytes(f);
    }

    /**
     * Loads {@code file} and runs the model: null on a correct load, the refusal's kind (names and
     * numbers removed) on a {@link CheckpointException} that names the file; anything else is thrown
     * as it came, or as an {@link AssertionError} for an unclear message or non-finite logits.
     */
    public static String check(Path file) throws Exception {
        try (Checkpoint.Loaded l = Checkpoint.load(file)) {
            Gpt g = l.model();
            int T = Math.min(5, g.config().blockSize()), V = g.config().vocabSize();
            try (Workspace ws = g.workspace(new JavaBackend(), 2, T, false)) {
                for (int i = 0; i < 2 * T; i++) ws.tokens().setAtIndex(ValueLayout.JAVA_INT, i, (i * 3) % V);
                g.forward(ws, 2, T, false);
                for (float v : ws.logits().asSlice(0, 2L * T * V * Float.BYTES).toArray(ValueLayout.JAVA_FLOAT)) {
                    // finite weights overflow the logits only if the file holds an absurd one (a flipped exponent bit)
                    if (!Float.isFinite(v) && maxAbs(g) < 1e10f) throw new AssertionError("loaded, but the logits are not finite");
                }
            }
            return null;
        } catch (CheckpointException e) {
            String m = e.getMessage();
            if (m == null || !m.startsWith(file + ": ") || m.length() <= file.toString().length() + 2 || m.contains("\n")) {
                throw new AssertionError("CheckpointException without the file and one line of problem: " + m, e);
            }
            return kind(m.substring(file.toString().length() + 2));
        }
    }

    /** The largest magnitude among the model's parameters. */
    static float maxAbs(Gpt g) {
        float m = 0;
        for (var t : g.params().tensors().values()) for (long k = 0; k < t.numel(); k++) m = Math.max(m, Math.abs(t.getFlat(k)));
        return m;
    }

    /** The problem with names and numbers removed, to count distinct refusals. */
    static String kind(String problem) {
        return problem.replaceAll("(dtype|dimension) .*?(;|$)", "$1 _$2").replaceAll("'[^']*'", "'_'").replaceAll("\\[[^\\]]*\\]", "[_]").replaceAll("-?[0-9]+", "N");
    }


    static final long[] INTERESTING = {0, 1, 2, 3, 4, 7, 8, 9, 16, 255, 256, 65535, 1L << 20, (1L << 31) - 1, 1L << 31,
            (1L << 32) + 8, Long.MAX_VALUE, -1, -8, Long.MIN_VALUE};
    static final String[] STRINGS = {"", "F16", "F32 ", "f32", "BF16", "I64", "leviathan-0", "leviathan-1", "correlation", "dot",
            "x", "0", "-1", "1", "2", "8", "16", " 8", "8.0", "1e3", "2147483647", "2147483648", "999999999", "\u0000", "\ud800",
            "ba", "aa", "a\u00e9\ud83d\ude00", "abc\n", "null"};

    /** One to three mutations of {@code in}, described in {@code what}. */
    public static byte[] mutate(byte[] in, SplittableRandom r, StringBuilder what) {
        byte[] b = in;
        int rounds = 1 + (r.nextInt(4) == 0 ? r.nextInt(3) : 0);
        for (int k = 0; k < rounds; k++) b = once(b, in, r, what);
        return b;
    }

    private static byte[] once(byte[] b, byte[] original, SplittableRandom r, StringBuilder what) {
        int headerEnd = headerEnd(b);
        switch (r.nextInt(12)) {
            case 0 -> {               // bit flips anywhere
                b = b.clone();
                int n = 1 + r.nextInt(8);
                for (int k = 0; k < n; k++) {
                    int at = r.nextInt(Math.max(1, b.length));
                    if (b.length > 0) b[at] ^= (byte) (1 << r.nextInt(8));
                }
                what.append("flip ").append(n).append(" bits; ");
            }
            case 1 -> {               // bit flips in the header
                b = b.clone();
                int at = r.nextInt(Math.max(1, Math.min(b.length, headerEnd)));
                if (b.length > 0) b[at] ^= (byte) (1 << r.nextInt(8));
                what.append("flip a header bit at ").append(at).append("; ");
            }
            case 2 -> {               // overwrite bytes with boundary values
                b = b.clone();
                int at = r.nextInt(Math.max(1, b.length)), n = 1 + r.nextInt(4);
                byte[] vals = {0, -1, 0x7f, (byte) 0x80, '"', '{', '[', ',', ':', '9', '-'};
                for (int k = 0; k < n && at + k < b.length; k++) b[at + k] = vals[r.nextInt(vals.length)];
                what.append("overwrite ").append(n).append(" bytes at ").append(at).append("; ");
            }
            case 3 -> {               // insert bytes
                int at = r.nextInt(b.length + 1), n = 1 + r.nextInt(16);
                byte[] ins = new byte[n];
                r.nextBytes(ins);
                b = splice(b, at, 0, ins);
                what.append("insert ").append(n).append(" bytes at ").append(at).append("; ");
            }
            case 4 -> {               // delete bytes
                int at = r.nextInt(Math.max(1, b.length)), n = Math.min(b.length - at, 1 + r.nextInt(64));
                b = splice(b, at, Math.max(0, n), new byte[0]);
                what.append("delete ").append(n).append(" bytes at ").append(at).append("; ");
            }
            case 5 -> {               // truncate or append
                if (r.nextBoolean()) {
                    int len = r.nextInt(b.length + 1);
                    b = Arrays.copyOf(b, len);
                    what.append("truncate to ").append(len).append("; ");
                } else {
                    int n = 1 + r.nextInt(32);
                    b = Arrays.copyOf(b, b.length + n);
                    what.append("append ").append(n).append(" zero bytes; ");
                }
            }
            case 6 -> {               // the 8-byte header length
                b = b.length < 8 ? Arrays.copyOf(b, 8) : b.clone();
                long cur = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
                long v = r.nextBoolean() ? INTERESTING[r.nextInt(INTERESTING.length)] : cur + r.nextInt(-16, 17);
                ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putLong(0, v);
                what.append("header length ").append(v).append("; ");
            }
            case 7 -> {               // a digit of the header text, length kept
                b = b.clone();
                List<Integer> digits = new ArrayList<>();
                for (int k = 8; k < Math.min(b.length, headerEnd); k++) if (b[k] >= '0' && b[k] <= '9') digits.add(k);
                if (!digits.isEmpty()) {
                    int at = digits.get(r.nextInt(digits.size()));
                    b[at] = (byte) ('0' + r.nextInt(10));
                    what.append("header digit at ").append(at).append("; ");
                }
            }
            case 8, 9, 10 -> b = jsonEdit(b, r, what);
            default -> {              // non-finite or extreme floats in the data
                b = b.clone();
                if (b.length >= headerEnd + 4 && headerEnd >= 8) {
                    int at = headerEnd + 4 * r.nextInt((b.length - headerEnd) / 4 + 1);
                    float[] vals = {Float.NaN, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.MAX_VALUE, 1e30f, -0f, Float.MIN_VALUE};
                    float v = vals[r.nextInt(vals.length)];
                    if (at + 4 <= b.length) ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).putFloat(at, v);
                    what.append("float ").append(v).append(" at ").append(at).append("; ");
                }
            }
        }
        return b;
    }

    /** End of the header as the file claims it (clamped to the file). */
    static int headerEnd(byte[] b) {
        if (b.length < 8) return b.length;
        long n = ByteBuffer.wrap(b).order(ByteOrder.LITTLE_ENDIAN).getLong(0);
        return n < 0 || n > b.length - 8 ? b.length : (int) (8 + n);
    }

    static byte[] splice(byte[] b, int at, int remove, byte[] insert) {
        byte[] out = new byte[b.length - remove + insert.length];
        System.arraycopy(b, 0, out, 0, at);
        System.arraycopy(insert, 0, out, at, insert.length);
        System.arraycopy(b, at + remove, out, at + insert.length, b.length - at - remove);
        return out;
    }

    /** Parses the header, edits one value, and writes it back with a matching length prefix. */
    @SuppressWarnings("unchecked")
    static byte[] jsonEdit(byte[] b, SplittableRandom r, StringBuilder what) {
        int end = headerEnd(b);
        if (end <= 8) return b;
        Object root;
        try {
            root = Json.parse(new String(b, 8, end - 8, StandardCharsets.UTF_8).strip());
        } catch (Json.ParseException e) {
            return b;
        }
        if (!(root instanceof Map<?, ?>)) return b;
        Map<String, Object> top = (Map<String, Object>) root;
        List<String> keys = new ArrayList<>(top.keySet());
        // a third of the edits go to the metadata (config, vocabulary): few keys, many checks behind them
        String key = top.containsKey("__metadata__") && r.nextInt(3) == 0 ? "__metadata__" : keys.get(r.nextInt(keys.size()));
        Object node = top.get(key);
        what.append("json ").append(key);
        if (r.nextInt(10) == 0) {
            top.remove(key);
            what.append(" removed");
        } else if (r.nextInt(12) == 0) {
            top.put(key + (r.nextBoolean() ? "" : "x"), INTERESTING[r.nextInt(INTERESTING.length)]);
            what.append(" replaced by a number");
        } else if (node instanceof Map<?, ?> m0) {
            Map<String, Object> m = (Map<String, Object>) m0;
            List<String> inner = new ArrayList<>(m.keySet());
            if (inner.isEmpty()) return b;
            String k = inner.get(r.nextInt(inner.size()));
            what.append('.').append(k);
            m.put(k, edit(m.get(k), r, what));
        }
        StringBuilder h = new StringBuilder();
        write(h, top);
        while (r.nextBoolean() && h.length() % 8 != 0) h.append(' ');
        byte[] header = h.toString().getBytes(StandardCharsets.UTF_8);
        byte[] out = new byte[8 + header.length + (b.length - end)];
        ByteBuffer.wrap(out).order(ByteOrder.LITTLE_ENDIAN).putLong(0, header.length);
        System.arraycopy(header, 0, out, 8, header.length);
        System.arraycopy(b, end, out, 8 + header.length, b.length - end);
        what.append("; ");
        return out;
    }

    private static Object edit(Object v, SplittableRandom r, StringBuilder what) {
        int c = r.nextInt(6);
        if (v instanceof List<?> l0) {
            List<Object> l = new ArrayList<>(l0);
            if (c == 0 && !l.isEmpty()) l.remove(r.nextInt(l.size()));
            else if (c == 1) l.add(r.nextInt(l.size() + 1), INTERESTING[r.nextInt(INTERESTING.length)]);
            else if (c == 2 && !l.isEmpty()) l.set(r.nextInt(l.size()), STRINGS[r.nextInt(STRINGS.length)]);
            else if (c == 3) l.clear();
            else if (!l.isEmpty()) {
                int i = r.nextInt(l.size());
                long old = l.get(i) instanceof Long x ? x : 0;
                l.set(i, r.nextBoolean() ? INTERESTING[r.nextInt(INTERESTING.length)] : old + r.nextInt(-8, 9));
            }
            what.append(" list edit ").append(l);
            return l;
        }
        if (v instanceof String s) {
            String n = switch (c) {
                case 0, 1 -> STRINGS[r.nextInt(STRINGS.length)];
                case 2 -> s.isEmpty() ? s : s.substring(0, r.nextInt(s.length()));        // drop a tail
                case 3 -> s + (char) r.nextInt(32, 0x3000);                                // add a character
                case 4 -> shuffle(s, r);
                default -> Long.toString(INTERESTING[r.nextInt(INTERESTING.length)]);
            };
            what.append(" = ").append(n.length() > 40 ? n.substring(0, 40) + "..." : n);
            return n;
        }
        Object n = c < 3 ? STRINGS[r.nextInt(STRINGS.length)] : INTERESTING[r.nextInt(INTERESTING.length)];
        what.append(" = ").append(n);
        return n;
    }

    private static String shuffle(String s, SplittableRandom r) {
        int[] cps = s.codePoints().toArray();
        if (cps.length < 2) return s;
        int i = r.nextInt(cps.length), j = r.nextInt(cps.length);
        int t = cps[i];
        cps[i] = cps[j];
        cps[j] = t;
        return new String(cps, 0, cps.length);
    }

    /** JSON writer for the parser's values (doubles as written by Java, which JSON accepts except NaN/Infinity). */
    static void write(StringBuilder sb, Object v) {
        if (v == null) sb.append("null");
        else if (v instanceof String s) Json.quote(sb, s);
        else if (v instanceof Map<?, ?> m) {
            sb.append('{');
            boolean first = true;
            for (var e : m.entrySet()) {
                if (!first) sb.append(',');
                first = false;
                Json.quote(sb, (String) e.getKey());
                sb.append(':');
                write(sb, e.getValue());
            }
            sb.append('}');
        } else if (v instanceof List<?> l) {
            sb.append('[');
            for (int i = 0; i < l.size(); i++) {
                if (i > 0) sb.append(',');
                write(sb, l.get(i));
            }
            sb.append(']');
        } else sb.append(v);
    }
}
