package leviathan.ffi.cuda;

import java.lang.foreign.SymbolLookup;
import java.util.List;

/**
 * Where {@code cuda_h} finds its symbols (libcuda (CUDA driver)). Not generated: the library is found at run time
 * ({@code leviathan.backend.cuda.CudaLibraries}: CUDA_HOME, system locations, the library path,
 * Python wheels), so the generated class takes its {@code SYMBOL_LOOKUP} from here. The loader
 * calls {@link #bind} once, before the generated class is first used; {@link #FUNCTIONS} lists
 * every function bound, so a first run can check them all ({@link #missing()}).
 */
public final class Lookups {
    private Lookups() {}

    /** The functions of {@code cuda_h}, as listed in jextract/cuda/cuda_h.symbols. */
    public static final List<String> FUNCTIONS = List.of(
            "cuInit",
            "cuDriverGetVersion",
            "cuDeviceGet",
            "cuDeviceGetName",
            "cuDevicePrimaryCtxRetain",
            "cuDevicePrimaryCtxRelease_v2",
            "cuCtxSetCurrent",
            "cuModuleLoadData",
            "cuModuleGetFunction",
            "cuModuleUnload",
            "cuLaunchKernel",
            "cuGetErrorName",
            "cuGetErrorString");

    private static volatile SymbolLookup lookup;

    /** Fixes the lookup; a second call fails, since handles may already be bound. */
    public static synchronized void bind(SymbolLookup l) {
        if (lookup != null) throw new IllegalStateException("libcuda (CUDA driver) symbols are already bound");
        lookup = l;
    }

    public static boolean bound() { return lookup != null; }

    /** Functions of {@link #FUNCTIONS} the bound library does not export (empty when all resolve). */
    public static List<String> missing() {
        SymbolLookup l = cuda();
        return FUNCTIONS.stream().filter(f -> l.find(f).isEmpty()).toList();
    }

    static SymbolLookup cuda() {
        SymbolLookup l = lookup;
        if (l == null) throw new IllegalStateException("libcuda (CUDA driver) is not loaded (leviathan.backend.cuda.CudaLibraries binds it)");
        return l;
    }
}
