package leviathan.profile;

import java.io.IOException;
import java.io.PrintStream;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Comparator;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.LongAdder;

/**
 * The engine's own timers, for a per-step time breakdown. Off unless {@code -Dleviathan.profile=true};
 * then {@link #ENABLED} is a {@code static final} false and every {@link #begin}/{@link #end}
 * pair compiles to nothing, so the hot paths pay nothing.
 *
 * <p>Sections nest per thread (a GEMM inside a part's forward inside the model's forward): each
 * keeps its total time and its self time (total minus the sections opened inside it), so the
 * self times of all sections add up to the time spent inside the outermost ones. The report
 * divides by the number of optimizer steps ({@link #countStep()}), and the time outside every
 * section (data sampling, evaluation bookkeeping, logging) is the wall time minus the outermost
 * sections. At exit the table goes to stderr, and as markdown to {@code -Dleviathan.profile.out=FILE}
 * when set.
 */
public final class Profiler {
    private Profiler() {}

    /** {@code -Dleviathan.profile=true} turns the timers on. */
    public static final String PROPERTY = "leviathan.profile";
    /** A file the report is written to (markdown) at exit, besides stderr. */
    public static final String OUT_PROPERTY = "leviathan.profile.out";

    /** Steps to run before the timers start (JIT warm-up, primitive creation): the timers are cleared after this many optimizer steps. */
    public static final String SKIP_PROPERTY = "leviathan.profile.skip";

    private static final long SKIP = Long.getLong(SKIP_PROPERTY, 0);

    /** Read once: when false, the JIT drops every timer call. */
    public static final boolean ENABLED = Boolean.getBoolean(PROPERTY);

    private static final Map<String, Section> SECTIONS = new ConcurrentHashMap<>();
    private static final LongAdder STEPS = new LongAdder();
    private static final AtomicLong FIRST = new AtomicLong();
    private static final java.util.concurrent.atomic.AtomicBoolean WARM = new java.util.concurrent.atomic.AtomicBoolean();
    private static final ThreadLocal<Stack> STACK = ThreadLocal.withInitial(Stack::new);

    static {
        if (ENABLED) {
            Runtime.getRuntime().addShutdownHook(new Thread(Profiler::reportAtExit, "leviathan-profile-report"));
        }
    }

    /** One named timer: calls, total and self nanoseconds, and an optional work count (FLOPs) for rates. */
    public static final class Section {
        final String name;
        final LongAdder calls = new LongAdder(), totalNs = new LongAdder(), selfNs = new LongAdder(), flops = new LongAdder();
        volatile boolean outermost = true;

        Section(String name) { this.name = name; }

        public String name() { return name; }
    }

    /** The section of this name, created on first use (a map lookup: hold the result in a static final). */
    public static Section section(String name) {
        return SECTIONS.computeIfAbsent(name, Section::new);
    }

    /** Opens {@code s} on this thread; pair with {@link #end}. */
    public static void begin(Section s) {
        if (!ENABLED) return;
        long now = System.nanoTime();
        FIRST.compareAndSet(0, now);
        STACK.get().push(s, now);
    }

    /** Closes the section opened last on this thread, which must be {@code s}. */
    public static void end(Section s) {
        if (!ENABLED) return;
        STACK.get().pop(s, System.nanoTime(), 0);
    }

    /** {@link #end} that also credits {@code flops} floating-point operations to the section (GEMMs: {@code 2·M·N·K}). */
    public static void end(Section s, long flops) {
        if (!ENABLED) return;
        STACK.get().pop(s, System.nanoTime(), flops);
    }

    /** Counts one optimizer step: the report's per-step figures divide by this. */
    public static void countStep() {
        if (!ENABLED) return;
        STEPS.increment();
        if (SKIP > 0 && !WARM.get() && STEPS.sum() >= SKIP && WARM.compareAndSet(false, true)) reset();   // warm-up done: measure from here
    }

    /** Clears every timer and the step count (e.g. after warm-up steps); the wall clock restarts now. */
    public static void reset() {
        for (Section s : SECTIONS.values()) {
            s.calls.reset();
            s.totalNs.reset();
            s.selfNs.reset();
            s.flops.reset();
        }
        STEPS.reset();
        FIRST.set(System.nanoTime());
    }

    static final class Stack {
        Section[] sections = new Section[32];
        long[] starts = new long[32], child = new long[32];
        int depth;

