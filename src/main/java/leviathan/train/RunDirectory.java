package leviathan.train;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.LinkOption;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import leviathan.data.CharTokenizer;
import leviathan.data.Datasets;
import leviathan.model.Checkpoint;
import leviathan.model.CheckpointException;
import leviathan.model.Gpt;
import leviathan.model.GptConfig;
import leviathan.model.SafeTensors;
import leviathan.model.TrainState;
import leviathan.nn.PartType;
import leviathan.nn.Parts;
import leviathan.tensor.AtomicFile;
import leviathan.tensor.Tensor;

/**
 * A run directory, held by one process at a time: {@code config.json} (the effective config),
 * {@code metrics.jsonl} (one JSON object per log point), {@code model.safetensors} (the model,
 * enough to sample and evaluate), {@code state.safetensors} (parameters, optimizer moments and
 * counters: what a resume needs), {@code sample.txt} (the end-of-run sample, once the run is
 * complete) and {@code lock} (the PID of the process training in it).
 *
 * <p>Opening takes an exclusive OS file lock on {@code lock} for the whole run, so a second writer
 * is refused naming the holder; the OS releases it if the process dies. Every file is replaced
 * atomically by {@link AtomicFile} (temp file, fsync, rename), and no file the directory owns is
 * followed through a symbolic link: a link, FIFO or directory under one of these names is refused.
 * A checkpoint is a pair: both files are written in full beside the old ones first, then renamed,
 * the model first; so a failed write replaces nothing, and
 * a kill between the two renames leaves the model one checkpoint ahead of the state, which resume
 * reports and recomputes exactly.
 */
public final class RunDirectory implements AutoCloseable {
    public static final String MODEL_FILE = "model.safetensors", STATE_FILE = "state.safetensors", CONFIG_FILE = "config.json",
            METRICS_FILE = "metrics.jsonl", LOCK_FILE = "lock", SAMPLE_FILE = "sample.txt";
    /** Suffix of a checkpoint file written in full but not yet renamed into place. */
    static final String STAGED = ".next";
    /** Run directories locked by this JVM: a second lock attempt must not open (and close) the lock file again. */
    private static final Set<Path> HELD = ConcurrentHashMap.newKeySet();

    /** A checkpoint: its step and the validation loss it was saved with (NaN where it was not recorded). */
    public record Saved(int step, double valLoss) {}

    /**
     * A validated resume point: the state, its counters, what the last good checkpoint is, a note
     * when the pair disagrees, and {@code complete}: why there is nothing to resume (null if there is).
     */
    public record Resume(TrainConfig config, TrainState state, int step, int optimizerSteps, int skipped, Saved lastGood, String note,
                         String complete) {}

    private final Path dir, key;
    private final FileChannel lockChannel;
    private final FileLock lock;

    private RunDirectory(Path dir, Path key, FileChannel lockChannel, FileLock lock) {
        this.dir = dir;
        this.key = key;
        this.lockChannel = lockChannel;
        this.lock = lock;
    }

