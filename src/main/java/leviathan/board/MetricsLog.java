package leviathan.board;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.Objects;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import leviathan.model.Json;

/**
 * A run's {@code metrics.jsonl} read while it grows: each {@link #refresh} reads only the bytes
 * appended since the last one, and only up to the last newline, so a line still being written (or
 * torn by a kill) is left for later, never an error. A file that shrank or was replaced (a resume
 * rewrites it) is read again from the start, and so is an unreadable one once it changed. A complete line that is not a JSON object with a
 * {@code step} makes the log unreadable, with the line number and the reason; the file is only
 * read, never locked or written.
 *
 * <p>Rows are of two kinds (train/Reporter.java): training rows ({@code train_loss},
 * {@code elapsed_s}, {@code tokens_per_s}, and for a mixture of experts {@code h.{l}.mlp.load.{e}})
 * and evaluation rows ({@code val_loss}, {@code eval_train_loss}). An evaluation row without
 * {@code elapsed_s} (runs before it was recorded) takes the wall-clock time of the last training row.
 */
final class MetricsLog {
    /** A metrics file that cannot be read as one: the reason names the line. */
    static final class Unreadable extends Exception {
        Unreadable(String message) { super(message, null, false, false); }
    }

    private static final Pattern LOAD = Pattern.compile("h\\.(\\d{1,4})\\.mlp\\.load\\.(\\d{1,4})");
    /** Bytes read per refresh at most, so that one huge file cannot stall the others (the rest comes next time). */
    private static final int MAX_READ = 8 << 20;

    private final Path file;
    private Object fileKey;
    private long offset;
    private int lines;
    private String error, errorVersion;

    final Column trainStep = new Column(), trainTime = new Column(), trainLoss = new Column();
    final Column valStep = new Column(), valTime = new Column(), valLoss = new Column(), valTrainLoss = new Column();
    /** Expert loads by name ({@code h.{l}.mlp.load.{e}}), aligned with the training rows. */
    final Map<String, Column> loads = new LinkedHashMap<>();
    float tokensPerSecond = Float.NaN;
    double bestVal = Double.NaN;

    MetricsLog(Path file) { this.file = file; }

    /** The last step logged, or -1 before any row. */
    int lastStep() {
        return (int) Math.max(trainStep.size() == 0 ? -1 : trainStep.last(), valStep.size() == 0 ? -1 : valStep.last());
    }

    /** Why the file cannot be read, or null. */
    String error() { return error; }

    /** Reads what was appended; returns whether anything changed. */
    boolean refresh() throws IOException {
        BasicFileAttributes attrs;
        try {
            attrs = Files.readAttributes(file, BasicFileAttributes.class);
        } catch (NoSuchFileException e) {
            boolean had = lines > 0 || offset > 0 || error != null;
            reset(null);
            return had;
        }
        if (!attrs.isRegularFile()) {
            String was = error;
            reset(null);
            error = file.getFileName() + " is not a regular file";
            return !error.equals(was);
        }
        boolean changed = false;
        String version = attrs.size() + "@" + attrs.lastModifiedTime().toMillis();
        if (!Objects.equals(attrs.fileKey(), fileKey) || attrs.size() < offset || (error != null && !version.equals(errorVersion))) {
            changed = lines > 0 || error != null;
            reset(attrs.fileKey());
        }
        errorVersion = version;                       // an unreadable file is read again once it changes
        if (error != null || attrs.size() == offset) return changed;
        int n = (int) Math.min(MAX_READ, attrs.size() - offset);
        ByteBuffer buf = ByteBuffer.allocate(n);
        try (FileChannel ch = FileChannel.open(file, StandardOpenOption.READ)) {
            while (buf.hasRemaining() && ch.read(buf, offset + buf.position()) > 0) { }
        }
        byte[] bytes = buf.array();
        int end = buf.position();
        int start = 0;
        for (int i = 0; i < end; i++) {
            if (bytes[i] != '\n') continue;
            String line = new String(bytes, start, i - start, StandardCharsets.UTF_8);
            lines++;
            try {
                if (!line.isBlank()) add(line);
            } catch (Unreadable e) {
                error = file.getFileName() + " line " + lines + ": " + e.getMessage();
                return true;
            }
            start = i + 1;
        }
        if (start == 0 && end == MAX_READ) {
            error = file.getFileName() + " line " + (lines + 1) + ": longer than " + (MAX_READ >> 20) + " MiB, not a metrics row";
            return true;
        }
        offset += start;                              // a line without its newline yet stays for the next refresh
        return changed || start > 0;
    }

