package leviathan.ffi.onednn;

import java.lang.foreign.SymbolLookup;

/**
 * Where the generated classes of this package find their symbols. Not generated: jextract can
 * only hard-code a library name or path, and ours is known at run time (the per-user cache
 * directory, or a system oneDNN), so {@code jextract/onednn.sh} rewrites the generated
 * {@code SYMBOL_LOOKUP} of {@code dnnl_h} and {@code omp_h} to call this class.
 *
 * <p>{@code leviathan.backend.OneDnnLoader} opens the libraries and calls {@link #bind} once,
 * before any generated class is initialised; the generated classes then keep the lookups in
 * their static finals, so the binding is fixed for the life of the JVM.
 */
public final class Lookups {
    private Lookups() {}

    private static volatile SymbolLookup dnnl, gomp;

    /** Fixes the lookups; a second call with other lookups fails, since handles are already bound. */
    public static synchronized void bind(SymbolLookup dnnlLookup, SymbolLookup gompLookup) {
        if (dnnl != null) throw new IllegalStateException("oneDNN symbols are already bound");
        dnnl = dnnlLookup;
        gomp = gompLookup;
    }

    static SymbolLookup dnnl() {
        SymbolLookup l = dnnl;
        if (l == null) throw new IllegalStateException("oneDNN is not loaded (leviathan.backend.OneDnnLoader binds it)");
        return l;
    }

    static SymbolLookup gomp() {
        SymbolLookup l = gomp;
        if (l == null) throw new IllegalStateException("libgomp is not loaded (leviathan.backend.OneDnnLoader binds it)");
        return l;
    }
}
