package leviathan.backend.cuda;

import java.io.IOException;
import java.io.InputStream;
import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import leviathan.kernel.Fft;

/**
 * Multi-head correlation on an NVIDIA GPU through cuFFT: the operation of
 * {@link leviathan.kernel.CorrelationFft} (same layouts and semantics as
 * {@code Correlation.forwardScalar/backwardScalar}), for comparing the GPU with the SIMD kernels
 * on the same operation. Not used by training.
 * <pre>
 *   forward:  q̂, k̂, v̂ = R2C(q, k, v)                                   (cuFFT, batch 3·B·H·T)
 *             per pair (i, j <= i): X = conj(q̂_i) ⊙ k̂_j                  (cross_spectrum)
 *             s = C2R(X)                                                 (cuFFT, batch = pairs)
 *             p = softmax over (j, t in L) of s/(D·sqrt D) + b, lse     (softmax_forward, a block per row)
 *             P̂ = R2C(p placed at the shifts);  ô_i = Σ_j conj(P̂_ij) ⊙ v̂_j   (cuFFT; mac_rows)
 *             o = C2R(ô)/D                                               (cuFFT; scatter_heads)
 *   backward: the same spectra and g_p = C2R(conj(ĝ_i) ⊙ v̂_j); g_s = p·(g_p - g_o·o) (softmax_backward);
 *             P̂, Ĝs = R2C(p, g_s); ĝq_i = Σ_j conj(Ĝs) ⊙ k̂_j (mac_rows); ĝv_j = Σ_i P̂ ⊙ ĝ_i and
 *             ĝk_j = Σ_i Ĝs ⊙ q̂_i (mac_cols); C2R, scaled, added into dqkv; dbias from per-row sums.
 * </pre>
 * The per-pair arrays take {@code pairs·(D/2+1)·8 + pairs·D·4} bytes per head (twice in the
 * backward), so heads are processed in chunks that fit {@code leviathan.cuda.workspaceMiB}
 * (default: a third of the free memory, at most 16 GiB). Kernels come from
 * {@code native/correlation.cu} as PTX ({@link #findPtx()}). Device memory is owned by this
 * object (grown on demand, reused across calls) and released by {@link #close()}; host-level
 * calls release their transfer buffers on every path.
 */
public final class CudaCorrelation implements AutoCloseable {

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;
    private static final int BLOCK = 256;

    private final Cuda cuda;
    private final Cuda.Module module;
    private final MemorySegment gatherHeads, scatterHeads, crossSpectrum, softmaxForward, macRows, macCols, rowDot,
            softmaxBackward, biasReduce;
    private final Map<String, DeviceBuffer> scratch = new HashMap<>();
    private final Map<String, CufftPlan> plans = new HashMap<>();
    private final long workspaceBytes;

    /** Loads the kernels into {@code cuda}'s context. */
    public CudaCorrelation(Cuda cuda) {
        this.cuda = cuda;
        this.module = cuda.loadPtx(readPtx());
        try {
            gatherHeads = module.function("gather_heads");
            scatterHeads = module.function("scatter_heads");
            crossSpectrum = module.function("cross_spectrum");
            softmaxForward = module.function("softmax_forward");
            macRows = module.function("mac_rows");
            macCols = module.function("mac_cols");
            rowDot = module.function("row_dot");
            softmaxBackward = module.function("softmax_backward");
            biasReduce = module.function("bias_reduce");
        } catch (RuntimeException e) {
            module.close();
            throw e;
        }
        String mib = System.getProperty("leviathan.cuda.workspaceMiB");
        workspaceBytes = mib != null ? Long.parseLong(mib.trim()) << 20 : Math.min(cuda.memInfo()[0] / 3, 16L << 30);
    }

