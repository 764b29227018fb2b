package leviathan.docs;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.net.URLDecoder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.LinkedHashSet;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Set;
import java.util.TreeSet;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import leviathan.cli.Main;
import org.commonmark.node.AbstractVisitor;
import org.commonmark.node.Code;
import org.commonmark.node.FencedCodeBlock;
import org.commonmark.node.Heading;
import org.commonmark.node.Image;
import org.commonmark.node.IndentedCodeBlock;
import org.commonmark.node.Link;
import org.commonmark.node.Node;
import org.commonmark.node.SourceSpan;
import org.commonmark.node.Text;
import org.commonmark.parser.IncludeSourceSpans;
import org.commonmark.parser.Parser;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import picocli.CommandLine;

/**
 * The documentation a newcomer reads stays true to the repository: every relative link in
 * README.md, docs/*.md and benchmarks/results/REPORT.md names a file that exists (and, for a
 * Markdown file, a heading that exists when the link has an anchor), and every
 * {@code ./leviathan <command> --flag} quoted in their code is a command of the launcher or of
 * {@link Main} with that option. README's quick start must quote only real commands.
 */
class DocumentationTest {

    private static final Path ROOT = Path.of("").toAbsolutePath();
    private static final Parser PARSER = Parser.builder().includeSourceSpans(IncludeSourceSpans.BLOCKS_AND_INLINES).build();

    @Test
    void everyRelativeLinkResolves() throws IOException {
        List<Path> docs = documents(ROOT);
        assertTrue(docs.size() >= 3, "expected README.md, docs/*.md and REPORT.md, found " + docs);
        List<String> problems = new ArrayList<>();
        int links = 0;
        for (Path doc : docs) {
            links += Markdown.read(doc).links().size();
            problems.addAll(linkProblems(ROOT, doc));
        }
        assertTrue(links > 20, "only " + links + " links found: is the parser reading the files?");
        assertEquals(List.of(), problems, "broken links:\n" + String.join("\n", problems));
    }

    @Test
    void everyQuotedCommandAndFlagExists() throws IOException {
        Commands commands = Commands.ofThisRepository();
        List<String> problems = new ArrayList<>();
        for (Path doc : documents(ROOT)) problems.addAll(commandProblems(ROOT, doc, commands));
        assertEquals(List.of(), problems, "commands that do not exist:\n" + String.join("\n", problems));
    }

    @Test
    void theQuickStartQuotesOnlyRealCommands() throws IOException {
        Markdown readme = Markdown.read(ROOT.resolve("README.md"));
        List<String> lines = readme.firstCodeBlockUnder("Quick start");
        assertFalse(lines.isEmpty(), "README.md has no code block under a 'Quick start' heading");
        Commands commands = Commands.ofThisRepository();
        for (String line : lines) {
            List<Invocation> invocations = Invocation.find(line);
            assertEquals(1, invocations.size(), "a quick-start line should be one ./leviathan command: " + line);
            Invocation inv = invocations.getFirst();
            assertTrue(commands.exists(inv.command()), "README quick start: '" + inv.command() + "' is not a command of"
                    + " the launcher " + commands.launcherVerbs() + " or of cli.Main " + commands.mainCommands());
        }
    }

    /** The checks find what they are for: a missing file, a missing anchor, an unknown command and flag. */
    @Test
    void brokenLinksUnknownCommandsAndUnknownFlagsAreFound(@TempDir Path dir) throws IOException {
        Files.createDirectories(dir.resolve("docs"));
        Files.writeString(dir.resolve("docs/other.md"), "# Other page\n\n## Flags and `options`, too\n\ntext\n");
        Files.writeString(dir.resolve("README.md"), """
                # Title

                ## Quick start

                ```sh
                ./leviathan train --steps 10     # fine
                ./leviathan frobnicate           # no such command
                ./leviathan train --no-such-flag
                ```

                [ok](docs/other.md) [ok anchor](docs/other.md#flags-and-options-too) [self](#quick-start)
                [web](https://example.org/x.md) ![missing image](img/none.png) [missing](docs/none.md)
                [bad anchor](docs/other.md#nowhere) [outside](../elsewhere.md) [bad self](#nothing)
                `[not a link](in/code.md)`
                """);
        List<String> links = linkProblems(dir, dir.resolve("README.md"));
        assertEquals(5, links.size(), String.join("\n", links));
        for (String target : List.of("img/none.png", "docs/none.md", "docs/other.md#nowhere", "../elsewhere.md", "#nothing")) {
            assertTrue(links.stream().anyMatch(p -> p.contains("(" + target + ")")), target + " not reported in " + links);
        }
        Commands commands = new Commands(Main.commandLine(), Set.of("test"), Set.of());
        List<String> cmds = commandProblems(dir, dir.resolve("README.md"), commands);
        assertEquals(2, cmds.size(), String.join("\n", cmds));
        assertTrue(cmds.get(0).contains("frobnicate"), cmds.get(0));
        assertTrue(cmds.get(1).contains("--no-such-flag"), cmds.get(1));
        assertEquals(List.of("./leviathan train --steps 10     # fine", "./leviathan frobnicate           # no such command",
                "./leviathan train --no-such-flag"), Markdown.read(dir.resolve("README.md")).firstCodeBlockUnder("Quick start"));
    }

