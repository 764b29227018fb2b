package leviathan.cli;

import java.io.PrintWriter;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.function.Supplier;
import leviathan.backend.Backends;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of {@code ./leviathan}: one subcommand class per verb. Errors end in one line. */
@Command(name = "leviathan", mixinStandardHelpOptions = true, version = "leviathan 0.1.0",
        description = "Train and sample character language models with correlation attention, on the CPU.")
public final class Main implements Runnable {

    /** The subcommands, in the order the usage lists them. */
    private static final Map<String, Supplier<Object>> COMMANDS = new LinkedHashMap<>();

    static {
        COMMANDS.put("train", TrainCommand::new);
        COMMANDS.put("sample", SampleCommand::new);
        COMMANDS.put("eval", EvalCommand::new);
        COMMANDS.put("info", InfoCommand::new);
        COMMANDS.put("serve", ServeCommand::new);
        COMMANDS.put("prepare", PrepareCommand::new);
        COMMANDS.put("board", BoardCommand::new);
        COMMANDS.put("tune", TuneCommand::new);
        COMMANDS.put("help", CommandLine.HelpCommand::new);
    }

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** Builds the command line, every subcommand, with the project's error handling (one line, non-zero exit). */
    public static CommandLine commandLine() { return build(COMMANDS.keySet()); }

    /**
     * The command line for {@code args}: only the subcommand {@code args} names, or every one when
     * they name none (help, usage, an unknown command). picocli builds each subcommand's model by
     * reflection over its options, a large part of a command's start-up, so a command builds its own.
     */
    static CommandLine commandLine(String[] args) {
        if (args.length > 0 && COMMANDS.containsKey(args[0]) && !args[0].equals("help")) return build(List.of(args[0]));
        return commandLine();
    }

    private static CommandLine build(Collection<String> commands) {
        CommandLine cl = new CommandLine(new Main());
        for (String name : commands) {
            Object command = COMMANDS.get(name).get();
            cl.addSubcommand(name, command);
            if (command instanceof PartFlags.Taker t) PartFlags.install(cl.getSubcommands().get(name).getCommandSpec(), t.buildsModels());
        }
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setParameterExceptionHandler((ex, args) -> {
            PrintWriter err = ex.getCommandLine().getErr();
            err.println("leviathan: " + ex.getMessage());
            CommandLine c = ex.getCommandLine();
            err.println("  see: leviathan " + (c.getParent() == null ? "" : c.getCommandName() + " ") + "--help");
            return 2;
        });
        // picocli hands only Exceptions to the handler below; an Error (OutOfMemoryError,
        // StackOverflowError...) would escape as a bare stack trace, so it becomes one here
        CommandLine.IExecutionStrategy runLast = new CommandLine.RunLast();
        cl.setExecutionStrategy(parseResult -> {
            try {
                return runLast.execute(parseResult);
            } catch (Error e) {
                throw new CommandLine.ExecutionException(parseResult.commandSpec().commandLine(), describe(e), new FatalError(e));
            }
        });
        cl.setExecutionExceptionHandler((ex, c, parseResult) -> {
            PrintWriter err = c.getErr();
            err.println("leviathan: " + describe(ex));
            if (Verbose.enabled(parseResult)) ex.printStackTrace(err);
            else err.println("  (run with --verbose for the stack trace)");
            return 1;
        });
        return cl;
    }

    /**
     * Whether the command line runs a model through the automatic or oneDNN backend (train,
     * sample, eval, serve without {@code --backend java}, help aside), so that loading oneDNN early pays.
     */
    static boolean usesBackend(String[] args) {
        if (args.length == 0 || !java.util.Set.of("train", "sample", "eval", "serve").contains(args[0])) return false;
        if ("java".equalsIgnoreCase(System.getProperty(Backends.PROPERTY, "auto").trim())) return false;
        for (int i = 1; i < args.length; i++) {
            String a = args[i];
            if (a.equals("--help") || a.equals("-h") || a.equals("--version") || a.equals("-V")) return false;
            if (a.equalsIgnoreCase("--backend=java") || (a.equals("--backend") && i + 1 < args.length && args[i + 1].equalsIgnoreCase("java"))) {
                return false;
            }
        }
        return true;
    }

    /** Carries an {@link Error} to the exception handler (which picocli only calls with Exceptions). */
    private static final class FatalError extends RuntimeException {
        private static final long serialVersionUID = 1L;

        FatalError(Error e) { super(describe(e), e); }
    }

    /** One line for any failure; file-system errors whose message is a bare path get their reason. */
    static String describe(Throwable ex) {
        if (ex instanceof FatalError) return ex.getMessage();
        if (ex instanceof OutOfMemoryError) {
            return "out of memory (" + (ex.getMessage() == null ? "OutOfMemoryError" : ex.getMessage()) + "): use a smaller"
                    + " --batch-size, --block-size or model, or free memory on this machine";
        }
        // a bad -Dleviathan.* property is refused while its class initializes: say what was refused, not that an error happened
        if (ex instanceof ExceptionInInitializerError e && e.getCause() instanceof IllegalArgumentException bad) return bad.getMessage();
        if (ex instanceof StackOverflowError) return "internal error: stack overflow (please report it, with the output of --verbose)";
        if (ex instanceof Error) return "internal error: " + ex;
        if (ex instanceof java.nio.file.FileSystemException f && f.getReason() == null) {
            String what = f instanceof java.nio.file.AccessDeniedException ? "permission denied"
                    : f instanceof java.nio.file.NoSuchFileException ? "no such file or directory"
                    : f instanceof java.nio.file.FileAlreadyExistsException ? "it already exists"
                    : f instanceof java.nio.file.NotDirectoryException ? "not a directory"
                    : f instanceof java.nio.file.DirectoryNotEmptyException ? "directory not empty"
                    : f.getClass().getSimpleName();
            return f.getFile() + (f.getOtherFile() == null ? "" : " -> " + f.getOtherFile()) + ": " + what;
        }
        return ex.getMessage() == null ? ex.getClass().getSimpleName() : ex.getMessage();
    }

    public static void main(String[] args) {
        int code;
        try {
            try {
                args = Recipes.expand(args);                         // train --recipe NAME: the recipe's flags, the user's winning
            } catch (IllegalArgumentException e) {
                System.err.println("leviathan: " + e.getMessage());
                System.err.println("  see: leviathan train --help");
                System.exit(2);
            }
            if (usesBackend(args)) Backends.prefetch();           // overlaps oneDNN's load with picocli and the checkpoint

            code = commandLine(args).execute(args);
        } catch (Throwable t) {                                  // last resort: still one line
            System.err.println("leviathan: " + describe(t));
            code = 1;
        }
        System.exit(code);
    }
}