    /** {@code runs/<time>-<attention>[-<option><value>...][-<mlp>]} under the project directory, e.g. {@code -correlation-lags4}. */
    public static Path defaultPath(GptConfig c) {
        StringBuilder name = new StringBuilder(LocalDateTime.now().format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
        name.append('-').append(c.hybrid() ? "hybrid" : c.attention());
        c.mixerOptions().forEach((k, v) -> name.append('-').append(k).append(v));
        if (!c.mlp().kind().equals(Parts.defaultKind(PartType.Slot.MLP))) name.append('-').append(c.mlp().kind());
        return Datasets.home().resolve("runs").resolve(name.toString());
    }

    /**
     * Creates {@code dir} for a new run, and locks it. Only a directory that does not exist, is empty
     * (but for an empty {@code lock}) or is a Leviathan run directory is used, and a run directory
     * only with {@code overwrite}, which deletes its run files first (see {@link #checkNew}).
     */
    public static RunDirectory create(Path dir, boolean overwrite) throws IOException {
        if (Files.exists(dir) && !Files.isDirectory(dir)) throw new IOException("--out " + dir + " exists and is not a directory");
        Files.createDirectories(dir);
        RunDirectory rd = lock(dir);
        try {
            if (checkNew(dir, overwrite)) {
                for (String f : RUN_FILES) Files.deleteIfExists(dir.resolve(f));   // regular files (checkNew refused odd entries)
            }
            return rd;
        } catch (IOException | RuntimeException e) {
            rd.close();
            throw e;
        }
    }

    /** The files a run writes; with {@code lock}, the only names a run directory holds (besides temp and staged files). */
    private static final List<String> RUN_FILES = List.of(CONFIG_FILE, METRICS_FILE, MODEL_FILE, STATE_FILE, SAMPLE_FILE);

    private static final List<String> RUN_CONFIG_KEYS = List.of("data", "n_layer", "n_embd", "block_size", "steps", "lr");

    /**
     * Whether a new run may use {@code dir}, checked before any data is read and again under the lock:
     * true when it holds an earlier run that {@code overwrite} allows to replace, false when there is
     * nothing to replace (absent or empty). Refused, in one line naming the way on: a directory holding
     * anything a run does not write (someone's files are never taken over), a {@code config.json} that
     * is not a run config, an odd entry (link, FIFO, directory) under a run file's name, and any
     * earlier run without {@code overwrite} (continue one with {@code --resume}).
     */
    public static boolean checkNew(Path dir, boolean overwrite) throws IOException {
        if (!Files.isDirectory(dir)) return false;
        List<String> foreign = new java.util.ArrayList<>();
        boolean runFiles = false;
        try (var entries = Files.newDirectoryStream(dir)) {
            for (Path p : entries) {
                String name = p.getFileName().toString();
                if (name.equals(LOCK_FILE) || RUN_FILES.contains(name)) {
                    AtomicFile.requireOrdinary(p);
                    if (!name.equals(LOCK_FILE)) runFiles = true;
                } else if (!isLeftover(name)) {
                    foreign.add(name);
                }
            }
        }
        if (!foreign.isEmpty()) {
            java.util.Collections.sort(foreign);
            throw new IOException("--out " + dir + " is not empty and not a Leviathan run directory (it holds "
                    + String.join(", ", foreign.subList(0, Math.min(3, foreign.size()))) + (foreign.size() > 3 ? ", ..." : "")
                    + "): a new run never takes over a directory with other files in it; choose a new or empty --out");
        }
        if (!runFiles) return false;
        // a file under a run file's name must be a run's: a checkpoint in Leviathan's format, metrics rows
        for (String f : List.of(MODEL_FILE, STATE_FILE)) {
            Path p = dir.resolve(f);
            if (Files.exists(p) && !isLeviathanCheckpoint(p)) {
                throw new IOException("--out " + dir + " holds a " + f + " that is not a Leviathan checkpoint: a new run never replaces"
                        + " it; choose a new or empty --out");
            }
        }
        Path metricsFile = dir.resolve(METRICS_FILE);
        if (Files.exists(metricsFile) && !isMetrics(metricsFile)) {
            throw new IOException("--out " + dir + " holds a " + METRICS_FILE + " that is not a Leviathan run's metrics: a new run never"
                    + " replaces it; choose a new or empty --out");
        }
        Path cfg = dir.resolve(CONFIG_FILE);
        if (Files.exists(cfg)) {
            try {
                String json = Files.readString(cfg, StandardCharsets.UTF_8);
                // every run config names these; fromJson alone is lenient (unknown keys are part options)
                if (!(leviathan.model.Json.parse(json) instanceof Map<?, ?> keys && keys.keySet().containsAll(RUN_CONFIG_KEYS))) {
                    throw new IllegalArgumentException("not a run config");
                }
                TrainConfig.fromJson(json);
            } catch (IOException | RuntimeException | leviathan.model.Json.ParseException e) {
                throw new IOException("--out " + dir + " holds a " + CONFIG_FILE + " that is not a Leviathan run config: a new run never"
                        + " replaces it; choose a new or empty --out");
            }
        }
        if (overwrite) return true;
        Path state = dir.resolve(STATE_FILE), model = dir.resolve(MODEL_FILE);
        if (Files.exists(state)) {
            throw new IOException(dir + " already holds a run; continue it with --resume " + dir
                    + ", start it over with --overwrite (deletes its checkpoints), or choose another --out");
        }
        Saved inModel = savedIn(model);
        throw new IOException(dir + " holds an earlier run" + (Files.exists(model) ? " (" + model.getFileName()
                + (inModel == null ? "" : " of step " + inModel.step()) + ", no training state to resume)" : " that saved no checkpoint")
                + ": start over in it with --overwrite (deletes its files), or choose another --out");
    }

    /** Opens and locks the existing run directory {@code dir} (to resume it). */
    public static RunDirectory open(Path dir) throws IOException {
        Path cfg = dir.resolve(CONFIG_FILE);
        String kind = leviathan.tensor.FileKind.notRegular(cfg);
        if (kind != null && kind.equals("does not exist")) {
            String dirKind = leviathan.tensor.FileKind.notRegular(dir);
            if (dirKind != null && !dirKind.startsWith("is a directory")) throw new IOException("cannot resume: " + dir + " " + dirKind);
            throw new IOException("cannot resume: " + cfg + " not found (is " + dir + " a run directory?)");
        }
        AtomicFile.requireOrdinary(cfg);
        return lock(dir);
    }

    private static RunDirectory lock(Path dir) throws IOException {
        Path key = dir.toRealPath(), file = dir.resolve(LOCK_FILE);
        long self = ProcessHandle.current().pid();
        if (!HELD.add(key)) throw new IOException(busy(dir, Long.toString(self)));
        FileChannel ch = null;
        try {
            AtomicFile.requireOrdinary(file);                            // never truncate what a link points to, nor seek a FIFO
            ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE,
                    LinkOption.NOFOLLOW_LINKS);
            FileLock l = ch.tryLock();
            if (l == null) throw new IOException(busy(dir, holder(file)));
            try {
                ch.truncate(0);
                ch.write(ByteBuffer.wrap((self + "\n").getBytes(StandardCharsets.US_ASCII)), 0);   // for the message of a second writer
            } catch (IOException e) {
                throw new IOException("cannot write " + file + " (" + reason(e) + "): nothing in " + dir
                        + " was changed; fix the cause (e.g. free disk space) and start again", e);
            }
            RunDirectory rd = new RunDirectory(dir, key, ch, l);
            rd.removeLeftovers();
            for (String f : RUN_FILES) AtomicFile.requireOrdinary(dir.resolve(f));
            return rd;
        } catch (IOException | RuntimeException e) {
            if (ch != null) ch.close();
            HELD.remove(key);
            throw e;
        }
    }

