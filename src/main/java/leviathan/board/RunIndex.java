package leviathan.board;

import java.io.IOException;
import java.nio.file.DirectoryStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import leviathan.train.RunDirectory;

/**
 * The runs under the board's directories: a directory that holds a {@code config.json} or a
 * {@code metrics.jsonl} is a run; each given directory is one, or holds runs as its subdirectories.
 * {@link #refresh} picks up new runs, drops vanished ones, and reads what changed in the others;
 * {@link #version} grows with every change, so that the page asks only for what is new.
 */
final class RunIndex {
    private final List<Path> roots;
    private final Map<Path, Run> runs = new LinkedHashMap<>();
    private long version;

    RunIndex(List<Path> roots) { this.roots = List.copyOf(roots); }

    List<Path> roots() { return roots; }

    /** Scans the directories and refreshes every run; returns whether anything changed. */
    synchronized boolean refresh() {
        Map<Path, String[]> seen = new LinkedHashMap<>();                // dir -> {id, name}
        for (int r = 0; r < roots.size(); r++) {
            Path root = roots.get(r);
            String prefix = roots.size() > 1 ? root.getFileName() + "/" : "";
            if (isRun(root)) {
                seen.put(root, new String[] {r + ":", String.valueOf(root.getFileName())});
                continue;
            }
            try (DirectoryStream<Path> children = Files.newDirectoryStream(root, Files::isDirectory)) {
                for (Path d : children) {
                    if (isRun(d)) seen.put(d, new String[] {r + ":" + d.getFileName(), prefix + d.getFileName()});
                }
            } catch (IOException e) {
                // a directory that vanished or cannot be listed now: its runs drop out until it is back
            }
        }
        boolean changed = runs.keySet().retainAll(seen.keySet());
        for (var e : seen.entrySet()) {
            Run run = runs.computeIfAbsent(e.getKey(), d -> new Run(e.getValue()[0], e.getValue()[1], d));
            changed |= run.refresh();
        }
        if (changed) version++;
        return changed;
    }

    private static boolean isRun(Path d) {
        return Files.isRegularFile(d.resolve(RunDirectory.CONFIG_FILE)) || Files.isRegularFile(d.resolve(RunDirectory.METRICS_FILE));
    }

    synchronized long version() { return version; }

    synchronized List<Run> runs() { return new ArrayList<>(runs.values()); }

    synchronized Run get(String id) {
        for (Run r : runs.values()) if (r.id.equals(id)) return r;
        return null;
    }
}