    private void reset(Object key) {
        fileKey = key;
        offset = 0;
        lines = 0;
        error = null;
        for (Column c : new Column[] {trainStep, trainTime, trainLoss, valStep, valTime, valLoss, valTrainLoss}) c.clear();
        loads.clear();
        tokensPerSecond = Float.NaN;
        bestVal = Double.NaN;
    }

    private void add(String line) throws Unreadable {
        Object parsed;
        try {
            // the engine writes a non-finite loss as NaN or Infinity, which JSON has no word for
            parsed = Json.parse(line.indexOf('N') >= 0 || line.indexOf('I') >= 0 ? line.replaceAll(":\\s*-?(NaN|Infinity)", ":null") : line);
        } catch (Json.ParseException e) {
            throw new Unreadable("not JSON (" + e.getMessage() + ")");
        }
        if (!(parsed instanceof Map<?, ?> row)) throw new Unreadable("not a JSON object");
        if (!(row.get("step") instanceof Number step)) throw new Unreadable("no numeric \"step\"");
        double elapsed = number(row.get("elapsed_s"));
        if (row.containsKey("train_loss")) {
            int index = trainStep.size();
            trainStep.add(step.doubleValue());
            trainTime.add(Double.isNaN(elapsed) ? trainTime.size() == 0 ? 0 : trainTime.last() : elapsed);
            trainLoss.add(number(row.get("train_loss")));
            for (var e : row.entrySet()) {
                String k = (String) e.getKey();
                if (k.startsWith("h.") && LOAD.matcher(k).matches()) {
                    Column c = loads.computeIfAbsent(k, x -> new Column());
                    c.padTo(index);
                    c.add(number(e.getValue()));
                }
            }
        }
        if (row.containsKey("val_loss")) {
            double v = number(row.get("val_loss"));
            valStep.add(step.doubleValue());
            valTime.add(!Double.isNaN(elapsed) ? elapsed : trainTime.size() == 0 ? 0 : trainTime.last());
            valLoss.add(v);
            valTrainLoss.add(number(row.get("eval_train_loss")));
            if (Double.isFinite(v) && !(v >= bestVal)) bestVal = v;
        }
        double tps = number(row.get("tokens_per_s"));
        if (Double.isFinite(tps) && tps > 0) tokensPerSecond = (float) tps;
    }

    /** The expert loads of layer {@code layer} ({@code [expert][row]}), padded to the training rows; empty when none. */
    Column[] loadsOf(int layer) {
        int experts = 0;
        for (String k : loads.keySet()) {
            Matcher m = LOAD.matcher(k);
            if (m.matches() && Integer.parseInt(m.group(1)) == layer) experts = Math.max(experts, Integer.parseInt(m.group(2)) + 1);
        }
        Column[] out = new Column[experts];
        for (int e = 0; e < experts; e++) {
            out[e] = loads.getOrDefault("h." + layer + ".mlp.load." + e, new Column());
            out[e].padTo(trainStep.size());
        }
        return out;
    }

    /** Layers with expert loads, ascending. */
    int[] loadLayers() {
        return loads.keySet().stream().map(LOAD::matcher).filter(Matcher::matches).mapToInt(m -> Integer.parseInt(m.group(1)))
                .distinct().sorted().toArray();
    }

    private static double number(Object o) { return o instanceof Number n ? n.doubleValue() : Double.NaN; }
}