    private static String reason(IOException e) {
        if (e instanceof java.nio.file.FileSystemException f && f.getReason() != null) return f.getReason();
        return e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
    }

    /** Whether {@code p} is a safetensors file whose metadata names a Leviathan format (model or training state). */
    private static boolean isLeviathanCheckpoint(Path p) {
        try {
            String format = SafeTensors.readHeader(p).metadata().get("format");
            return format != null && format.startsWith("leviathan");
        } catch (IOException | RuntimeException e) {
            return false;
        }
    }

    /** Whether {@code p} is empty or starts with a metrics row ({@code {"step":N...}}; a torn first row counts). */
    private static boolean isMetrics(Path p) {
        try (var in = Files.newInputStream(p)) {
            byte[] head = in.readNBytes(8);
            return head.length == 0 || "{\"step\":".startsWith(new String(head, StandardCharsets.US_ASCII));
        } catch (IOException e) {
            return false;
        }
    }

    private static String busy(Path dir, String pid) {
        return dir + " is in use by another training (pid " + pid + ", which holds " + dir.resolve(LOCK_FILE)
                + "); wait for it to end, or train into another --out";
    }

    /**
     * The pid in a lock held by another process. The holder writes it just after taking the lock, so a
     * start that lost a race by microseconds may find the file still empty: it reads again for up to a second.
     */
    private static String holder(Path file) {
        for (int i = 0; i < 20; i++) {
            try {
                String pid = Files.readString(file, StandardCharsets.US_ASCII).trim();
                if (pid.matches("\\d{1,19}")) return pid;
                Thread.sleep(50);
            } catch (IOException | RuntimeException e) {
                break;
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                break;
            }
        }
        return "not yet written";
    }

