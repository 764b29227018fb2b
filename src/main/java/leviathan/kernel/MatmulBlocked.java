package leviathan.kernel;

import static leviathan.kernel.MatmulKernel.L;
import static leviathan.kernel.MatmulKernel.NR;
import static leviathan.kernel.Simd.F;
import static leviathan.kernel.Simd.NATIVE;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.util.Arrays;
import java.util.concurrent.atomic.AtomicInteger;
import jdk.incubator.vector.FloatVector;
import jdk.incubator.vector.VectorMask;

/**
 * The packed, cache-blocked GEMM behind {@link Matmul#gemm}, in the usual three levels:
 * <ol>
 *   <li>op(B) is packed once per call (per N-block of at most {@link #NC} columns) into
 *       {@code NR}-column panels, K-block by K-block: {@code bp[pc·ncPad + jr·kc + p·NR + j]};
 *       the panels are shared by all threads.
 *   <li>C is cut into tasks (a row block × a column block). A task packs its rows of op(A) for one
 *       K-block ({@code MC × KC}, sized for L2) into {@code MR}-row panels, then sweeps the B
 *       panels ({@code KC × NR}) against every A panel.
 *   <li>{@link MatmulKernel} computes one {@code MR × NR} tile in registers.
 * </ol>
 * The first K-block applies {@code beta}; later ones add (beta = 1). Threads take tasks from a
 * shared counter rather than fixed halves: on 2 vCPUs shared with other work, a thread that is
 * descheduled for a while just takes fewer tasks instead of making the other one wait.
 * Tile boundaries do not depend on the thread count, so the result is bitwise the same for any.
 */
final class MatmulBlocked {
    private MatmulBlocked() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    /**
     * K-block. A B panel (KC × NR floats, 64 KB at 16 lanes) streams from L2, which delivers far
     * more than the ~10 bytes per cycle the kernel reads; longer blocks mean fewer passes over C.
     * KC = 128..1024 measured within 10% of each other, 512 among the best.
     */
    static final int KC = 512;
    /** Row block: the packed A block, MC × KC floats (288 KB), stays in L2 across the B panels; a multiple of either MR. */
    static final int MC = 144;
    /** Column block: packed B holds at most K × NC floats, or B_FLOATS when K is large. */
    static final int NC = 1024 / NR * NR;
    private static final int B_FLOATS = 1 << 22;

    /**
     * Below this many flops (2·M·N·K) a call stays on the calling thread. Waking a parked worker
     * and being woken back costs about 40 µs on the 2-vCPU test machine (a 150 µs product at
     * 25 Mflop): there two threads lost at 13 Mflop, won or lost by shape at 17-25 Mflop, and won
     * by 1.3-1.5x from 75 Mflop (the model's large layers).
     */
    static final long SERIAL_FLOPS = 32_000_000L;
    /** {@link #SERIAL_FLOPS}, lowered by tests to run small shapes in parallel. */
    static long serialFlops = SERIAL_FLOPS;
    /** Tasks per thread when parallel: enough to even out a thread that gets less CPU. */
    private static final int TASKS_PER_THREAD = 4;

    /**
     * Rows of a micro-kernel tile ({@link MatmulKernel#MR_SMALL} or {@link MatmulKernel#MR_LARGE});
     * read once per call. Defaults to {@link MatmulKernel#MR}; the tuner may set the other.
     */
    static volatile int tileRows = MatmulKernel.MR;

    private static final VectorMask<Float> SMALL_LANES = F.indexInRange(0, MatmulKernel.MR_SMALL);
    private static final VectorMask<Float> LARGE_LANES = F.indexInRange(0, MatmulKernel.MR_LARGE);

    /**
     * Per-thread buffers, grown as needed and kept (no allocation per call once warm): this
     * thread's packed A (at most MC × KC floats), the packed B of the calls it makes (K × N
     * floats, at most max(B_FLOATS, K·NR)), and the kernel's tile.
     */
    private static final class Scratch {
        float[] ap = new float[0];
        float[] bp = new float[0];
        final float[] tile = new float[MatmulKernel.MR_LARGE * NR];
        final Job job = new Job();
    }

