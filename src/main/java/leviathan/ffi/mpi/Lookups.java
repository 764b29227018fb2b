package leviathan.ffi.mpi;

import java.lang.foreign.SymbolLookup;
import java.util.List;

/**
 * Where {@code mpi_h} and {@link Predefined} find their symbols (Open MPI's {@code libmpi.so.40}).
 * Not generated: the library is opened at run time ({@code leviathan.distributed.Mpi}: a configured path or
 * the dynamic loader's search), so the generated class takes its {@code SYMBOL_LOOKUP} from here.
 * The loader calls {@link #bind} once, before the generated class is first used; {@link #FUNCTIONS}
 * and {@link Predefined#GLOBALS} list every symbol bound, so {@link #missing()} can check them all.
 */
public final class Lookups {
    private Lookups() {}

    /** The functions of {@code mpi_h}, as listed in jextract/mpi/mpi_h.symbols. */
    public static final List<String> FUNCTIONS = List.of(
            "MPI_Init_thread",
            "MPI_Initialized",
            "MPI_Finalized",
            "MPI_Finalize",
            "MPI_Abort",
            "MPI_Get_library_version",
            "MPI_Comm_rank",
            "MPI_Comm_size",
            "MPI_Comm_set_errhandler",
            "MPI_Error_string",
            "MPI_Allreduce",
            "MPI_Iallreduce",
            "MPI_Bcast",
            "MPI_Barrier",
            "MPI_Wait",
            "MPI_Test");

    private static volatile SymbolLookup lookup;

    /** Fixes the lookup; a second call fails, since handles may already be bound. */
    public static synchronized void bind(SymbolLookup l) {
        if (lookup != null) throw new IllegalStateException("libmpi (Open MPI) symbols are already bound");
        lookup = l;
    }

    /** Whether {@link #bind} has been called. */
    public static boolean bound() { return lookup != null; }

    /** Symbols of {@link #FUNCTIONS} and {@link Predefined#GLOBALS} the library does not export (empty when all resolve). */
    public static List<String> missing(SymbolLookup l) {
        return java.util.stream.Stream.concat(FUNCTIONS.stream(), Predefined.GLOBALS.stream())
                .filter(f -> l.find(f).isEmpty()).toList();
    }

    static SymbolLookup mpi() {
        SymbolLookup l = lookup;
        if (l == null) throw new IllegalStateException("libmpi (Open MPI) is not loaded (leviathan.distributed.Mpi binds it)");
        return l;
    }
}