    /**
     * Where the PTX is: {@code -Dleviathan.cuda.ptx}, else {@code LEVIATHAN_CUDA_PTX}, else
     * {@code <leviathan.home>/target/native/correlation.ptx} (native/build-ptx.sh), else
     * {@code correlation.ptx} beside the jar (the GPU bundle), else the classpath resource
     * {@code /leviathan/cuda/correlation.ptx}.
     */
    public static String findPtx() {
        List<Path> tried = new ArrayList<>();
        for (String s : new String[] {System.getProperty("leviathan.cuda.ptx"), System.getenv("LEVIATHAN_CUDA_PTX")}) {
            if (s != null && !s.isBlank()) tried.add(Path.of(s));
        }
        tried.add(Path.of(System.getProperty("leviathan.home", "."), "target", "native", "correlation.ptx"));
        try {
            Path jar = Path.of(CudaCorrelation.class.getProtectionDomain().getCodeSource().getLocation().toURI());
            tried.add(jar.resolveSibling("correlation.ptx"));
        } catch (Exception e) {
            // no code source (unusual class loader): the other places remain
        }
        for (Path p : tried) if (Files.isRegularFile(p)) return p.toString();
        if (CudaCorrelation.class.getResource("/leviathan/cuda/correlation.ptx") != null) return "classpath:/leviathan/cuda/correlation.ptx";
        throw new CudaException("correlation.ptx not found (tried " + tried + " and the classpath); build it with"
                + " native/build-ptx.sh (needs nvcc) or point -Dleviathan.cuda.ptx at it");
    }

    private static String readPtx() {
        String where = findPtx();
        try {
            if (where.startsWith("classpath:")) {
                try (InputStream in = CudaCorrelation.class.getResourceAsStream(where.substring("classpath:".length()))) {
                    return new String(in.readAllBytes(), StandardCharsets.UTF_8);
                }
            }
            return Files.readString(Path.of(where));
        } catch (IOException e) {
            throw new CudaException("cannot read " + where + ": " + e.getMessage());
        }
    }

    // ---- host-level calls: copy in, run, copy out ---------------------------------------------

    /** Forward on host tensors (copies both ways); same contract as {@code Correlation.forwardScalar}. */
    public void forward(MemorySegment out, MemorySegment lse, MemorySegment qkv, MemorySegment lagBias,
                        int B, int T, int C, int H, int N, int t0) {
        try (DeviceBuffer dQkv = cuda.upload(qkv);
             DeviceBuffer dBias = lagBias == null ? null : cuda.upload(lagBias);
             DeviceBuffer dOut = t0 > 0 ? cuda.upload(out) : cuda.alloc(out.byteSize());
             DeviceBuffer dLse = t0 > 0 ? cuda.upload(lse) : cuda.alloc(lse.byteSize())) {
            forward(dOut, dLse, dQkv, dBias, B, T, C, H, N, t0);
            cuda.download(out.asSlice(0, (long) B * T * C * Float.BYTES), dOut);
            cuda.download(lse.asSlice(0, (long) B * H * T * Float.BYTES), dLse);
        }
    }

    /** Backward on host tensors (copies both ways); adds into {@code dqkv} and {@code dlagBias}. */
    public void backward(MemorySegment dqkv, MemorySegment dlagBias, MemorySegment dout, MemorySegment out,
                         MemorySegment lse, MemorySegment qkv, MemorySegment lagBias, int B, int T, int C, int H, int N) {
        try (DeviceBuffer dQkv = cuda.upload(qkv);
             DeviceBuffer dBias = lagBias == null ? null : cuda.upload(lagBias);
             DeviceBuffer dDout = cuda.upload(dout);
             DeviceBuffer dOut = cuda.upload(out);
             DeviceBuffer dLse = cuda.upload(lse);
             DeviceBuffer dDqkv = cuda.upload(dqkv);
             DeviceBuffer dDbias = dlagBias == null ? null : cuda.upload(dlagBias)) {
            backward(dDqkv, dDbias, dDout, dOut, dLse, dQkv, dBias, B, T, C, H, N);
            cuda.download(dqkv.asSlice(0, (long) B * T * 3 * C * Float.BYTES), dDqkv);
            if (dlagBias != null) cuda.download(dlagBias.asSlice(0, (long) H * N * Float.BYTES), dDbias);
        }
    }

    // ---- device-level calls --------------------------------------------------------------------

    private static long tri(long i) { return i * (i + 1) / 2; }

    private static int checkShape(int B, int T, int C, int H, int N, int t0) {
        if (H < 1 || C % H != 0) throw new IllegalArgumentException("n_embd " + C + " is not divisible by n_head " + H);
        int D = C / H;
        Fft.checkSize(D, "the GPU correlation");
        if (D > 1024) throw new IllegalArgumentException("the GPU correlation takes head dimensions up to 1024, got " + D);
        if (N < 1 || N > D) throw new IllegalArgumentException("lags must be in [1, head dim " + D + "], got " + N);
        if (t0 < 0 || t0 > T) throw new IllegalArgumentException("t0 must be in [0, T=" + T + "], got " + t0);
        return D;
    }