    private static final ThreadLocal<Scratch> SCRATCH = ThreadLocal.withInitial(Scratch::new);

    /**
     * One N-block of a call, reused by the calling thread from call to call: packed op(B) in
     * {@code bp} and the tasks, handed out through {@code next}. Fields are written before
     * {@link Parallel#forRange} starts the workers, which publishes them.
     */
    private static final class Job {
        boolean transA;
        MemorySegment a, c;
        long aOffset, cOffset;
        int lda, ldc, M, K, kBlocks, mr;
        float alpha, beta;
        float[] bp;
        int jc, nc, ncPad;
        int rowsPerTask, colsPerTask, colTasks, tasks;
        final AtomicInteger next = new AtomicInteger();
        final Parallel.Range body = (from, to) -> drain();

        void drain() {
            Scratch s = SCRATCH.get();
            for (int t; (t = next.getAndIncrement()) < tasks; ) run(s, t);
        }

        /** Task t: rows [i0, i1) × columns jc + [j0, j1) of C, all of K. */
        void run(Scratch s, int t) {
            int i0 = t / colTasks * rowsPerTask, i1 = Math.min(M, i0 + rowsPerTask);
            int j0 = t % colTasks * colsPerTask, j1 = Math.min(nc, j0 + colsPerTask);
            int need = Math.min(MC, roundUp(i1 - i0, mr)) * ceilDiv(K, kBlocks);
            if (s.ap.length < need) s.ap = new float[need];
            float[] ap = s.ap, tile = s.tile;
            for (int kb = 0; kb < kBlocks; kb++) {
                int pc = kStart(K, kBlocks, kb), kc = kStart(K, kBlocks, kb + 1) - pc;
                float blockBeta = kb == 0 ? beta : 1f;
                for (int ic = i0; ic < i1; ic += MC) {
                    int mc = Math.min(MC, i1 - ic);
                    packA(ap, mr, transA, a, aOffset, lda, ic, mc, pc, kc);
                    for (int jr = j0; jr < j1; jr += NR) {
                        int cols = Math.min(NR, j1 - jr), bo = pc * ncPad + jr * kc;
                        for (int ir = 0; ir < mc; ir += mr) {
                            int rows = Math.min(mr, mc - ir);
                            long ci = cOffset + (long) (ic + ir) * ldc + jc + jr;
                            kernel(mr, kc, ap, ir * kc, bp, bo, c, ci, ldc, rows, cols, alpha, blockBeta, tile);
                        }
                    }
                }
            }
        }
    }

    /** One tile; a last column panel at most one vector wide gets the one-vector kernel (N = 65: 4 + 1 vectors, not 6). */
    private static void kernel(int mr, int kc, float[] ap, int ao, float[] bp, int bo, MemorySegment c, long ci, int ldc,
                               int rows, int cols, float alpha, float beta, float[] tile) {
        if (mr == MatmulKernel.MR_LARGE) {                     // the same every call: predicted
            if (cols > L) MatmulKernel.tile12x2(kc, ap, ao, bp, bo, c, ci, ldc, rows, cols, alpha, beta, tile);
            else MatmulKernel.tile12x1(kc, ap, ao, bp, bo, c, ci, ldc, rows, cols, alpha, beta, tile);
        } else {
            if (cols > L) MatmulKernel.tile6x2(kc, ap, ao, bp, bo, c, ci, ldc, rows, cols, alpha, beta, tile);
            else MatmulKernel.tile6x1(kc, ap, ao, bp, bo, c, ci, ldc, rows, cols, alpha, beta, tile);
        }
    }

