package leviathan.cli;

import java.io.PrintWriter;
import picocli.CommandLine;
import picocli.CommandLine.Command;

/** Entry point of {@code ./leviathan}: one subcommand class per verb. Errors end in one line. */
@Command(name = "leviathan", mixinStandardHelpOptions = true, version = "leviathan 0.1.0",
        description = "Train and sample character language models with correlation attention, on the CPU.",
        subcommands = {TrainCommand.class, SampleCommand.class, EvalCommand.class, InfoCommand.class, ServeCommand.class,
                CommandLine.HelpCommand.class})
public final class Main implements Runnable {

    @CommandLine.Spec
    CommandLine.Model.CommandSpec spec;

    @Override
    public void run() {
        spec.commandLine().usage(spec.commandLine().getOut());
    }

    /** Builds the command line with the project's error handling (one line, non-zero exit). */
    public static CommandLine commandLine() {
        CommandLine cl = new CommandLine(new Main());
        cl.setCaseInsensitiveEnumValuesAllowed(true);
        cl.setParameterExceptionHandler((ex, args) -> {
            PrintWriter err = ex.getCommandLine().getErr();
            err.println("leviathan: " + ex.getMessage());
            CommandLine c = ex.getCommandLine();
            err.println("  see: leviathan " + (c.getParent() == null ? "" : c.getCommandName() + " ") + "--help");
            return 2;
        });
        cl.setExecutionExceptionHandler((ex, c, parseResult) -> {
            PrintWriter err = c.getErr();
            String msg = ex.getMessage() == null ? ex.getClass().getSimpleName() : ex.getMessage();
            err.println("leviathan: " + msg);
            if (Verbose.enabled(parseResult)) ex.printStackTrace(err);
            else err.println("  (run with --verbose for the stack trace)");
            return 1;
        });
        return cl;
    }

    public static void main(String[] args) {
        System.exit(commandLine().execute(args));
    }
}