    /** Files of killed writes (temp and staged files); safe to delete because this process holds the lock. */
    private void removeLeftovers() throws IOException {
        try (var files = Files.newDirectoryStream(dir, p -> Files.isRegularFile(p, LinkOption.NOFOLLOW_LINKS)
                && isLeftover(p.getFileName().toString()))) {
            for (Path p : files) Files.deleteIfExists(p);
        }
    }

    private static boolean isLeftover(String name) {
        for (String f : List.of(MODEL_FILE, STATE_FILE, CONFIG_FILE, METRICS_FILE, SAMPLE_FILE)) {
            if (name.startsWith(f + AtomicFile.TEMP_MARK) || name.equals(f + STAGED) || name.startsWith(f + STAGED + AtomicFile.TEMP_MARK)) {
                return true;
            }
        }
        return false;
    }

    /** The directory. */
    public Path path() { return dir; }

    /** {@code model.safetensors}: the last good model. */
    public Path model() { return dir.resolve(MODEL_FILE); }

    /** {@code state.safetensors}: what a resume needs. */
    public Path state() { return dir.resolve(STATE_FILE); }

    /** {@code metrics.jsonl}. */
    public Path metrics() { return dir.resolve(METRICS_FILE); }

    /** {@code config.json}. */
    public Path config() { return dir.resolve(CONFIG_FILE); }

    /** The run's {@code config.json}, with {@code out} set to this directory. */
    public TrainConfig readConfig() throws IOException {
        try {
            return TrainConfig.fromJson(Files.readString(config(), StandardCharsets.UTF_8)).withOut(dir.toString());
        } catch (IOException | RuntimeException e) {
            throw new IOException("cannot resume: " + config() + " is not a valid run config (" + e.getMessage()
                    + "); it is written whole or not at all, so it was edited or damaged since", e);
        }
    }

    /** Replaces {@code sample.txt} in the run directory {@code dir} (the end-of-run sample) atomically. */
    public static void writeSample(Path dir, String text) throws IOException {
        writeAtomically(dir.resolve(SAMPLE_FILE), text);
    }

    /** Replaces {@code config.json} atomically: a kill here must not leave a torn config. */
    public void writeConfig(TrainConfig cfg) throws IOException {
        writeAtomically(config(), cfg.toJson());
    }