    /**
     * {@link Matmul#gemm} for {@code M, N, K > 0}, arguments already checked, on {@code threads}
     * threads (0: one below {@link #serialFlops}, else {@link Parallel#threads()}).
     */
    static void gemm(int threads, boolean transA, boolean transB, int M, int N, int K, float alpha,
                     MemorySegment a, long aOffset, int lda, MemorySegment b, long bOffset, int ldb,
                     float beta, MemorySegment c, long cOffset, int ldc) {
        if (threads == 0) threads = 2L * M * N * K < serialFlops ? 1 : Parallel.threads();
        int mr = tileRows;
        Scratch s = SCRATCH.get();
        Job job = s.job;
        int kBlocks = ceilDiv(K, KC);                          // equal K-blocks, none much shorter
        int ncBlock = Math.min(NC, Math.max(NR, B_FLOATS / K / NR * NR));
        int rowsPerTask = MC;
        if (threads > 1) rowsPerTask = Math.clamp(roundUp(ceilDiv(M, threads * TASKS_PER_THREAD), mr), mr, MC);
        int rowTasks = ceilDiv(M, rowsPerTask);
        job.transA = transA; job.a = a; job.aOffset = aOffset; job.lda = lda; job.c = c; job.cOffset = cOffset; job.ldc = ldc;
        job.M = M; job.K = K; job.kBlocks = kBlocks; job.alpha = alpha; job.beta = beta; job.mr = mr;
        try {
            for (int jc = 0; jc < N; jc += ncBlock) {
                int nc = Math.min(ncBlock, N - jc), ncPad = roundUp(nc, NR);
                if ((long) K * ncPad > Integer.MAX_VALUE - 8) throw new IllegalArgumentException("GEMM K too large: " + K);
                if (s.bp.length < K * ncPad) s.bp = new float[K * ncPad];
                for (int kb = 0; kb < kBlocks; kb++) {
                    int pc = kStart(K, kBlocks, kb);
                    packB(s.bp, pc * ncPad, transB, b, bOffset, ldb, pc, kStart(K, kBlocks, kb + 1) - pc, jc, nc);
                }
                int colTasks = 1;                              // few row blocks: split columns too
                if (threads > 1 && rowTasks < threads * TASKS_PER_THREAD) {
                    colTasks = Math.min(ncPad / NR, ceilDiv(threads * TASKS_PER_THREAD, rowTasks));
                }
                int colsPerTask = roundUp(ceilDiv(nc, colTasks), NR);
                job.bp = s.bp; job.jc = jc; job.nc = nc; job.ncPad = ncPad;
                job.rowsPerTask = rowsPerTask; job.colsPerTask = colsPerTask;
                job.colTasks = ceilDiv(nc, colsPerTask);
                job.tasks = rowTasks * job.colTasks;
                job.next.set(0);
                if (threads == 1) job.drain();
                else Parallel.forRange(threads, 1, job.body);
            }
        } finally {
            job.a = null; job.c = null; job.bp = null;       // keep no segment reachable between calls
        }
    }

    /** Start of K-block kb of kBlocks near-equal blocks. */
    private static int kStart(int K, int kBlocks, int kb) { return (int) ((long) K * kb / kBlocks); }

    static int roundUp(int x, int m) { return ceilDiv(x, m) * m; }

    static int ceilDiv(int x, int m) { return (x + m - 1) / m; }

    /**
     * Rows [ic, ic+mc) × k [pc, pc+kc) of op(A) into MR-row panels ({@code MR = mr}),
     * {@code ap[ir·kc + p·MR + r]}; the last panel is padded with zero rows.
     */
    static void packA(float[] ap, int mr, boolean transA, MemorySegment a, long aOffset, int lda, int ic, int mc, int pc, int kc) {
        int full = mc / mr * mr;
        if (transA) {                                          // row p of A holds MR consecutive panel values
            VectorMask<Float> lanes = mr == MatmulKernel.MR_LARGE ? LARGE_LANES : SMALL_LANES;
            for (int p = 0; p < kc; p++) {
                long src = aOffset + (long) (pc + p) * lda + ic;
                if (mr <= L) {
                    for (int ir = 0; ir < full; ir += mr) {
                        FloatVector.fromMemorySegment(F, a, (src + ir) * Float.BYTES, NATIVE, lanes)
                                .intoArray(ap, ir * kc + p * mr, lanes);
                    }
                } else {
                    for (int ir = 0; ir < full; ir += mr) {
                        for (int r = 0; r < mr; r++) ap[ir * kc + p * mr + r] = a.getAtIndex(FL, src + ir + r);
                    }
                }
            }
        } else {                                               // row r of the panel is a contiguous row of A
            for (int ir = 0; ir < full; ir += mr) {
                for (int r = 0; r < mr; r++) {
                    long src = aOffset + (long) (ic + ir + r) * lda + pc;
                    for (int p = 0; p < kc; p++) ap[ir * kc + p * mr + r] = a.getAtIndex(FL, src + p);
                }
            }
        }
        if (full < mc) packAEdge(ap, mr, transA, a, aOffset, lda, ic, mc, pc, kc);
    }

