package leviathan.ffi.mpi;

import java.lang.foreign.MemorySegment;
import java.util.List;

/**
 * Open MPI's predefined handles: the values of {@code MPI_COMM_WORLD}, {@code MPI_FLOAT},
 * {@code MPI_BYTE}, {@code MPI_SUM} and {@code MPI_ERRORS_RETURN}. Hand-written: in Open MPI these
 * macros expand to the address of an exported global of incomplete type,
 * {@code #define MPI_COMM_WORLD OMPI_PREDEFINED_GLOBAL(MPI_Comm, ompi_mpi_comm_world)}, i.e.
 * {@code ((MPI_Comm) &ompi_mpi_comm_world)}, which jextract does not turn into Java. The handle is
 * the symbol's address, so each getter here is the address {@link Lookups} finds for the global.
 *
 * <p>This is Open MPI's ABI (checked against 4.1.4, Debian {@code openmpi-bin} + {@code libopenmpi3},
 * {@code libmpi.so.40}); MPICH and its derivatives use integer handles and cannot be bound this way.
 */
public final class Predefined {
    private Predefined() {}

    /** The exported globals behind the handles, as named in Open MPI 4.1's mpi.h. */
    public static final List<String> GLOBALS = List.of(
            "ompi_mpi_comm_world", "ompi_mpi_float", "ompi_mpi_byte", "ompi_mpi_op_sum", "ompi_mpi_errors_return");

    private static final class Holder {
        static final MemorySegment COMM_WORLD = find("ompi_mpi_comm_world");
        static final MemorySegment FLOAT = find("ompi_mpi_float");
        static final MemorySegment BYTE = find("ompi_mpi_byte");
        static final MemorySegment OP_SUM = find("ompi_mpi_op_sum");
        static final MemorySegment ERRORS_RETURN = find("ompi_mpi_errors_return");
    }

    private static MemorySegment find(String symbol) {
        return Lookups.mpi().find(symbol)
                .orElseThrow(() -> new UnsatisfiedLinkError("unresolved symbol: " + symbol + " (not Open MPI's libmpi?)"));
    }

    /** {@code MPI_COMM_WORLD} = {@code &ompi_mpi_comm_world}. */
    public static MemorySegment MPI_COMM_WORLD() { return Holder.COMM_WORLD; }

    /** {@code MPI_FLOAT} = {@code &ompi_mpi_float}. */
    public static MemorySegment MPI_FLOAT() { return Holder.FLOAT; }

    /** {@code MPI_BYTE} = {@code &ompi_mpi_byte}. */
    public static MemorySegment MPI_BYTE() { return Holder.BYTE; }

    /** {@code MPI_SUM} = {@code &ompi_mpi_op_sum}. */
    public static MemorySegment MPI_SUM() { return Holder.OP_SUM; }

    /** {@code MPI_ERRORS_RETURN} = {@code &ompi_mpi_errors_return}. */
    public static MemorySegment MPI_ERRORS_RETURN() { return Holder.ERRORS_RETURN; }
}
