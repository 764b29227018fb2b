package leviathan.backend.cuda;

import java.util.ArrayList;
import java.util.List;

/**
 * What the GPU path would use, for {@code leviathan info} ({@link #lines()}) and the first run on a
 * GPU machine ({@code java ... leviathan.backend.cuda.CudaInfo}: prints the lines, checks that
 * every bound function resolves in its library, exits 1 if not or if there is no GPU path).
 */
public final class CudaInfo {
    private CudaInfo() {}

    /** The status line, then (with a GPU) the library files and the symbol check. */
    public static List<String> lines() {
        List<String> out = new ArrayList<>();
        out.add(Cuda.status());
        if (Cuda.available()) {
            Cuda c = Cuda.get();
            out.add("cuda libraries: " + c.cudartPath + ", " + c.cufftPath + ", " + c.driverPath);
            out.add("cuda symbols: " + symbolCheck());
        }
        return out;
    }

    /** "43 of 43 bound functions resolve", or the ones that do not, per library. */
    public static String symbolCheck() {
        List<String> missing = new ArrayList<>();
        leviathan.ffi.cudart.Lookups.missing().forEach(s -> missing.add("libcudart:" + s));
        leviathan.ffi.cufft.Lookups.missing().forEach(s -> missing.add("libcufft:" + s));
        leviathan.ffi.cuda.Lookups.missing().forEach(s -> missing.add("libcuda:" + s));
        int all = leviathan.ffi.cudart.Lookups.FUNCTIONS.size() + leviathan.ffi.cufft.Lookups.FUNCTIONS.size()
                + leviathan.ffi.cuda.Lookups.FUNCTIONS.size();
        return missing.isEmpty() ? all + " of " + all + " bound functions resolve" : "MISSING " + missing;
    }

    public static void main(String[] args) {
        lines().forEach(System.out::println);
        System.exit(Cuda.available() && !symbolCheck().startsWith("MISSING") ? 0 : 1);
    }
}