    /**
     * The last, partial panel of {@link #packA}: rows [ic+full, ic+mc), zero rows after them.
     * A method of its own: folded into packA's loops, its rare branch made C2 recompile packA
     * over and over (profile-predicate traps) for seconds after start-up.
     */
    private static void packAEdge(float[] ap, int mr, boolean transA, MemorySegment a, long aOffset, int lda, int ic, int mc, int pc, int kc) {
        int full = mc / mr * mr, base = full * kc;
        long step = transA ? lda : 1;                          // from one k to the next in A
        Arrays.fill(ap, base, base + kc * mr, 0f);
        for (int r = 0; r < mc - full; r++) {
            long src = aOffset + (transA ? (long) pc * lda + ic + full + r : (long) (ic + full + r) * lda + pc);
            for (int p = 0; p < kc; p++) ap[base + p * mr + r] = a.getAtIndex(FL, src + p * step);
        }
    }

    /**
     * k [pc, pc+kc) × columns [jc, jc+nc) of op(B) into NR-column panels,
     * {@code bp[off + jr·kc + p·NR + j]}; the last panel is padded with zero columns.
     */
    static void packB(float[] bp, int off, boolean transB, MemorySegment b, long bOffset, int ldb, int pc, int kc, int jc, int nc) {
        for (int jr = 0; jr < nc; jr += NR) {
            int cols = Math.min(NR, nc - jr), base = off + jr * kc;
            if (transB) {                                      // column j of the panel is a contiguous row of B
                for (int j = 0; j < cols; j++) {
                    long src = bOffset + (long) (jc + jr + j) * ldb + pc;
                    for (int p = 0; p < kc; p++) bp[base + p * NR + j] = b.getAtIndex(FL, src + p);
                }
                for (int j = cols; j < NR; j++) {
                    for (int p = 0; p < kc; p++) bp[base + p * NR + j] = 0f;
                }
            } else {                                           // row p of the panel is part of row p of B
                for (int p = 0; p < kc; p++) {
                    long src = bOffset + (long) (pc + p) * ldb + jc + jr;
                    int dst = base + p * NR;
                    if (cols == NR) {
                        MemorySegment.copy(b, FL, src * Float.BYTES, bp, dst, NR);
                    } else {
                        for (int j = 0; j < cols; j++) bp[dst + j] = b.getAtIndex(FL, src + j);
                        for (int j = cols; j < NR; j++) bp[dst + j] = 0f;
                    }
                }
            }
        }
    }

    /**
     * C = alpha·tile + beta·C on the {@code rows × cols} part of a kernel's tile (tile rows are NR
     * apart); C is not read when beta = 0. Whole vectors where they fit, then single floats.
     */
    static void mergeTile(float[] tile, MemorySegment c, long ci, int ldc, int rows, int cols, float alpha, float beta) {
        int vecCols = cols / L * L;
        for (int r = 0; r < rows; r++) {
            long row = ci + (long) r * ldc;
            int j = 0;
            for (; j < vecCols; j += L) {
                long off = (row + j) * Float.BYTES;
                FloatVector v = FloatVector.fromArray(F, tile, r * NR + j).mul(alpha);
                if (beta != 0f) v = FloatVector.fromMemorySegment(F, c, off, NATIVE).fma(FloatVector.broadcast(F, beta), v);
                v.intoMemorySegment(c, off, NATIVE);
            }
            for (; j < cols; j++) {
                float v = alpha * tile[r * NR + j];            // same rounding as the vector lanes
                if (beta != 0f) v = Math.fma(c.getAtIndex(FL, row + j), beta, v);
                c.setAtIndex(FL, row + j, v);
            }
        }
    }
}
