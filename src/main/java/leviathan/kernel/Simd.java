package leviathan.kernel;

import java.nio.ByteOrder;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorSpecies;

/** The vector species every kernel uses, and the switch that forces the scalar references. */
public final class Simd {
    private Simd() {}

    /** The widest float species this CPU runs natively (8 lanes with AVX2, 16 with AVX-512). */
    public static final VectorSpecies<Float> F = FloatVector.SPECIES_PREFERRED;

    /** Tensors live in native byte order; little-endian conversion is the checkpoint's job. */
    public static final ByteOrder NATIVE = ByteOrder.nativeOrder();

    /** False under {@code -Dleviathan.scalar=true}: every kernel then runs its scalar reference. */
    public static final boolean ENABLED = !Boolean.getBoolean("leviathan.scalar");

    public static int lanes() { return F.length(); }

    /**
     * Vector registers the running ISA gives a kernel ({@link Cpu#vectorRegisters()}: 32 with
     * AVX-512 and on AArch64, 16 with AVX2 and SSE). Register-blocked kernels size their tiles
     * from this and {@link #lanes()}, never from the lane count alone: an AVX-512 CPU run at 256
     * bits still has 32 registers, an AVX2 CPU only 16.
     */
    public static int registers() { return Cpu.vectorRegisters(); }
}