    /** Forward on device tensors (no copies); {@code lagBias} may be null. Waits for the result. */
    public void forward(DeviceBuffer out, DeviceBuffer lse, DeviceBuffer qkv, DeviceBuffer lagBias,
                        int B, int T, int C, int H, int N, int t0) {
        int D = checkShape(B, T, C, H, N, t0), F = D / 2 + 1, BH = B * H, R = T - t0;
        if (R == 0 || B == 0) return;
        cuda.makeCurrent();
        long P = tri(T) - tri(t0);
        long heads = (long) BH * T * D, spec = (long) BH * T * F;
        DeviceBuffer hd = buffer("heads", 4 * heads * 4), sp = buffer("spectra", 4 * spec * 8);
        for (int c = 0; c < 3; c++) gather(qkv.address(), hd.at(c * heads * 4), B, T, H, D, 3 * C, c * C);
        plan(D, (int) (3L * BH * T), true).exec(hd.address(), sp.address());
        long q = sp.address(), k = sp.at(spec * 8), v = sp.at(2 * spec * 8);
        DeviceBuffer[] pairs = pairTable(T, t0);
        int chunk = chunk(BH, P, (long) P * (F * 8 + D * 4) + (long) R * (F * 8 + D * 4), 1);
        DeviceBuffer x = buffer("x", chunk * P * F * 8), s = buffer("s", chunk * P * D * 4);
        DeviceBuffer os = buffer("o-spectra", (long) chunk * R * F * 8), o = buffer("o", (long) chunk * R * D * 4);
        float scaleD = (float) (1.0 / (D * Math.sqrt(D)));
        int block = Math.max(BLOCK, D);
        for (int bh0 = 0; bh0 < BH; bh0 += chunk) {
            int nbh = Math.min(chunk, BH - bh0);
            long n = nbh * P * F;
            cuda.launch(crossSpectrum, "cross_spectrum", grid(n), BLOCK, 0, new Cuda.Args().ptr(q).ptr(k).ptr(x.address())
                    .ptr(pairs[0].address()).ptr(pairs[1].address()).i32(bh0).i32(nbh).i64(P).i32(T).i32(F));
            plan(D, (int) (nbh * P), false).exec(x.address(), s.address());
            cuda.launch(softmaxForward, "softmax_forward", (long) nbh * R, block, block * 4, new Cuda.Args()
                    .ptr(s.address()).ptr(lse.address()).ptr(lagBias == null ? 0 : lagBias.address())
                    .i32(bh0).i32(R).i32(t0).i64(P).i32(T).i32(H).i32(D).i32(N).f32(scaleD));
            plan(D, (int) (nbh * P), true).exec(s.address(), x.address());
            cuda.launch(macRows, "mac_rows", grid((long) nbh * R * F), BLOCK, 0, new Cuda.Args().ptr(x.address()).ptr(v)
                    .ptr(os.address()).i32(bh0).i32(nbh).i32(R).i32(t0).i64(P).i32(T).i32(F));
            plan(D, nbh * R, false).exec(os.address(), o.address());
            scatter(o.address(), out.address(), bh0, nbh, R, t0, T, H, D, C, 0, 1f / D, false);
        }
        cuda.sync();
    }

