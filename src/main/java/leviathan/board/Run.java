package leviathan.board;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import leviathan.model.GptConfig;
import leviathan.model.Json;
import leviathan.train.RunDirectory;
import leviathan.train.TrainConfig;

/**
 * One run directory as the board sees it: its {@code config.json}, its {@code metrics.jsonl} (read
 * as it grows, {@link MetricsLog}), its end-of-run sample, and the heat maps of its
 * {@code model.safetensors} (read when asked for, again only when the file changed). Everything is
 * read, nothing written or locked. Whether the run is training comes from its {@code lock} file,
 * which a training process fills with its PID and empties when it ends: a live PID means running.
 * A {@code config.json} or {@code metrics.jsonl} that cannot be read makes the run unreadable, with
 * the reason, and leaves the other runs alone.
 */
final class Run {
    /** The run's state in the list. */
    enum State { RUNNING, FINISHED, STOPPED, UNREADABLE }

    /** A file's identity and version: a change of any part means it was rewritten. */
    private record Stamp(Object key, long size, long modified) {
        static Stamp of(Path p) throws IOException {
            try {
                BasicFileAttributes a = Files.readAttributes(p, BasicFileAttributes.class);
                return new Stamp(a.fileKey(), a.size(), a.lastModifiedTime().toMillis());
            } catch (NoSuchFileException e) {
                return null;
            }
        }
    }

    /** Files larger than this are not read as a config or sample (a run writes a few KiB). */
    private static final long MAX_TEXT = 1 << 20;

    final String id, name;
    final Path dir;
    private final MetricsLog metrics;
    private Stamp configStamp, sampleStamp, modelStamp;
    private Map<?, ?> configJson;
    private TrainConfig config;
    private GptConfig model;
    private String configError, ioError, sample, weightsError;
    private List<LearnedWeights.HeatMap> heatMaps;
    private Stamp heatMapsOf;
    private boolean running, configRead;
    private long updated;
    /** Bumped on every change the page should fetch again. */
    private long revision;

    Run(String id, String name, Path dir) {
        this.id = id;
        this.name = name;
        this.dir = dir;
        this.metrics = new MetricsLog(dir.resolve(RunDirectory.METRICS_FILE));
    }

    /** Reads what changed on disk; returns whether anything did. */
    synchronized boolean refresh() {
        boolean changed = false;
        try {
            Stamp c = Stamp.of(dir.resolve(RunDirectory.CONFIG_FILE));
            if (!configRead || !Objects.equals(c, configStamp)) {
                configStamp = c;
                configRead = true;
                readConfig();
                changed = true;
            }
            changed |= metrics.refresh();
            Stamp s = Stamp.of(dir.resolve(RunDirectory.SAMPLE_FILE));
            if (!Objects.equals(s, sampleStamp)) {
                sampleStamp = s;
                sample = s == null ? null : s.size() > MAX_TEXT ? "(sample.txt is larger than 1 MiB; not shown)"
                        : Files.readString(dir.resolve(RunDirectory.SAMPLE_FILE), StandardCharsets.UTF_8);
                changed = true;
            }
            Stamp m = Stamp.of(dir.resolve(RunDirectory.MODEL_FILE));
            if (!Objects.equals(m, modelStamp)) {
                modelStamp = m;
                changed = true;
            }
            boolean live = holderAlive();
            if (live != running) {
                running = live;
                changed = true;
            }
            if (ioError != null) {
                ioError = null;
                changed = true;
            }
        } catch (IOException | RuntimeException e) {
            String was = ioError;
            ioError = "cannot read the run directory (" + message(e) + ")";
            changed |= !ioError.equals(was);
        }
        if (changed) {
            revision++;
            updated = Math.max(updated, newest());
        }
        return changed;
    }

