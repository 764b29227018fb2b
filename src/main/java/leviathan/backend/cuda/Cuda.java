package leviathan.backend.cuda;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;
import leviathan.ffi.cuda.cuda_h;
import leviathan.ffi.cudart.cuda_runtime_api_h;
import leviathan.ffi.cufft.cufft_h;

/**
 * The CUDA runtime of this process, on device 0: libraries found by {@link CudaLibraries}, bound
 * once, with one stream and the device's primary context. {@link #get()} opens it on first use or
 * throws {@link CudaUnavailableException} with the one-line reason (then the CPU paths serve);
 * {@link #status()} is that line, or the device and library versions. Every status code is
 * checked ({@link #check}, {@link #checkDriver}, {@link #checkCufft}) and becomes a
 * {@link CudaException} naming the call.
 */
public final class Cuda {

    private static Cuda instance;
    private static String failure;

    /** Library files used (the driver may be "libcuda.so.1 (system loader)"). */
    public final String cudartPath, cufftPath, driverPath;
    /** Device 0: name, compute capability, multiprocessors, total memory in bytes. */
    public final String deviceName;
    public final int ccMajor, ccMinor, multiprocessors;
    public final long totalMemory;
    /** Versions as CUDA encodes them (13000 = 13.0; cuFFT 12000 = 12.0.0). */
    public final int runtimeVersion, driverVersion, cufftVersion;
    private final MemorySegment context, stream;

    /** The process's CUDA runtime, opened on first call. */
    public static synchronized Cuda get() {
        if (instance == null && failure == null) {
            try {
                instance = open();
            } catch (CudaException e) {
                failure = e.getMessage();
            } catch (RuntimeException | LinkageError e) {
                failure = "CUDA setup failed: " + e;
            }
        }
        if (instance == null) throw new CudaUnavailableException(failure);
        return instance;
    }

    /** True when a GPU and all libraries are usable (opens them on first call). */
    public static boolean available() {
        try {
            get();
            return true;
        } catch (CudaUnavailableException e) {
            return false;
        }
    }

    /** One line: the GPU and library versions, or why the GPU path is unavailable. */
    public static String status() {
        try {
            Cuda c = get();
            return String.format("cuda: %s (sm_%d%d, %d SMs, %.1f GiB), driver %s, runtime %s, cuFFT %d.%d.%d [%s]",
                    c.deviceName, c.ccMajor, c.ccMinor, c.multiprocessors, c.totalMemory / (double) (1L << 30),
                    version(c.driverVersion), version(c.runtimeVersion), c.cufftVersion / 1000, c.cufftVersion / 100 % 10,
                    c.cufftVersion % 100, Path.of(c.cufftPath).getParent());
        } catch (CudaUnavailableException e) {
            return "cuda: unavailable, the CPU paths serve: " + e.getMessage();
        }
    }

    private static String version(int v) { return v / 1000 + "." + v % 1000 / 10; }

    private Cuda(String cudart, String cufft, String driver, String name, int major, int minor, int sms, long total,
                 int rt, int drv, int fft, MemorySegment context, MemorySegment stream) {
        this.cudartPath = cudart;
        this.cufftPath = cufft;
        this.driverPath = driver;
        this.deviceName = name;
        this.ccMajor = major;
        this.ccMinor = minor;
        this.multiprocessors = sms;
        this.totalMemory = total;
        this.runtimeVersion = rt;
        this.driverVersion = drv;
        this.cufftVersion = fft;
        this.context = context;
        this.stream = stream;
    }