    @Test
    void anchorsAreGitHubs() {
        assertEquals("5-scaling-with-block_size-and-n_embd", Markdown.slug("5. Scaling with block_size and n_embd"));
        assertEquals("bf16-gemm-operands", Markdown.slug("bf16 GEMM operands"));
        assertEquals("leviathan-results-report", Markdown.slug("Leviathan: results report"));
        assertEquals("a--b", Markdown.slug("a / b"));
    }

    // ---------------------------------------------------------------- the checks

    /** README.md, docs/*.md and benchmarks/results/REPORT.md under {@code root}, those that exist. */
    static List<Path> documents(Path root) throws IOException {
        List<Path> docs = new ArrayList<>();
        docs.add(root.resolve("README.md"));
        Path dir = root.resolve("docs");
        if (Files.isDirectory(dir)) {
            try (Stream<Path> s = Files.list(dir)) {
                s.filter(p -> p.getFileName().toString().endsWith(".md")).sorted().forEach(docs::add);
            }
        }
        docs.add(root.resolve("benchmarks/results/REPORT.md"));
        return docs.stream().filter(Files::isRegularFile).toList();
    }

    /** One line per link of {@code doc} that does not resolve inside {@code root}. */
    static List<String> linkProblems(Path root, Path doc) throws IOException {
        Markdown md = Markdown.read(doc);
        Map<Path, Set<String>> anchorsOf = new HashMap<>();
        anchorsOf.put(doc.toAbsolutePath().normalize(), md.anchors());
        List<String> problems = new ArrayList<>();
        for (Markdown.LinkAt link : md.links()) {
            String dest = link.destination();
            if (dest.isEmpty() || dest.matches("^[a-zA-Z][a-zA-Z0-9+.-]*:.*")) continue;    // http:, mailto:, ...
            int hash = dest.indexOf('#');
            String path = hash < 0 ? dest : dest.substring(0, hash), anchor = hash < 0 ? null : dest.substring(hash + 1);
            Path target = path.isEmpty() ? doc.toAbsolutePath().normalize()
                    : doc.toAbsolutePath().getParent().resolve(URLDecoder.decode(path, StandardCharsets.UTF_8)).normalize();
            String where = root.relativize(doc.toAbsolutePath()) + ":" + link.line() + ": (" + dest + ")";
            if (!target.startsWith(root.toAbsolutePath().normalize())) {
                problems.add(where + " points outside the repository");
            } else if (!Files.exists(target)) {
                problems.add(where + " " + root.relativize(target) + " does not exist");
            } else if (anchor != null && !anchor.isEmpty() && target.getFileName().toString().endsWith(".md")) {
                Set<String> anchors = anchorsOf.get(target);
                if (anchors == null) anchorsOf.put(target, anchors = Markdown.read(target).anchors());
                if (!anchors.contains(anchor)) problems.add(where + " has no heading #" + anchor + " (headings: " + anchors + ")");
            }
        }
        return problems;
    }

    /** One line per {@code ./leviathan} command or flag quoted in {@code doc}'s code that does not exist. */
    static List<String> commandProblems(Path root, Path doc, Commands commands) throws IOException {
        Markdown md = Markdown.read(doc);
        List<String> problems = new ArrayList<>();
        for (Markdown.CodeAt code : md.code()) {
            for (String line : code.text().split("\n")) {
                for (Invocation inv : Invocation.find(line)) {
                    String where = root.relativize(doc.toAbsolutePath()) + ":" + code.line() + ": `" + line.strip() + "`";
                    if (!commands.exists(inv.command())) {
                        problems.add(where + ": '" + inv.command() + "' is not a command of the launcher " + commands.launcherVerbs()
                                + " or of cli.Main " + commands.mainCommands());
                        continue;
                    }
                    for (String flag : inv.flags()) {
                        if (!commands.hasOption(inv.command(), flag)) problems.add(where + ": " + inv.command() + " has no option " + flag);
                    }
                }
            }
        }
        return problems;
    }

    /** A {@code ./leviathan COMMAND ...} on one line of code: the command and the {@code --flags} after it. */
    record Invocation(String command, List<String> flags) {
        private static final Pattern START = Pattern.compile("(?:^|[\\s;&|(`])\\./leviathan(?=\\s|$)");

        /** Every invocation on {@code line}; placeholders such as {@code <command>} are not invocations. */
        static List<Invocation> find(String line) {
            List<Invocation> found = new ArrayList<>();
            Matcher m = START.matcher(line);
            while (m.find()) {
                String[] words = line.substring(m.end()).trim().split("\\s+");
                if (words.length == 0 || words[0].isEmpty() || !words[0].matches("[a-z][a-z0-9-]*")) continue;
                List<String> flags = new ArrayList<>();
                for (int i = 1; i < words.length; i++) {
                    String w = words[i];
                    if (w.startsWith("#") || w.equals("|") || w.equals("&&") || w.equals(";") || w.startsWith(">") || w.startsWith("2>")) break;
                    if (w.matches("--[a-z][a-z0-9-]*(=.*)?")) flags.add(w.contains("=") ? w.substring(0, w.indexOf('=')) : w);
                }
                found.add(new Invocation(words[0], flags));
            }
            return found;
        }
    }

