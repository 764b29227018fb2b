package leviathan.ffi.cufft;

import java.lang.foreign.SymbolLookup;
import java.util.List;

/**
 * Where {@code cufft_h} finds its symbols (libcufft (cuFFT)). Not generated: the library is found at run time
 * ({@code leviathan.backend.cuda.CudaLibraries}: CUDA_HOME, system locations, the library path,
 * Python wheels), so the generated class takes its {@code SYMBOL_LOOKUP} from here. The loader
 * calls {@link #bind} once, before the generated class is first used; {@link #FUNCTIONS} lists
 * every function bound, so a first run can check them all ({@link #missing()}).
 */
public final class Lookups {
    private Lookups() {}

    /** The functions of {@code cufft_h}, as listed in jextract/cuda/cufft_h.symbols. */
    public static final List<String> FUNCTIONS = List.of(
            "cufftPlanMany",
            "cufftExecR2C",
            "cufftExecC2R",
            "cufftSetStream",
            "cufftDestroy",
            "cufftGetVersion");

    private static volatile SymbolLookup lookup;

    /** Fixes the lookup; a second call fails, since handles may already be bound. */
    public static synchronized void bind(SymbolLookup l) {
        if (lookup != null) throw new IllegalStateException("libcufft (cuFFT) symbols are already bound");
        lookup = l;
    }

    public static boolean bound() { return lookup != null; }

    /** Functions of {@link #FUNCTIONS} the bound library does not export (empty when all resolve). */
    public static List<String> missing() {
        SymbolLookup l = cufft();
        return FUNCTIONS.stream().filter(f -> l.find(f).isEmpty()).toList();
    }

    static SymbolLookup cufft() {
        SymbolLookup l = lookup;
        if (l == null) throw new IllegalStateException("libcufft (cuFFT) is not loaded (leviathan.backend.cuda.CudaLibraries binds it)");
        return l;
    }
}
