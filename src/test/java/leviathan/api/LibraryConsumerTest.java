package leviathan.api;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.ByteArrayOutputStream;
import java.io.File;
import java.io.IOException;
import java.lang.module.ModuleDescriptor;
import java.lang.module.ModuleFinder;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import javax.tools.JavaCompiler;
import javax.tools.ToolProvider;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * The core artifact as a library: a tiny consumer module ({@code requires leviathan.core}) is compiled
 * against the core module alone and run in a child JVM whose module path holds nothing but the two of
 * them: no picocli, no oneDNN. Then once more with the oneDNN native jar on the class path, which the
 * core picks up.
 */
class LibraryConsumerTest {
    /** core/target/classes (an exploded module) or the core jar; surefire passes it from app/pom.xml. */
    private static final Path CORE = Path.of(System.getProperty("leviathan.core.module", "core/target/classes")).toAbsolutePath();
    private static final Path CHECKPOINT = Path.of("src/test/resources/reference/tiny-correlation.safetensors").toAbsolutePath();

    private static final String MODULE_INFO = """
            module consumer {
                requires leviathan.core;
            }
            """;
    private static final String MAIN = """
            package demo;

            import java.nio.file.Path;
            import leviathan.api.LanguageModel;

            public final class Main {
                public static void main(String[] args) throws Exception {
                    var settings = new LanguageModel.Settings("auto", 1, System.err::println);
                    try (LanguageModel lm = LanguageModel.load(Path.of(args[0]), settings)) {
                        String text = lm.generate("ROMEO:", new LanguageModel.Generation(20, 0.8f, 0, 42, true), null);
                        System.out.println("generated " + text.length() + " characters: " + text.replace('\\n', '|'));
                    }
                    System.out.println("module " + LanguageModel.class.getModule().getName());
                    System.out.println("picocli " + present(() -> Class.forName("picocli.CommandLine")));
                    System.out.println("onednn jar " + present(() -> ClassLoader.getSystemResource("org/bytedeco/dnnl/linux-x86_64/libdnnl.so.3")));
                }

                interface Probe { Object get() throws Exception; }

                static String present(Probe p) {
                    try {
                        return p.get() != null ? "present" : "absent";
                    } catch (Exception | LinkageError e) {
                        return "absent";
                    }
                }
            }
            """;

    @TempDir
    static Path dir;
    private static Path consumer;

    @BeforeAll
    static void compileConsumer() throws IOException {
        assertTrue(Files.isRegularFile(CORE.resolve("module-info.class")) || CORE.toString().endsWith(".jar"),
                "the core module is not built at " + CORE + " (build with mvn from the project root)");
        Path src = dir.resolve("src");
        Files.createDirectories(src.resolve("demo"));
        Files.writeString(src.resolve("module-info.java"), MODULE_INFO);
        Files.writeString(src.resolve("demo").resolve("Main.java"), MAIN);
        consumer = dir.resolve("consumer");
        JavaCompiler javac = ToolProvider.getSystemJavaCompiler();
        assertNotNull(javac, "no system Java compiler (a JRE, not a JDK?)");
        ByteArrayOutputStream err = new ByteArrayOutputStream();
        List<String> args = List.of("--module-path", CORE.toString(), "-d", consumer.toString(),
                src.resolve("module-info.java").toString(), src.resolve("demo").resolve("Main.java").toString());
        int rc = javac.run(null, null, err, args.toArray(String[]::new));
        assertEquals(0, rc, "the consumer did not compile against leviathan.core alone:\n" + err);
    }

    @Test
    void coreModuleNeedsOnlyTheJdkAndExportsTheApi() {
        ModuleDescriptor d = ModuleFinder.of(CORE).find("leviathan.core").orElseThrow().descriptor();
        Set<String> required = d.requires().stream().map(ModuleDescriptor.Requires::name).collect(Collectors.toCollection(TreeSet::new));
        for (String m : required) {
            assertTrue(ModuleFinder.ofSystem().find(m).isPresent(), "leviathan.core requires " + m + ", which is not a JDK module");
        }
        Set<String> exported = d.exports().stream().map(ModuleDescriptor.Exports::source).collect(Collectors.toCollection(TreeSet::new));
        assertEquals(new TreeSet<>(List.of("leviathan.api", "leviathan.data", "leviathan.model", "leviathan.train")), exported);
        assertTrue(d.exports().stream().noneMatch(ModuleDescriptor.Exports::isQualified), "qualified exports: " + d.exports());
        assertTrue(d.opens().isEmpty() && !d.isOpen(), "opens: " + d.opens());
        assertTrue(d.packages().containsAll(List.of("leviathan.kernel", "leviathan.tensor", "leviathan.backend")), "packages: " + d.packages());
        assertTrue(d.packages().stream().noneMatch(p -> p.startsWith("leviathan.cli") || p.startsWith("leviathan.server")),
                "the command line or the server is in the core: " + d.packages());
    }

