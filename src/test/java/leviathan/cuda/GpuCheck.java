package leviathan.cuda;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.Constructor;
import java.lang.reflect.Method;
import java.util.ArrayList;
import java.util.List;
import java.util.SplittableRandom;
import leviathan.backend.cuda.Cuda;
import leviathan.backend.cuda.CudaCorrelation;
import leviathan.backend.cuda.DeviceBuffer;
import leviathan.kernel.Correlation;
import leviathan.kernel.CorrelationFft;
import leviathan.kernel.Parallel;

/**
 * Times multi-head correlation forward+backward (best of a few runs, milliseconds) at the issue's
 * grid: B·H in {48, 256} (H = 4), T in {64, 512}, D = 64, N in {8, 64}, for the scalar reference
 * (T = 64, B·H = 48 only: minutes elsewhere), the direct SIMD kernel (when this build has
 * {@code Correlation.forward(CorrelationWorkspace, ...)}), the CPU FFT, and the GPU with and
 * without host-device copies. Prints a markdown table last. Run by benchmarks/gpu-check.sh.
 * Args: {@code --quick} (B·H = 48 only).
 */
public final class GpuCheck {
    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    interface Run { void run(); }

    static double best(int reps, Run r) {
        r.run();                                                   // warm-up (JIT, plans, buffers)
        double best = Double.MAX_VALUE;
        for (int k = 0; k < reps; k++) {
            long t0 = System.nanoTime();
            r.run();
            best = Math.min(best, (System.nanoTime() - t0) / 1e6);
        }
        return best;
    }

    public static void main(String[] args) throws Exception {
        boolean quick = List.of(args).contains("--quick");
        System.out.println(Cuda.status());
        System.out.println("cpu: " + Runtime.getRuntime().availableProcessors() + " cores, " + Parallel.threads()
                + " kernel threads, JDK " + Runtime.version());
        Method directF = null, directB = null;
        Constructor<?> wsCtor = null;
        try {
            Class<?> ws = Class.forName("leviathan.kernel.CorrelationWorkspace");
            wsCtor = ws.getConstructor(int.class, int.class, int.class, int.class, int.class);
            directF = Correlation.class.getMethod("forward", ws, MemorySegment.class, MemorySegment.class, MemorySegment.class,
                    MemorySegment.class, int.class, int.class, int.class);
            directB = Correlation.class.getMethod("backward", ws, MemorySegment.class, MemorySegment.class, MemorySegment.class,
                    MemorySegment.class, MemorySegment.class, MemorySegment.class, MemorySegment.class, int.class, int.class);
        } catch (ReflectiveOperationException e) {
            System.out.println("direct SIMD: not in this build (" + e.getClass().getSimpleName() + ")");
        }
        CudaCorrelation gpu = Cuda.available() ? new CudaCorrelation(Cuda.get()) : null;
        List<String> rows = new ArrayList<>();
        int H = 4, D = 64, C = H * D;
        for (int heads : quick ? new int[] {48} : new int[] {48, 256}) {
            for (int T : new int[] {64, 512}) {
                for (int N : new int[] {8, 64}) {
                    int B = heads / H;
                    try (Arena a = Arena.ofShared()) {
                        SplittableRandom r = new SplittableRandom(1337);
                        MemorySegment qkv = rnd(a, (long) B * T * 3 * C, r), bias = rnd(a, (long) H * N, r), dout = rnd(a, (long) B * T * C, r);
                        MemorySegment out = a.allocate((long) B * T * C * 4), lse = a.allocate((long) B * H * T * 4);
                        MemorySegment dqkv = a.allocate((long) B * T * 3 * C * 4), db = a.allocate((long) H * N * 4);
                        String scalar = "-", direct = "-", withCopies = "-", noCopies = "-";
                        if (T == 64 && heads == 48) {
                            scalar = fmt(best(1, () -> {
                                Correlation.forwardScalar(out, lse, qkv, bias, B, T, C, H, N, 0);
                                Correlation.backwardScalar(dqkv, db, dout, out, lse, qkv, bias, B, T, C, H, N);
                            }));
                        }
                        if (directF != null) {
                            Object ws = wsCtor.newInstance(B, T, C, H, N);
                            Method f = directF, b = directB;
                            direct = fmt(best(3, () -> {
                                try {
                                    f.invoke(null, ws, out, lse, qkv, bias, B, T, 0);
                                    b.invoke(null, ws, dqkv, db, dout, out, lse, qkv, bias, B, T);
                                } catch (ReflectiveOperationException e) {
                                    throw new IllegalStateException(e);
                                }
                            }));
                        }
                        double fft = best(3, () -> {
                            CorrelationFft.forward(out, lse, qkv, bias, B, T, C, H, N, 0);
                            CorrelationFft.backward(dqkv, db, dout, out, lse, qkv, bias, B, T, C, H, N);
                        });
                        if (gpu != null) {
                            withCopies = fmt(best(3, () -> {
                                gpu.forward(out, lse, qkv, bias, B, T, C, H, N, 0);
                                gpu.backward(dqkv, db, dout, out, lse, qkv, bias, B, T, C, H, N);
                            }));
                            Cuda cuda = Cuda.get();
                            try (DeviceBuffer dq = cuda.upload(qkv); DeviceBuffer dbias = cuda.upload(bias);
                                 DeviceBuffer dOut = cuda.alloc(out.byteSize()); DeviceBuffer dLse = cuda.alloc(lse.byteSize());
                                 DeviceBuffer dDout = cuda.upload(dout); DeviceBuffer dDqkv = cuda.upload(dqkv);
                                 DeviceBuffer dDb = cuda.upload(db)) {
                                noCopies = fmt(best(5, () -> {
                                    gpu.forward(dOut, dLse, dq, dbias, B, T, C, H, N, 0);
                                    gpu.backward(dDqkv, dDb, dDout, dOut, dLse, dq, dbias, B, T, C, H, N);
                                }));
                            }
                        }
                        String row = String.format("| %3d | %3d | %2d | %10s | %10s | %10s | %10s | %10s |", heads, T, N,
                                scalar, direct, fmt(fft), withCopies, noCopies);
                        System.out.println(row);
                        rows.add(row);
                    }
                }
            }
        }
        if (gpu != null) gpu.close();
        System.out.println();
        System.out.println("forward+backward, ms (best of 3-5 after a warm-up; D = 64, H = 4)");
        System.out.println("| B·H |  T  |  N |     scalar | direct SIMD |   CPU FFT | GPU+copies |   GPU only |");
        System.out.println("|----:|----:|---:|-----------:|-----------:|-----------:|-----------:|-----------:|");
        rows.forEach(System.out::println);
    }

    static String fmt(double ms) { return ms < 10 ? String.format("%.2f", ms) : String.format("%.1f", ms); }

    static MemorySegment rnd(Arena a, long n, SplittableRandom r) {
        MemorySegment s = a.allocate(n * 4, 64);
        for (long i = 0; i < n; i++) s.setAtIndex(FL, i, (float) r.nextDouble(-1, 1));
        return s;
    }
}