        void push(Section s, long now) {
            if (depth == sections.length) {
                sections = java.util.Arrays.copyOf(sections, depth * 2);
                starts = java.util.Arrays.copyOf(starts, depth * 2);
                child = java.util.Arrays.copyOf(child, depth * 2);
            }
            if (depth > 0) s.outermost = false;
            sections[depth] = s;
            starts[depth] = now;
            child[depth] = 0;
            depth++;
        }

        void pop(Section s, long now, long flops) {
            if (depth == 0 || sections[depth - 1] != s) {
                throw new IllegalStateException("profiler: end(" + s.name + ") does not match begin("
                        + (depth == 0 ? "nothing" : sections[depth - 1].name) + ")");
            }
            depth--;
            long total = now - starts[depth];
            s.calls.increment();
            s.totalNs.add(total);
            s.selfNs.add(total - child[depth]);
            if (flops > 0) s.flops.add(flops);
            if (depth > 0) child[depth - 1] += total;
            sections[depth] = null;
        }
    }

    /** The report: one row per section, largest self time first. */
    public static String report(boolean markdown) {
        long wall = FIRST.get() == 0 ? 0 : System.nanoTime() - FIRST.get();
        long steps = Math.max(1, STEPS.sum());
        List<Section> all = new ArrayList<>(SECTIONS.values());
        all.sort(Comparator.comparingLong((Section s) -> s.selfNs.sum()).reversed());
        long outer = 0, gemm = 0, gemmFlops = 0;
        for (Section s : all) {
            if (s.outermost) outer += s.totalNs.sum();
            if (s.name.startsWith("gemm")) { gemm += s.selfNs.sum(); gemmFlops += s.flops.sum(); }
        }
        StringBuilder b = new StringBuilder();
        String sep = markdown ? " | " : "  ";
        b.append(markdown ? "| section | calls/step | self ms/step | total ms/step | self % | GFLOP/s |\n|---|---:|---:|---:|---:|---:|\n"
                : String.format(Locale.ROOT, "%-44s %10s %13s %14s %7s %8s%n", "section", "calls/step", "self ms/step", "total ms/step", "self %", "GFLOP/s"));
        all.removeIf(s -> s.calls.sum() == 0);
        for (Section s : all) row(b, markdown, s.name, s.calls.sum() / (double) steps, s.selfNs.sum(), s.totalNs.sum(), s.flops.sum(), steps, wall);
        row(b, markdown, "(outside every section)", Double.NaN, Math.max(0, wall - outer), Math.max(0, wall - outer), 0, steps, wall);
        String summary = String.format(Locale.ROOT, "%d steps, wall %.1f ms/step; GEMM %.1f ms/step (%.1f%%) at %.1f GFLOP/s; sections %.1f%% of wall",
                STEPS.sum(), wall / 1e6 / steps, gemm / 1e6 / steps, wall == 0 ? 0 : 100.0 * gemm / wall,
                gemm == 0 ? 0 : gemmFlops / (double) gemm, wall == 0 ? 0 : 100.0 * outer / wall);
        return (markdown ? summary + "\n\n" : "profile: " + summary + "\n") + b;
    }

    private static void row(StringBuilder b, boolean markdown, String name, double callsPerStep, long self, long total, long flops, long steps, long wall) {
        String calls = Double.isNaN(callsPerStep) ? "" : String.format(Locale.ROOT, "%.1f", callsPerStep);
        String rate = flops == 0 || total == 0 ? "" : String.format(Locale.ROOT, "%.1f", flops / (double) total);
        double pct = wall == 0 ? 0 : 100.0 * self / wall;
        if (markdown) {
            b.append(String.format(Locale.ROOT, "| %s | %s | %.3f | %.3f | %.1f | %s |%n", name, calls, self / 1e6 / steps, total / 1e6 / steps, pct, rate));
        } else {
            b.append(String.format(Locale.ROOT, "%-44s %10s %13.3f %14.3f %7.1f %8s%n", name, calls, self / 1e6 / steps, total / 1e6 / steps, pct, rate));
        }
    }

    private static void reportAtExit() {
        if (SECTIONS.isEmpty()) return;
        PrintStream err = System.err;
        err.print(report(false));
        String out = System.getProperty(OUT_PROPERTY);
        if (out != null && !out.isBlank()) {
            try {
                Path p = Path.of(out);
                if (p.getParent() != null) Files.createDirectories(p.getParent());
                Files.writeString(p, report(true));
            } catch (IOException | RuntimeException e) {
                err.println("profile: cannot write " + out + ": " + e.getMessage());
            }
        }
    }
}