    @Test
    void runsOnTheModulePathWithTheCoreAlone() throws Exception {
        String modulePath = CORE + File.pathSeparator + consumer;
        Run r = run(List.of("--module-path", modulePath), modulePath);
        assertEquals(0, r.exit, r.toString());
        assertTrue(r.out.matches("(?s)generated 20 characters: .{20}\n.*"), r.toString());
        assertTrue(r.out.contains("module leviathan.core\n"), r.toString());
        assertTrue(r.out.contains("picocli absent\n"), r.toString());
        assertTrue(r.out.contains("onednn jar absent\n"), r.toString());
        assertTrue(r.err.contains("backend: java"), "without oneDNN the core runs on the Java GEMM: " + r);
    }

    @Test
    void picksUpOneDnnFromTheClassPath() throws Exception {
        String os = System.getProperty("os.name", "").toLowerCase(Locale.ROOT), arch = System.getProperty("os.arch", "");
        Assumptions.assumeTrue(os.contains("linux") && (arch.equals("amd64") || arch.equals("x86_64")), "the oneDNN jar is linux-x86_64");
        String dnnl = Arrays.stream(System.getProperty("java.class.path").split(File.pathSeparator))
                .filter(p -> Path.of(p).getFileName().toString().matches("dnnl-.*-linux-x86_64\\.jar"))
                .findFirst().orElseThrow(() -> new AssertionError("no oneDNN jar on the test class path"));
        String modulePath = CORE + File.pathSeparator + consumer;
        Run r = run(List.of("--module-path", modulePath, "-cp", dnnl), modulePath);
        assertEquals(0, r.exit, r.toString());
        assertTrue(r.out.matches("(?s)generated 20 characters: .{20}\n.*"), r.toString());
        assertTrue(r.out.contains("picocli absent\n") && r.out.contains("onednn jar present\n"), r.toString());
        assertTrue(r.err.contains("backend: onednn"), "with the oneDNN jar on the class path the core uses it: " + r);
    }

    @Test
    void withoutNativeAccessTheHintNamesTheModule() throws Exception {
        String modulePath = CORE + File.pathSeparator + consumer;
        // the JDK's announced future default: restricted methods refused without --enable-native-access
        Run r = run(List.of("--module-path", modulePath, "--illegal-native-access=deny"), modulePath, false);
        assertEquals(0, r.exit, r.toString());
        assertTrue(r.out.matches("(?s)generated 20 characters: .{20}\n.*"), r.toString());
        assertTrue(r.err.contains("backend: java (oneDNN not found: native access is disabled: run with --enable-native-access=leviathan.core"), r.toString());
    }

    private record Run(int exit, String out, String err) {
        @Override
        public String toString() { return "exit " + exit + "\n--- stdout\n" + out + "--- stderr\n" + err; }
    }

    /** Runs the consumer; asserts that the module path is exactly {@code expectedModulePath}. */
    private static Run run(List<String> paths, String expectedModulePath) throws Exception {
        return run(paths, expectedModulePath, true);
    }

    private static Run run(List<String> paths, String expectedModulePath, boolean nativeAccess) throws Exception {
        List<String> cmd = new ArrayList<>();
        cmd.add(Path.of(System.getProperty("java.home"), "bin", "java").toString());
        cmd.addAll(paths);
        if (nativeAccess) cmd.add("--enable-native-access=leviathan.core");
        cmd.addAll(List.of("-m", "consumer/demo.Main", CHECKPOINT.toString()));
        int i = cmd.indexOf("--module-path");
        assertEquals(expectedModulePath, cmd.get(i + 1));
        ProcessBuilder pb = new ProcessBuilder(cmd).directory(dir.toFile());
        pb.environment().keySet().removeAll(List.of("CLASSPATH", "JDK_JAVA_OPTIONS", "JAVA_TOOL_OPTIONS"));
        Path out = dir.resolve("out.txt"), err = dir.resolve("err.txt");
        Process p = pb.redirectOutput(out.toFile()).redirectError(err.toFile()).start();
        if (!p.waitFor(120, TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("the consumer did not finish in 120 s");
        }
        return new Run(p.exitValue(), Files.readString(out, StandardCharsets.UTF_8), Files.readString(err, StandardCharsets.UTF_8));
    }
}
