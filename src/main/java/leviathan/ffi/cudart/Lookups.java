package leviathan.ffi.cudart;

import java.lang.foreign.SymbolLookup;
import java.util.List;

/**
 * Where {@code cuda_runtime_api_h} finds its symbols (libcudart (CUDA runtime)). Not generated: the library is found at run time
 * ({@code leviathan.backend.cuda.CudaLibraries}: CUDA_HOME, system locations, the library path,
 * Python wheels), so the generated class takes its {@code SYMBOL_LOOKUP} from here. The loader
 * calls {@link #bind} once, before the generated class is first used; {@link #FUNCTIONS} lists
 * every function bound, so a first run can check them all ({@link #missing()}).
 */
public final class Lookups {
    private Lookups() {}

    /** The functions of {@code cuda_runtime_api_h}, as listed in jextract/cuda/cuda_runtime_api_h.symbols. */
    public static final List<String> FUNCTIONS = List.of(
            "cudaGetDeviceCount",
            "cudaSetDevice",
            "cudaGetDevice",
            "cudaDeviceGetAttribute",
            "cudaDeviceSynchronize",
            "cudaDriverGetVersion",
            "cudaRuntimeGetVersion",
            "cudaGetLastError",
            "cudaGetErrorName",
            "cudaGetErrorString",
            "cudaMemGetInfo",
            "cudaMalloc",
            "cudaFree",
            "cudaMemcpy",
            "cudaMemcpyAsync",
            "cudaMemsetAsync",
            "cudaStreamCreate",
            "cudaStreamDestroy",
            "cudaStreamSynchronize",
            "cudaEventCreate",
            "cudaEventRecord",
            "cudaEventSynchronize",
            "cudaEventElapsedTime",
            "cudaEventDestroy");

    private static volatile SymbolLookup lookup;

    /** Fixes the lookup; a second call fails, since handles may already be bound. */
    public static synchronized void bind(SymbolLookup l) {
        if (lookup != null) throw new IllegalStateException("libcudart (CUDA runtime) symbols are already bound");
        lookup = l;
    }

    public static boolean bound() { return lookup != null; }

    /** Functions of {@link #FUNCTIONS} the bound library does not export (empty when all resolve). */
    public static List<String> missing() {
        SymbolLookup l = cudart();
        return FUNCTIONS.stream().filter(f -> l.find(f).isEmpty()).toList();
    }

    static SymbolLookup cudart() {
        SymbolLookup l = lookup;
        if (l == null) throw new IllegalStateException("libcudart (CUDA runtime) is not loaded (leviathan.backend.cuda.CudaLibraries binds it)");
        return l;
    }
}