    /**
     * Backward on device tensors (no copies): adds into {@code dqkv} and (when not null)
     * {@code dlagBias}. Waits for the result.
     */
    public void backward(DeviceBuffer dqkv, DeviceBuffer dlagBias, DeviceBuffer dout, DeviceBuffer out, DeviceBuffer lse,
                         DeviceBuffer qkv, DeviceBuffer lagBias, int B, int T, int C, int H, int N) {
        int D = checkShape(B, T, C, H, N, 0), F = D / 2 + 1, BH = B * H;
        if (T == 0 || B == 0) return;
        cuda.makeCurrent();
        long P = tri(T);
        long heads = (long) BH * T * D, spec = (long) BH * T * F;
        DeviceBuffer hd = buffer("heads", 4 * heads * 4), sp = buffer("spectra", 4 * spec * 8);
        for (int c = 0; c < 3; c++) gather(qkv.address(), hd.at(c * heads * 4), B, T, H, D, 3 * C, c * C);
        gather(dout.address(), hd.at(3 * heads * 4), B, T, H, D, C, 0);
        plan(D, (int) (4L * BH * T), true).exec(hd.address(), sp.address());
        long q = sp.address(), k = sp.at(spec * 8), v = sp.at(2 * spec * 8), g = sp.at(3 * spec * 8);
        DeviceBuffer rd = buffer("rowdot", (long) BH * T * 4), rb = buffer("rowbias", (long) BH * T * N * 4);
        DeviceBuffer gs = buffer("grad-spectra", 3 * spec * 8);
        long gq = gs.address(), gk = gs.at(spec * 8), gv = gs.at(2 * spec * 8);
        cuda.launch(rowDot, "row_dot", grid((long) BH * T), BLOCK, 0,
                new Cuda.Args().ptr(dout.address()).ptr(out.address()).ptr(rd.address()).i32(B).i32(T).i32(H).i32(D));
        DeviceBuffer[] pairs = pairTable(T, 0);
        int chunk = chunk(BH, P, 2 * P * ((long) F * 8 + D * 4), 2);
        DeviceBuffer x = buffer("x", 2 * chunk * P * F * 8), s = buffer("s", 2 * chunk * P * D * 4);
        float scale = (float) (1.0 / Math.sqrt(D)), scaleD = scale / D, invD = 1f / D;
        int block = Math.max(BLOCK, D);
        for (int bh0 = 0; bh0 < BH; bh0 += chunk) {
            int nbh = Math.min(chunk, BH - bh0);
            long n = nbh * P * F;
            long x1 = x.address(), x2 = x.at(n * 8), s1 = s.address(), s2 = s.at(nbh * P * D * 4);
            cuda.launch(crossSpectrum, "cross_spectrum", grid(n), BLOCK, 0, new Cuda.Args().ptr(q).ptr(k).ptr(x1)
                    .ptr(pairs[0].address()).ptr(pairs[1].address()).i32(bh0).i32(nbh).i64(P).i32(T).i32(F));
            cuda.launch(crossSpectrum, "cross_spectrum", grid(n), BLOCK, 0, new Cuda.Args().ptr(g).ptr(v).ptr(x2)
                    .ptr(pairs[0].address()).ptr(pairs[1].address()).i32(bh0).i32(nbh).i64(P).i32(T).i32(F));
            plan(D, (int) (2 * nbh * P), false).exec(x1, s1);
            cuda.launch(softmaxBackward, "softmax_backward", (long) nbh * T, block, block * 4, new Cuda.Args()
                    .ptr(s1).ptr(s2).ptr(lse.address()).ptr(rd.address()).ptr(lagBias == null ? 0 : lagBias.address())
                    .ptr(rb.address()).i32(bh0).i64(P).i32(T).i32(H).i32(D).i32(N).f32(scaleD).f32(invD));
            plan(D, (int) (2 * nbh * P), true).exec(s1, x1);
            cuda.launch(macRows, "mac_rows", grid((long) nbh * T * F), BLOCK, 0, new Cuda.Args().ptr(x2).ptr(k)
                    .ptr(gq + (long) bh0 * T * F * 8).i32(bh0).i32(nbh).i32(T).i32(0).i64(P).i32(T).i32(F));
            cuda.launch(macCols, "mac_cols", grid((long) nbh * T * F), BLOCK, 0, new Cuda.Args().ptr(x1).ptr(g).ptr(gv)
                    .i32(bh0).i32(nbh).i64(P).i32(T).i32(F));
            cuda.launch(macCols, "mac_cols", grid((long) nbh * T * F), BLOCK, 0, new Cuda.Args().ptr(x2).ptr(q).ptr(gk)
                    .i32(bh0).i32(nbh).i64(P).i32(T).i32(F));
        }
        plan(D, (int) (3L * BH * T), false).exec(gq, hd.address());          // gq, gk, gv rows, each D times too large
        scatter(hd.address(), dqkv.address(), 0, BH, T, 0, T, H, D, 3 * C, 0, scaleD, true);
        scatter(hd.at(heads * 4), dqkv.address(), 0, BH, T, 0, T, H, D, 3 * C, C, scaleD, true);
        scatter(hd.at(2 * heads * 4), dqkv.address(), 0, BH, T, 0, T, H, D, 3 * C, 2 * C, invD, true);
        if (dlagBias != null) {
            cuda.launch(biasReduce, "bias_reduce", (long) H * N, BLOCK, BLOCK * 4, new Cuda.Args()
                    .ptr(rb.address()).ptr(dlagBias.address()).i32(B).i32(T).i32(H).i32(N));
        }
        cuda.sync();
    }

    private void gather(long src, long dst, int B, int T, int H, int D, int ld, int col) {
        cuda.launch(gatherHeads, "gather_heads", grid((long) B * H * T * D), BLOCK, 0,
                new Cuda.Args().ptr(src).ptr(dst).i32(B).i32(T).i32(H).i32(D).i32(ld).i32(col));
    }