    /**
     * Validates the resume point for {@code cfg} (read from {@code config.json}) and a requested
     * total of {@code steps} (0 keeps the configured one): the state must exist, belong to this
     * run's model, and lie at or before the total; {@link Resume#complete()} says when it is the total.
     */
    public Resume resume(TrainConfig cfg, int steps) throws IOException {
        Saved inModel = savedIn(model());
        AtomicFile.requireOrdinary(state());                             // a FIFO or directory there is named as such, not "not found"
        if (!Files.isRegularFile(state())) {
            if (inModel == null) {
                throw new IOException("cannot resume: " + state() + " not found (the run saved no checkpoint yet); start it over with"
                        + " train --out " + dir + " --overwrite");
            }
            throw new IOException("cannot resume: " + state() + " not found, but " + model() + " holds step " + inModel.step()
                    + ": that checkpoint's training state was never written, so the run cannot continue exactly; start a new run"
                    + " from those weights with --init-from " + model());
        }
        TrainState st = TrainState.read(state());
        GptConfig described;
        try {
            described = cfg.model().toGptConfig(st.tokenizer().vocabSize());
        } catch (IllegalArgumentException e) {
            throw new CheckpointException(state(), "config.json describes an invalid model: " + e.getMessage());
        }
        if (!st.config().equals(described)) {
            throw new CheckpointException(state(), "holds a model of " + describe(st.config()) + " but config.json describes "
                    + describe(described) + ": the two files do not belong to the same run");
        }
        int step = st.counter("step", -1, Integer.MAX_VALUE);
        if (step > cfg.schedule().steps()) {
            throw new CheckpointException(state(), "is at step " + step + ", beyond the " + cfg.schedule().steps()
                    + " steps config.json describes: the two files do not belong to the same run");
        }
        int optSteps = st.counter("optimizer_steps", step, step), skipped = st.counter("skipped_steps", 0, step);
        Saved inState = new Saved(step, number(st.metadata().get("val_loss")));
        String note = inModel == null || inModel.step() == step ? null : model() + " holds step " + inModel.step() + " and "
                + state() + " step " + step + " (the run stopped between the two renames of a checkpoint): resuming from step " + step;
        Saved lastGood = inModel != null ? inModel : inState;
        int total = steps > 0 ? steps : cfg.schedule().steps();
        if (steps > 0 && steps < step) {
            throw new IllegalArgumentException("--steps " + steps + " is below step " + step + ", which " + dir + " already reached: a run"
                    + " cannot go back; pass --steps above " + step + ", or start a new run with --init-from " + model());
        }
        String complete = step < total ? null : dir + " is complete: all " + total + " steps ran (checkpoint of step " + step
                + lossText(inState.valLoss()) + "); to train further, raise the total: leviathan train --resume " + dir
                + " --steps N, with N > " + total;
        return new Resume(cfg.withSteps(total), st, step, optSteps, skipped, lastGood, note, complete);
    }

    private static String describe(GptConfig c) { return c.describe(); }

    /** The step and val loss recorded in a model file's metadata, or null if it is absent or unreadable. */
    static Saved savedIn(Path model) {
        if (!Files.isRegularFile(model)) return null;
        try {
            Map<String, String> meta = SafeTensors.readHeader(model).metadata();
            return new Saved(Integer.parseInt(meta.get("step").trim()), number(meta.get("val_loss")));
        } catch (IOException | RuntimeException e) {
            return null;
        }
    }

    private static double number(String s) {
        try {
            return s == null ? Double.NaN : Double.parseDouble(s.trim());
        } catch (NumberFormatException e) {
            return Double.NaN;
        }
    }

    static String lossText(double valLoss) {
        return Double.isNaN(valLoss) ? "" : String.format(", val loss %.4g", valLoss);
    }

    /** How the last good checkpoint is named in messages. */
    String describe(Saved s) {
        return s == null ? "none yet" : model() + " (step " + s.step() + lossText(s.valLoss()) + "; continue with --resume " + dir + ")";
    }