    /**
     * The commands that exist: the launcher's own verbs and flags (read from the {@code leviathan}
     * script) and {@link Main}'s subcommands with their options.
     */
    record Commands(CommandLine main, Set<String> launcherVerbs, Set<String> launcherFlags) {

        static Commands ofThisRepository() throws IOException {
            String script = Files.readString(ROOT.resolve("leviathan"));
            // the verbs are the labels of the top-level `case "${1:-}" in` that dispatches the command line
            int start = script.lastIndexOf("\ncase \"${1:-}\" in\n");
            assertTrue(start >= 0, "the launcher has no top-level case over its first argument");
            int end = script.indexOf("\nesac", start);
            Set<String> verbs = new TreeSet<>();
            Matcher m = Pattern.compile("(?m)^  ([a-z][a-z0-9-]*)\\)").matcher(script.substring(start, end));
            while (m.find()) verbs.add(m.group(1));
            assertTrue(verbs.contains("test"), "launcher verbs read: " + verbs);
            Set<String> flags = new TreeSet<>();
            Matcher f = Pattern.compile("(--[a-z][a-z0-9-]*)(?:=\\*)?\\)").matcher(script);
            while (f.find()) flags.add(f.group(1));
            return new Commands(Main.commandLine(), verbs, flags);
        }

        Set<String> mainCommands() { return new TreeSet<>(main.getSubcommands().keySet()); }

        boolean exists(String command) { return launcherVerbs.contains(command) || main.getSubcommands().containsKey(command); }

        /** Whether {@code command} takes {@code flag}: its own option, or one the launcher handles. */
        boolean hasOption(String command, String flag) {
            CommandLine sub = main.getSubcommands().get(command);
            if (sub == null || command.equals("help")) return true;       // the launcher's verbs pass their arguments on (Maven, JMH)
            return sub.getCommandSpec().findOption(flag) != null || launcherFlags.contains(flag);
        }
    }

    /** A Markdown file as CommonMark reads it: links with their lines, heading anchors, code. */
    record Markdown(Node document, List<LinkAt> links, Set<String> anchors, List<CodeAt> code) {

        record LinkAt(String destination, int line) { }

        record CodeAt(String text, int line) { }

        static Markdown read(Path file) throws IOException {
            Node document = PARSER.parse(Files.readString(file));
            List<LinkAt> links = new ArrayList<>();
            Set<String> anchors = new LinkedHashSet<>();
            Map<String, Integer> seen = new HashMap<>();
            List<CodeAt> code = new ArrayList<>();
            document.accept(new AbstractVisitor() {
                @Override public void visit(Link link) { links.add(new LinkAt(link.getDestination(), line(link))); visitChildren(link); }

                @Override public void visit(Image image) { links.add(new LinkAt(image.getDestination(), line(image))); }

                @Override public void visit(Heading heading) {
                    String slug = slug(text(heading));
                    int n = seen.merge(slug, 1, Integer::sum);
                    anchors.add(n == 1 ? slug : slug + "-" + (n - 1));       // GitHub numbers repeated headings
                    visitChildren(heading);
                }

                @Override public void visit(FencedCodeBlock block) { code.add(new CodeAt(block.getLiteral(), line(block))); }

                @Override public void visit(IndentedCodeBlock block) { code.add(new CodeAt(block.getLiteral(), line(block))); }

                @Override public void visit(Code inline) { code.add(new CodeAt(inline.getLiteral(), line(inline))); }
            });
            return new Markdown(document, links, anchors, code);
        }

        /** The lines of the first fenced code block after the heading {@code title}, before the next heading. */
        List<String> firstCodeBlockUnder(String title) {
            boolean under = false;
            for (Node n = document.getFirstChild(); n != null; n = n.getNext()) {
                if (n instanceof Heading h) under = text(h).equals(title);
                else if (under && n instanceof FencedCodeBlock block) {
                    return block.getLiteral().lines().filter(l -> !l.isBlank()).toList();
                }
            }
            return List.of();
        }

        /** GitHub's anchor for a heading: lower case, punctuation dropped (not '-' or '_'), spaces to '-'. */
        static String slug(String heading) {
            return heading.strip().toLowerCase(Locale.ROOT).replaceAll("[^\\p{L}\\p{M}\\p{N}\\p{Pc} -]", "").replace(' ', '-');
        }

        private static String text(Node node) {
            StringBuilder sb = new StringBuilder();
            node.accept(new AbstractVisitor() {
                @Override public void visit(Text t) { sb.append(t.getLiteral()); }

                @Override public void visit(Code c) { sb.append(c.getLiteral()); }
            });
            return sb.toString();
        }

        private static int line(Node node) {
            List<SourceSpan> spans = node.getSourceSpans();
            return spans.isEmpty() ? 0 : spans.getFirst().getLineIndex() + 1;
        }
    }
}