    private void readConfig() throws IOException {
        configJson = null;
        config = null;
        model = null;
        configError = null;
        Path file = dir.resolve(RunDirectory.CONFIG_FILE);
        if (configStamp == null) {
            configError = "no config.json";
            return;
        }
        if (configStamp.size() > MAX_TEXT) {
            configError = "config.json is larger than 1 MiB";
            return;
        }
        String text = Files.readString(file, StandardCharsets.UTF_8);
        try {
            Object parsed = Json.parse(text);
            if (parsed instanceof Map<?, ?> map) configJson = map;
            TrainConfig c = TrainConfig.fromJson(text);
            model = c.model().toGptConfig(1);
            config = c;
        } catch (Json.ParseException e) {
            configError = "config.json is not valid JSON (" + e.getMessage() + ")";
        } catch (RuntimeException e) {
            configError = "config.json is not a valid run config (" + message(e) + ")";
        }
    }

    /** Whether the {@code lock} file names a live process (the training that holds the directory). */
    private boolean holderAlive() {
        Path lock = dir.resolve(RunDirectory.LOCK_FILE);
        try {
            if (!Files.isRegularFile(lock) || Files.size(lock) > 64) return false;
            String pid = Files.readString(lock, StandardCharsets.US_ASCII).trim();
            if (!pid.matches("\\d{1,18}")) return false;
            return ProcessHandle.of(Long.parseLong(pid)).map(ProcessHandle::isAlive).orElse(false);
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** The latest modification time of the run's files, in epoch milliseconds. */
    private long newest() {
        long t = 0;
        for (String f : new String[] {RunDirectory.CONFIG_FILE, RunDirectory.METRICS_FILE, RunDirectory.MODEL_FILE, RunDirectory.SAMPLE_FILE}) {
            try {
                t = Math.max(t, Files.getLastModifiedTime(dir.resolve(f)).toMillis());
            } catch (IOException ignored) {
                // absent: not part of the run (yet)
            }
        }
        return t;
    }

    synchronized long revision() { return revision; }

    /** Why the run cannot be shown, or null. */
    synchronized String error() { return ioError != null ? ioError : configError != null ? configError : metrics.error(); }

    synchronized State state() {
        if (error() != null) return State.UNREADABLE;
        if (running) return State.RUNNING;
        return config != null && metrics.lastStep() >= config.schedule().steps() ? State.FINISHED : State.STOPPED;
    }

    /** The run's line in the list. */
    synchronized void summaryJson(StringBuilder sb) {
        sb.append("{\"id\":");
        JsonText.string(sb, id);
        sb.append(",\"name\":");
        JsonText.string(sb, name);
        sb.append(",\"state\":\"").append(state().name().toLowerCase(java.util.Locale.ROOT)).append('"');
        sb.append(",\"error\":");
        JsonText.string(sb, error());
        sb.append(",\"rev\":").append(revision).append(",\"updated\":").append(updated);
        if (config != null) {
            sb.append(",\"mixer\":");
            JsonText.string(sb, describe(model.attention(), model.mixerOptions()));
            sb.append(",\"mlp\":");
            JsonText.string(sb, describe(model.mlp().kind(), model.mlp().options()));
            sb.append(",\"shape\":");
            JsonText.string(sb, model.nLayer() + "L " + model.nHead() + "H " + model.nEmbd() + "C T" + model.blockSize());
            sb.append(",\"steps\":").append(config.schedule().steps());
        }
        sb.append(",\"step\":").append(metrics.lastStep());
        sb.append(",\"best_val\":");
        JsonText.number(sb, metrics.bestVal);
        sb.append(",\"best_bpc\":");
        JsonText.number(sb, metrics.bestVal / Math.log(2));
        sb.append(",\"tokens_per_s\":");
        JsonText.number(sb, metrics.tokensPerSecond);
        sb.append('}');
    }

    private static String describe(String kind, Map<String, String> options) {
        StringBuilder sb = new StringBuilder(kind);
        options.forEach((k, v) -> sb.append(' ').append(k).append('=').append(v));
        return sb.toString();
    }

    /** Everything the run's panel shows: summary, config, sample, curves, expert loads and heat maps. */
    synchronized void detailJson(StringBuilder sb) {
        sb.append("{\"summary\":");
        summaryJson(sb);
        sb.append(",\"dir\":");
        JsonText.string(sb, dir.toString());
        sb.append(",\"config\":");
        JsonText.value(sb, configJson);
        sb.append(",\"sample\":");
        JsonText.string(sb, sample);
        sb.append(",\"train\":{\"step\":");
        JsonText.numbers(sb, metrics.trainStep);
        sb.append(",\"time\":");
        JsonText.numbers(sb, metrics.trainTime);
        sb.append(",\"loss\":");
        JsonText.numbers(sb, metrics.trainLoss);
        sb.append("},\"val\":{\"step\":");
        JsonText.numbers(sb, metrics.valStep);
        sb.append(",\"time\":");
        JsonText.numbers(sb, metrics.valTime);
        sb.append(",\"loss\":");
        JsonText.numbers(sb, metrics.valLoss);
        sb.append(",\"train_loss\":");
        JsonText.numbers(sb, metrics.valTrainLoss);
        sb.append("},\"loads\":[");
        int[] layers = metrics.loadLayers();
        for (int i = 0; i < layers.length; i++) {
            if (i > 0) sb.append(',');
            sb.append("{\"layer\":").append(layers[i]).append(",\"experts\":[");
            Column[] experts = metrics.loadsOf(layers[i]);
            for (int e = 0; e < experts.length; e++) {
                if (e > 0) sb.append(',');
                JsonText.numbers(sb, experts[e]);
            }
            sb.append("]}");
        }
        sb.append("],\"heatmaps\":[");
        List<LearnedWeights.HeatMap> maps = heatMaps();
        for (int i = 0; i < maps.size(); i++) {
            LearnedWeights.HeatMap h = maps.get(i);
            if (i > 0) sb.append(',');
            sb.append("{\"layer\":").append(h.layer()).append(",\"tensor\":");
            JsonText.string(sb, h.tensor());
            sb.append(",\"title\":");
            JsonText.string(sb, h.title());
            sb.append(",\"row_label\":");
            JsonText.string(sb, h.rowLabel());
            sb.append(",\"col_label\":");
            JsonText.string(sb, h.colLabel());
            sb.append(",\"rows\":").append(h.rows()).append(",\"cols\":").append(h.cols()).append(",\"first_col\":").append(h.firstCol())
                    .append(",\"values\":[");
            for (int k = 0; k < h.values().length; k++) {
                if (k > 0) sb.append(',');
                JsonText.number(sb, h.values()[k]);
            }
            sb.append("]}");
        }
        sb.append("],\"has_model\":").append(modelStamp != null).append(",\"weights_error\":");
        JsonText.string(sb, weightsError);
        sb.append('}');
    }

    /** The heat maps of the current model file, read again only when it changed; empty without a model. */
    private List<LearnedWeights.HeatMap> heatMaps() {
        if (model == null || modelStamp == null) return List.of();
        if (heatMaps != null && modelStamp.equals(heatMapsOf)) return heatMaps;
        Path file = dir.resolve(RunDirectory.MODEL_FILE);
        weightsError = null;
        for (int attempt = 0; ; attempt++) {
            try {
                Stamp before = Stamp.of(file);
                List<LearnedWeights.HeatMap> maps = LearnedWeights.read(file, model.nLayer(), model.nHead());
                Stamp after = Stamp.of(file);
                if (!Objects.equals(before, after) && attempt < 3) continue;         // replaced by a checkpoint meanwhile
                heatMaps = maps;
                heatMapsOf = after;
                return maps;
            } catch (IOException | RuntimeException e) {
                if (attempt < 3) continue;
                weightsError = "cannot read " + RunDirectory.MODEL_FILE + ": " + message(e);
                heatMaps = List.of();
                heatMapsOf = modelStamp;
                return heatMaps;
            }
        }
    }

    private static String message(Throwable e) { return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage(); }
}