    /**
     * Writes the checkpoint {@code saved} as one pair: model and state are written in full beside
     * the current ones, then renamed into place, the model first. If a write fails nothing is
     * replaced and the message says which checkpoint ({@code previous}) is kept.
     */
    public void save(Saved saved, Saved previous, Gpt m, CharTokenizer tok, Map<String, String> meta, List<Tensor> state) throws IOException {
        Path modelNext = dir.resolve(MODEL_FILE + STAGED), stateNext = dir.resolve(STATE_FILE + STAGED);
        Path writing = modelNext;
        try {
            Checkpoint.save(modelNext, m, tok, meta);
            writing = stateNext;
            TrainState.write(stateNext, m.config(), tok, meta, state);
        } catch (IOException e) {
            deleteQuietly(modelNext);
            deleteQuietly(stateNext);
            throw new IOException("step " + saved.step() + ": the checkpoint was not written (writing " + writing + " failed: "
                    + e.getMessage() + "); kept: " + (previous == null ? "nothing, this was the run's first checkpoint"
                    : MODEL_FILE + " and " + STATE_FILE + " of step " + previous.step() + lossText(previous.valLoss())
                    + "; fix the cause and continue with --resume " + dir), e);
        }
        AtomicFile.requireOrdinary(model());                            // both checked first: the two renames follow each other at once
        AtomicFile.requireOrdinary(state());
        move(modelNext, model());
        try {
            move(stateNext, state());
        } catch (IOException e) {
            deleteQuietly(stateNext);
            throw new IOException("step " + saved.step() + ": " + model() + " holds step " + saved.step() + " but " + state()
                    + " could not be replaced (" + e.getMessage() + ") and still holds "
                    + (previous == null ? "nothing" : "step " + previous.step()) + "; --resume continues from there", e);
        }
        AtomicFile.syncDirectory(dir);
        AtomicFile.deleteStaleTemps(model());
        AtomicFile.deleteStaleTemps(state());
    }

    /** Removes a staged file after a failed save; what cannot be removed is removed when the directory is next opened. */
    private static void deleteQuietly(Path p) {
        try {
            Files.deleteIfExists(p);
        } catch (IOException ignored) {
            // not a regular file, or not removable: never read, and the message names the real problem
        }
    }

    private static void move(Path from, Path to) throws IOException {
        AtomicFile.move(from, to);
    }

    /**
     * Before a resumed run appends to {@code metrics.jsonl}: drops a line torn by a kill and the
     * rows of steps after {@code step} (they are computed again), so the file reads as one run.
     */
    public void repairMetrics(int step) throws IOException {
        repairMetrics(metrics(), step);
    }

    static void repairMetrics(Path metrics, int step) throws IOException {
        if (!Files.isRegularFile(metrics)) return;
        String all = Files.readString(metrics, StandardCharsets.UTF_8);
        StringBuilder kept = new StringBuilder();
        int end = all.lastIndexOf('\n') + 1;                                // a torn last line has no newline
        for (String line : all.substring(0, end).split("\n")) {
            Matcher mt = METRICS_STEP.matcher(line);
            if (line.isBlank() || (mt.find() && Long.parseLong(mt.group(1)) > step)) continue;
            kept.append(line).append('\n');
        }
        if (kept.length() != all.length()) writeAtomically(metrics, kept.toString());
    }

    private static final Pattern METRICS_STEP = Pattern.compile("^\\{\"step\":(\\d{1,18})[,}]");

    /** Writes {@code text} to {@code file} through a temp file and a rename: readers see the old or the new file. */
    static void writeAtomically(Path file, String text) throws IOException {
        try {
            AtomicFile.writeString(file, text);
        } catch (AtomicFile.OddEntryException e) {
            throw e;
        } catch (IOException e) {
            throw cannotWrite(file, e);
        }
    }

    /**
     * A failed write of a run-directory file (config, metrics; e.g. a full disk), said in one line: which
     * file, why, that the checkpoints are untouched, and how to continue.
     */
    static IOException cannotWrite(Path file, IOException e) {
        String why = reason(e);
        Path dir = file.getParent();
        if (!Files.isRegularFile(dir.resolve(STATE_FILE), LinkOption.NOFOLLOW_LINKS)) {
            return new IOException("cannot write " + file + " (" + why + "); the run saved no checkpoint yet: once the cause is fixed"
                    + " (e.g. free disk space), start it again with --overwrite", e);
        }
        return new IOException("cannot write " + file + " (" + why + "); the checkpoints in " + dir
                + " are intact: once the cause is fixed (e.g. free disk space), continue with --resume " + dir, e);
    }

    /** Releases the lock (the lock file stays, emptied: removing it could let two writers lock different files). */
    @Override
    public void close() throws IOException {
        try {
            if (lock.isValid()) {
                lockChannel.truncate(0);
                lock.release();
            }
        } finally {
            lockChannel.close();
            HELD.remove(key);
        }
    }
}