    /** Finds and binds the libraries, then checks for a device; each missing piece is named in the reason. */
    private static Cuda open() {
        List<Path> dirs = CudaLibraries.searchPath();
        List<String> missing = new ArrayList<>();
        Optional<Path> cudart = CudaLibraries.locate(CudaLibraries.CUDART, dirs);
        Optional<Path> cufft = CudaLibraries.locate(CudaLibraries.CUFFT, dirs);
        Optional<Path> driver = CudaLibraries.locate(CudaLibraries.DRIVER, dirs);
        SymbolLookup cudartLookup = open(cudart, "libcudart.so", missing);
        SymbolLookup cufftLookup = open(cufft, "libcufft.so", missing);
        SymbolLookup driverLookup = open(driver, "libcuda.so.1", missing);
        if (cudartLookup != null && !leviathan.ffi.cudart.Lookups.bound()) leviathan.ffi.cudart.Lookups.bind(cudartLookup);
        if (!missing.isEmpty()) {
            throw new CudaUnavailableException(String.join("; ", missing) + "; " + CudaLibraries.lookedIn()
                    + "; set LEVIATHAN_CUDA_PATH to the directory holding it");
        }
        if (!leviathan.ffi.cufft.Lookups.bound()) leviathan.ffi.cufft.Lookups.bind(cufftLookup);
        if (!leviathan.ffi.cuda.Lookups.bound()) leviathan.ffi.cuda.Lookups.bind(driverLookup);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment i = a.allocate(JAVA_INT);
            check(cuda_runtime_api_h.cudaRuntimeGetVersion(i), "cudaRuntimeGetVersion");
            int rt = i.get(JAVA_INT, 0);
            int init = cuda_h.cuInit(0);
            if (init != cuda_h.CUDA_SUCCESS()) throw new CudaUnavailableException("no usable GPU: cuInit: " + driverError(init));
            int err = cuda_runtime_api_h.cudaGetDeviceCount(i);
            if (err != cuda_runtime_api_h.cudaSuccess()) throw new CudaUnavailableException("no usable GPU: cudaGetDeviceCount: " + errorText(err));
            if (i.get(JAVA_INT, 0) == 0) throw new CudaUnavailableException("no GPU: cudaGetDeviceCount found 0 devices");
            check(cuda_runtime_api_h.cudaSetDevice(0), "cudaSetDevice(0)");
            check(cuda_runtime_api_h.cudaFree(MemorySegment.NULL), "cudaFree(NULL) (context creation)");
            check(cuda_runtime_api_h.cudaDriverGetVersion(i), "cudaDriverGetVersion");
            int drv = i.get(JAVA_INT, 0);
            check(cufft_h.cufftGetVersion(i), "cufftGetVersion");
            int fft = i.get(JAVA_INT, 0);
            int major = attribute(a, cuda_runtime_api_h.cudaDevAttrComputeCapabilityMajor());
            int minor = attribute(a, cuda_runtime_api_h.cudaDevAttrComputeCapabilityMinor());
            int sms = attribute(a, cuda_runtime_api_h.cudaDevAttrMultiProcessorCount());
            MemorySegment free = a.allocate(JAVA_LONG), total = a.allocate(JAVA_LONG);
            check(cuda_runtime_api_h.cudaMemGetInfo(free, total), "cudaMemGetInfo");
            checkDriver(cuda_h.cuDeviceGet(i, 0), "cuDeviceGet");
            int dev = i.get(JAVA_INT, 0);
            MemorySegment name = a.allocate(256);
            checkDriver(cuda_h.cuDeviceGetName(name, 256, dev), "cuDeviceGetName");
            MemorySegment p = a.allocate(ADDRESS);
            checkDriver(cuda_h.cuDevicePrimaryCtxRetain(p, dev), "cuDevicePrimaryCtxRetain");
            MemorySegment ctx = p.get(ADDRESS, 0);
            checkDriver(cuda_h.cuCtxSetCurrent(ctx), "cuCtxSetCurrent");
            check(cuda_runtime_api_h.cudaStreamCreate(p), "cudaStreamCreate");
            MemorySegment stream = p.get(ADDRESS, 0);
            return new Cuda(cudart.orElseThrow().toString(), cufft.orElseThrow().toString(),
                    driver.map(Path::toString).orElse("libcuda.so.1 (system loader)"), name.getString(0),
                    major, minor, sms, total.get(JAVA_LONG, 0), rt, drv, fft, ctx, stream);
        }
    }

    /** Opens {@code file}, or the library {@code soname} through the system loader; records why not. */
    private static SymbolLookup open(Optional<Path> file, String soname, List<String> missing) {
        try {
            return file.isPresent() ? SymbolLookup.libraryLookup(file.get(), Arena.global())
                                    : SymbolLookup.libraryLookup(soname, Arena.global());
        } catch (IllegalArgumentException e) {
            String what = switch (soname) {
                case "libcuda.so.1" -> "no NVIDIA driver (libcuda.so.1 not found)";
                case "libcufft.so" -> "cuFFT not found (libcufft.so.12/.11)";
                default -> "CUDA runtime not found (libcudart.so.13/.12)";
            };
            missing.add(file.isPresent() ? what + ": cannot open " + file.get() + ": " + e.getMessage() : what);
            return null;
        }
    }

    private static int attribute(Arena a, int attr) {
        MemorySegment v = a.allocate(JAVA_INT);
        check(cuda_runtime_api_h.cudaDeviceGetAttribute(v, attr, 0), "cudaDeviceGetAttribute(" + attr + ")");
        return v.get(JAVA_INT, 0);
    }

    // ---- status codes -------------------------------------------------------------------------

    /** "cudaErrorNoDevice (100): no CUDA-capable device is detected" for a runtime status code. */
    public static String errorText(int err) {
        MemorySegment name = cuda_runtime_api_h.cudaGetErrorName(err), text = cuda_runtime_api_h.cudaGetErrorString(err);
        return (name.equals(MemorySegment.NULL) ? "cudaError" : name.reinterpret(256).getString(0)) + " (" + err + ")"
                + (text.equals(MemorySegment.NULL) ? "" : ": " + text.reinterpret(1024).getString(0));
    }

    /** Throws a {@link CudaException} naming {@code call} unless {@code err} is cudaSuccess. */
    public static void check(int err, String call) {
        if (err != 0) throw new CudaException(call + " failed: " + errorText(err));
    }

    static String driverError(int err) {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            String name = cuda_h.cuGetErrorName(err, p) == 0 ? p.get(ADDRESS, 0).reinterpret(256).getString(0) : "CUresult";
            String text = cuda_h.cuGetErrorString(err, p) == 0 ? p.get(ADDRESS, 0).reinterpret(1024).getString(0) : "";
            return name + " (" + err + ")" + (text.isEmpty() ? "" : ": " + text);
        }
    }

    /** Throws unless the driver call returned CUDA_SUCCESS. */
    public static void checkDriver(int err, String call) {
        if (err != 0) throw new CudaException(call + " failed: " + driverError(err));
    }

    private static final String[] CUFFT_ERRORS = {"CUFFT_SUCCESS", "CUFFT_INVALID_PLAN", "CUFFT_ALLOC_FAILED",
        "CUFFT_INVALID_TYPE", "CUFFT_INVALID_VALUE", "CUFFT_INTERNAL_ERROR", "CUFFT_EXEC_FAILED", "CUFFT_SETUP_FAILED",
        "CUFFT_INVALID_SIZE", "CUFFT_UNALIGNED_DATA", "CUFFT_INCOMPLETE_PARAMETER_LIST", "CUFFT_INVALID_DEVICE",
        "CUFFT_PARSE_ERROR", "CUFFT_NO_WORKSPACE", "CUFFT_NOT_IMPLEMENTED", "CUFFT_LICENSE_ERROR", "CUFFT_NOT_SUPPORTED"};

    /** Throws unless the cuFFT call returned CUFFT_SUCCESS. */
    public static void checkCufft(int err, String call) {
        if (err != 0) {
            String name = err > 0 && err < CUFFT_ERRORS.length ? CUFFT_ERRORS[err] : "cufftResult";
            throw new CudaException(call + " failed: " + name + " (" + err + ")");
        }
    }

    // ---- memory, streams, modules ------------------------------------------------------------

    /** Makes the device's primary context current on the calling thread (driver calls need it). */
    public void makeCurrent() { checkDriver(cuda_h.cuCtxSetCurrent(context), "cuCtxSetCurrent"); }

    /** The stream every operation of this class runs on. */
    public MemorySegment stream() { return stream; }

    /** Allocates {@code bytes} of device memory (nothing for 0). */
    public DeviceBuffer alloc(long bytes) {
        if (bytes == 0) return new DeviceBuffer(0, 0);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            check(cuda_runtime_api_h.cudaMalloc(p, bytes), "cudaMalloc(" + bytes + " bytes)");
            return new DeviceBuffer(p.get(ADDRESS, 0).address(), bytes);
        }
    }

    /** Copies {@code src} (host) to the start of {@code dst} and waits for the copy. */
    public void upload(DeviceBuffer dst, MemorySegment src) {
        if (src.byteSize() > dst.bytes()) throw new IllegalArgumentException("upload of " + src.byteSize() + " bytes into " + dst.bytes());
        if (src.byteSize() == 0) return;
        check(cuda_runtime_api_h.cudaMemcpyAsync(MemorySegment.ofAddress(dst.address()), src, src.byteSize(),
                cuda_runtime_api_h.cudaMemcpyHostToDevice(), stream), "cudaMemcpyAsync(host to device)");
        sync();
    }

    /** A new device buffer holding a copy of {@code src}. */
    public DeviceBuffer upload(MemorySegment src) {
        DeviceBuffer b = alloc(src.byteSize());
        try {
            upload(b, src);
            return b;
        } catch (RuntimeException e) {
            b.close();
            throw e;
        }
    }

    /** Copies the first {@code dst.byteSize()} bytes of {@code src} to the host and waits. */
    public void download(MemorySegment dst, DeviceBuffer src) {
        if (dst.byteSize() > src.bytes()) throw new IllegalArgumentException("download of " + dst.byteSize() + " bytes from " + src.bytes());
        if (dst.byteSize() == 0) return;
        check(cuda_runtime_api_h.cudaMemcpyAsync(dst, MemorySegment.ofAddress(src.address()), dst.byteSize(),
                cuda_runtime_api_h.cudaMemcpyDeviceToHost(), stream), "cudaMemcpyAsync(device to host)");
        sync();
    }

    /** Zeroes {@code bytes} at device address {@code at} (asynchronous, on the stream). */
    public void zero(long at, long bytes) {
        if (bytes > 0) check(cuda_runtime_api_h.cudaMemsetAsync(MemorySegment.ofAddress(at), 0, bytes, stream), "cudaMemsetAsync");
    }

    /** Waits for the stream; reports errors of earlier asynchronous work (kernels) here. */
    public void sync() { check(cuda_runtime_api_h.cudaStreamSynchronize(stream), "cudaStreamSynchronize"); }

    /** Free and total device memory in bytes. */
    public long[] memInfo() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment free = a.allocate(JAVA_LONG), total = a.allocate(JAVA_LONG);
            check(cuda_runtime_api_h.cudaMemGetInfo(free, total), "cudaMemGetInfo");
            return new long[] {free.get(JAVA_LONG, 0), total.get(JAVA_LONG, 0)};
        }
    }

    /** A loaded PTX module ({@code cuModuleLoadData}); {@link #close()} unloads it. */
    public final class Module implements AutoCloseable {
        private final MemorySegment handle;
        private boolean closed;

        private Module(MemorySegment handle) { this.handle = handle; }

        /** The kernel {@code name} (an extern "C" entry point of the PTX). */
        public MemorySegment function(String name) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment p = a.allocate(ADDRESS);
                checkDriver(cuda_h.cuModuleGetFunction(p, handle, a.allocateFrom(name)), "cuModuleGetFunction(" + name + ")");
                return p.get(ADDRESS, 0);
            }
        }

        @Override
        public synchronized void close() {
            if (closed) return;
            closed = true;
            makeCurrent();
            checkDriver(cuda_h.cuModuleUnload(handle), "cuModuleUnload");
        }
    }

    /** JIT-loads PTX text into the current context. */
    public Module loadPtx(String ptx) {
        makeCurrent();
        try (Arena a = Arena.ofConfined()) {
            MemorySegment p = a.allocate(ADDRESS);
            checkDriver(cuda_h.cuModuleLoadData(p, a.allocateFrom(ptx)), "cuModuleLoadData (PTX JIT)");
            return new Module(p.get(ADDRESS, 0));
        }
    }

    /** Kernel arguments in declaration order: device pointers and i64 as 8 bytes, i32 and f32 as 4. */
    public static final class Args {
        private final List<Object> values = new ArrayList<>();

        public Args ptr(long deviceAddress) { values.add(deviceAddress); return this; }
        public Args i64(long v) { values.add(v); return this; }
        public Args i32(int v) { values.add(v); return this; }
        public Args f32(float v) { values.add(v); return this; }

        MemorySegment marshal(Arena a) {
            MemorySegment array = a.allocate(ADDRESS, values.size());
            for (int k = 0; k < values.size(); k++) {
                Object v = values.get(k);
                MemorySegment slot;
                if (v instanceof Long l) {
                    slot = a.allocate(JAVA_LONG);
                    slot.set(JAVA_LONG, 0, l);
                } else if (v instanceof Integer i) {
                    slot = a.allocate(JAVA_INT);
                    slot.set(JAVA_INT, 0, i);
                } else {
                    slot = a.allocate(JAVA_FLOAT);
                    slot.set(JAVA_FLOAT, 0, (Float) v);
                }
                array.setAtIndex(ADDRESS, k, slot);
            }
            return array;
        }
    }

    /** Launches {@code fn} on a 1-D grid on this runtime's stream (asynchronous). */
    public void launch(MemorySegment fn, String name, long grid, int block, int sharedBytes, Args args) {
        if (grid < 1 || grid > Integer.MAX_VALUE) throw new IllegalArgumentException(name + ": grid of " + grid + " blocks");
        try (Arena a = Arena.ofConfined()) {
            checkDriver(cuda_h.cuLaunchKernel(fn, (int) grid, 1, 1, block, 1, 1, sharedBytes, stream, args.marshal(a),
                    MemorySegment.NULL), "cuLaunchKernel(" + name + ")");
        }
    }
}