    private void scatter(long src, long dst, int bh0, int nbh, int R, int t0, int T, int H, int D, int ld, int col,
                         float alpha, boolean accumulate) {
        cuda.launch(scatterHeads, "scatter_heads", grid((long) nbh * R * D), BLOCK, 0, new Cuda.Args().ptr(src).ptr(dst)
                .i32(bh0).i32(nbh).i32(R).i32(t0).i32(T).i32(H).i32(D).i32(ld).i32(col).f32(alpha).i32(accumulate ? 1 : 0));
    }

    private static long grid(long n) { return Math.max(1, Math.min((n + BLOCK - 1) / BLOCK, 1L << 20)); }

    /**
     * Heads per chunk: as many as the workspace holds, and few enough that one cuFFT batch
     * ({@code copies·heads·P} signals of up to 2F floats) stays under 2^31 elements.
     */
    private int chunk(int BH, long P, long bytesPerHead, int copies) {
        long byMemory = workspaceBytes / Math.max(1, bytesPerHead);
        long byIndex = (Integer.MAX_VALUE / 2) / Math.max(1, copies * P * 66);
        long c = Math.min(BH, Math.min(byMemory, byIndex));
        if (c < 1) {
            throw new CudaException("one head's pairs need " + bytesPerHead / (1 << 20) + " MiB (T too large for the GPU path's"
                    + " workspace of " + (workspaceBytes >> 20) + " MiB; raise -Dleviathan.cuda.workspaceMiB)");
        }
        return (int) c;
    }

    /** A device buffer of at least {@code bytes}, kept for later calls under {@code name}. */
    private DeviceBuffer buffer(String name, long bytes) {
        DeviceBuffer b = scratch.get(name);
        if (b != null && b.bytes() >= bytes) return b;
        if (b != null) {
            cuda.sync();                      // earlier kernels may still read it
            b.close();
            scratch.remove(name);
        }
        b = cuda.alloc(Math.max(bytes, 4));
        scratch.put(name, b);
        return b;
    }

    private CufftPlan plan(int n, int batch, boolean r2c) {
        String key = (r2c ? "r2c:" : "c2r:") + n + ":" + batch;
        CufftPlan p = plans.get(key);
        if (p == null) {
            p = new CufftPlan(cuda, n, batch, r2c);
            plans.put(key, p);
        }
        return p;
    }

    /** Device arrays pi, pj of the causal pairs of rows [t0, T) in row order (cached per T, t0). */
    private DeviceBuffer[] pairTable(int T, int t0) {
        String key = "pairs:" + T + ":" + t0;
        if (scratch.containsKey(key + ":i")) return new DeviceBuffer[] {scratch.get(key + ":i"), scratch.get(key + ":j")};
        long P = tri(T) - tri(t0);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment pi = a.allocate(ValueLayout.JAVA_INT, Math.max(1, P)), pj = a.allocate(ValueLayout.JAVA_INT, Math.max(1, P));
            long p = 0;
            for (int i = t0; i < T; i++) {
                for (int j = 0; j <= i; j++, p++) {
                    pi.setAtIndex(ValueLayout.JAVA_INT, p, i);
                    pj.setAtIndex(ValueLayout.JAVA_INT, p, j);
                }
            }
            DeviceBuffer di = cuda.upload(pi);
            scratch.put(key + ":i", di);
            DeviceBuffer dj = cuda.upload(pj);
            scratch.put(key + ":j", dj);
            return new DeviceBuffer[] {di, dj};
        }
    }

    /** Frees every device buffer and plan and unloads the kernels. */
    @Override
    public void close() {
        RuntimeException first = null;
        try {
            cuda.sync();
        } catch (RuntimeException e) {
            first = e;
        }
        for (AutoCloseable c : new ArrayList<AutoCloseable>(plans.values())) first = closeQuietly(c, first);
        for (AutoCloseable c : new ArrayList<AutoCloseable>(scratch.values())) first = closeQuietly(c, first);
        plans.clear();
        scratch.clear();
        first = closeQuietly(module, first);
        if (first != null) throw first;
    }

    private static RuntimeException closeQuietly(AutoCloseable c, RuntimeException first) {
        try {
            c.close();
            return first;
        } catch (Exception e) {
            RuntimeException r = e instanceof RuntimeException re ? re : new CudaException(e.toString());
            if (first != null) first.addSuppressed(r);
            return first != null ? first : r;
        }
    }
}
