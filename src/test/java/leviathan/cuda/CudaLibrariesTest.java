package leviathan.cuda;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import leviathan.backend.cuda.Cuda;
import leviathan.backend.cuda.CudaLibraries;
import leviathan.ffi.cudart.cuda_runtime_api_h;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** Discovery, status line and the bindings; runs everywhere, checks more where the libraries are. */
class CudaLibrariesTest {

    @Test
    void statusIsOneLineAndNamesWhatIsMissing() {
        String s = Cuda.status();
        assertTrue(s.startsWith("cuda: ") && !s.contains("\n"), s);
        if (!Cuda.available()) {
            assertTrue(s.startsWith("cuda: unavailable, the CPU paths serve: "), s);
            assertTrue(s.contains("not found") || s.contains("no usable GPU") || s.contains("no GPU") || s.contains("failed"), s);
        }
    }

    @Test
    void explicitPathComesFirst(@TempDir Path dir) throws Exception {
        Path lib = Files.createDirectories(dir.resolve("site-packages/nvidia/cu13/lib"));
        Files.writeString(lib.resolve("libcufft.so.12"), "not a library");
        String old = System.getProperty("leviathan.cuda.path");
        System.setProperty("leviathan.cuda.path", lib.toString());
        try {
            List<Path> dirs = CudaLibraries.searchPath();
            assertEquals(lib, dirs.get(0));
            assertEquals(lib.resolve("libcufft.so.12"), CudaLibraries.locate(CudaLibraries.CUFFT, dirs).orElseThrow());
        } finally {
            if (old == null) System.clearProperty("leviathan.cuda.path"); else System.setProperty("leviathan.cuda.path", old);
        }
    }

    @Test
    void runtimeBindingsResolveAndErrorsAreNamed() {
        Cuda.available();                                  // binds libcudart when it is found, GPU or not
        assumeTrue(leviathan.ffi.cudart.Lookups.bound(), "libcudart not found: " + Cuda.status());
        assertEquals(List.of(), leviathan.ffi.cudart.Lookups.missing(), "cudart symbols that do not resolve");
        try (Arena a = Arena.ofConfined()) {
            MemorySegment v = a.allocate(ValueLayout.JAVA_INT);
            assertEquals(0, cuda_runtime_api_h.cudaRuntimeGetVersion(v));
            assertTrue(v.get(ValueLayout.JAVA_INT, 0) >= 11000, "runtime version " + v.get(ValueLayout.JAVA_INT, 0));
            int err = cuda_runtime_api_h.cudaGetDeviceCount(v);
            if (!Cuda.available()) assertFalse(err == 0 && v.get(ValueLayout.JAVA_INT, 0) > 0, "a device but no CUDA path");
        }
        assertTrue(Cuda.errorText(35).startsWith("cudaErrorInsufficientDriver (35)"), Cuda.errorText(35));
        assertTrue(Cuda.errorText(100).startsWith("cudaErrorNoDevice (100)"), Cuda.errorText(100));
    }

    @Test
    void everyBoundSymbolResolvesOnAGpuMachine() {
        assumeTrue(Cuda.available(), Cuda.status());
        assertEquals(List.of(), leviathan.ffi.cudart.Lookups.missing(), "libcudart");
        assertEquals(List.of(), leviathan.ffi.cufft.Lookups.missing(), "libcufft");
        assertEquals(List.of(), leviathan.ffi.cuda.Lookups.missing(), "libcuda");
    }
}
