package leviathan.train;

import java.io.IOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.charset.StandardCharsets;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
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
 * atomically (temp file, fsync, rename). A checkpoint is a pair: both files are written in full
 * beside the old ones first, then renamed, the model first; so a failed write replaces nothing, and
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
        name.append('-').append(c.attention());
        c.mixer().options().forEach((k, v) -> name.append('-').append(k).append(v));
        if (!c.mlp().kind().equals("dense")) name.append('-').append(c.mlp().kind());
        return Datasets.home().resolve("runs").resolve(name.toString());
    }

    /** Creates (or takes over an empty or never-checkpointed) {@code dir} for a new run, and locks it. */
    public static RunDirectory create(Path dir) throws IOException {
        if (Files.exists(dir) && !Files.isDirectory(dir)) throw new IOException("--out " + dir + " exists and is not a directory");
        Files.createDirectories(dir);
        RunDirectory rd = lock(dir);
        try {
            if (Files.exists(rd.state())) {
                throw new IOException(dir + " already holds a run; continue it with --resume " + dir + " or choose another --out");
            }
            // a directory without a state: any metrics there are from a run killed before its first checkpoint
            Files.deleteIfExists(rd.metrics());
            Files.deleteIfExists(dir.resolve(SAMPLE_FILE));
            return rd;
        } catch (IOException | RuntimeException e) {
            rd.close();
            throw e;
        }
    }

    /** Opens and locks the existing run directory {@code dir} (to resume it). */
    public static RunDirectory open(Path dir) throws IOException {
        Path cfg = dir.resolve(CONFIG_FILE);
        if (!Files.isRegularFile(cfg)) throw new IOException("cannot resume: " + cfg + " not found (is " + dir + " a run directory?)");
        return lock(dir);
    }

    private static RunDirectory lock(Path dir) throws IOException {
        Path key = dir.toRealPath(), file = dir.resolve(LOCK_FILE);
        long self = ProcessHandle.current().pid();
        if (!HELD.add(key)) throw new IOException(busy(dir, Long.toString(self)));
        FileChannel ch = null;
        try {
            ch = FileChannel.open(file, StandardOpenOption.CREATE, StandardOpenOption.READ, StandardOpenOption.WRITE);
            FileLock l = ch.tryLock();
            if (l == null) {
                String holder = Files.readString(file, StandardCharsets.UTF_8).trim();
                throw new IOException(busy(dir, holder.matches("\\d{1,19}") ? holder : "unknown"));
            }
            ch.truncate(0);
            ch.write(ByteBuffer.wrap((self + "\n").getBytes(StandardCharsets.US_ASCII)));   // for the message of a second writer
            RunDirectory rd = new RunDirectory(dir, key, ch, l);
            rd.removeLeftovers();
            return rd;
        } catch (IOException | RuntimeException e) {
            if (ch != null) ch.close();
            HELD.remove(key);
            throw e;
        }
    }

    private static String busy(Path dir, String pid) {
        return dir + " is in use by another training (pid " + pid + ", which holds " + dir.resolve(LOCK_FILE)
                + "); wait for it to end, or train into another --out";
    }

    /** Files of killed writes (temp and staged files); safe to delete because this process holds the lock. */
    private void removeLeftovers() throws IOException {
        try (var files = Files.newDirectoryStream(dir, p -> Files.isRegularFile(p) && isLeftover(p.getFileName().toString()))) {
            for (Path p : files) Files.deleteIfExists(p);
        }
    }

    private static boolean isLeftover(String name) {
        for (String f : List.of(MODEL_FILE, STATE_FILE, CONFIG_FILE, METRICS_FILE, SAMPLE_FILE)) {
            if (name.startsWith(f + ".tmp-") || name.equals(f + STAGED) || name.startsWith(f + STAGED + ".tmp-")) return true;
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
        if (!Files.isRegularFile(state())) {
            if (inModel == null) throw new IOException("cannot resume: " + state() + " not found (the run saved no checkpoint yet)");
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
        move(modelNext, model());
        try {
            move(stateNext, state());
        } catch (IOException e) {
            deleteQuietly(stateNext);
            throw new IOException("step " + saved.step() + ": " + model() + " holds step " + saved.step() + " but " + state()
                    + " could not be replaced (" + e.getMessage() + ") and still holds "
                    + (previous == null ? "nothing" : "step " + previous.step()) + "; --resume continues from there", e);
        }
        syncDirectory(dir);
        SafeTensors.deleteStaleTemps(model());
        SafeTensors.deleteStaleTemps(state());
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
        try {
            Files.move(from, to, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
        } catch (AtomicMoveNotSupportedException e) {
            Files.move(from, to, StandardCopyOption.REPLACE_EXISTING);
        }
    }

    /** Makes renames durable (Linux; a no-op where directories cannot be opened). */
    private static void syncDirectory(Path dir) {
        try (FileChannel d = FileChannel.open(dir, StandardOpenOption.READ)) {
            d.force(true);
        } catch (IOException | UnsupportedOperationException ignored) {
            // not every platform can fsync a directory; the rename itself is still atomic
        }
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
        Path tmp = file.resolveSibling(file.getFileName() + ".tmp-" + ProcessHandle.current().pid());
        try {
            try (FileChannel ch = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.WRITE, StandardOpenOption.TRUNCATE_EXISTING)) {
                ByteBuffer b = ByteBuffer.wrap(text.getBytes(StandardCharsets.UTF_8));
                while (b.hasRemaining()) ch.write(b);
                ch.force(true);
            }
            move(tmp, file);
        } catch (IOException e) {
            throw cannotWrite(file, e);
        } finally {
            Files.deleteIfExists(tmp);
        }
        SafeTensors.deleteStaleTemps(file);
    }

    /**
     * A failed write of a run-directory file (config, metrics; e.g. a full disk), said in one line: which
     * file, why, that the checkpoints are untouched, and how to continue.
     */
    static IOException cannotWrite(Path file, IOException e) {
        String why = e.getMessage() == null ? e.getClass().getSimpleName() : e.getMessage();
        return new IOException("cannot write " + file + " (" + why + "); the checkpoints in " + file.getParent()
                + " are intact: once the cause is fixed (e.g. free disk space), continue with --resume " + file.getParent(), e);
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
