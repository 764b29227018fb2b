package leviathan.backend;

import java.lang.foreign.Arena;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import java.lang.invoke.MethodHandle;
import java.util.LinkedHashMap;
import java.util.Map;
import leviathan.ffi.onednn.dnnl_exec_arg_t;
import leviathan.ffi.onednn.dnnl_h;
import leviathan.kernel.Bf16;

/**
 * {@code C = alpha·op(A)·op(B) + beta·C} through oneDNN's matmul primitive with bf16 operands and
 * float32 accumulation and output, in one of two documented ways:
 * <ul>
 * <li>{@link Mode#CONVERT}: the engine rounds {@code alpha·A} and {@code B} to bf16 (round to
 *     nearest even, {@link Bf16}) into per-thread scratch, and the primitive is created with bf16
 *     source and weights memory descriptors and an f32 destination;
 * <li>{@link Mode#FPMATH}: an f32 primitive with the {@code dnnl_fpmath_mode_bf16} attribute, which
 *     allows oneDNN to round the operands itself (no copies; whether it does depends on the CPU and
 *     oneDNN's kernels: {@link #implementation} names the kernel chosen), {@code alpha} as an
 *     eltwise-linear post-op.
 * </ul>
 * {@code beta ≠ 0} is a sum post-op. Transposes are strides of the memory descriptors. Primitives are
 * created once per shape, leading dimensions, {@code alpha}/{@code beta} and OpenMP thread count,
 * and cached per calling thread together with their memory objects and stream (memory objects
 * whose data handle is set per call are not shareable between threads); a thread's cache is
 * released once that thread has ended ({@link PerThread}), so a server that runs each request on
 * a new thread holds one per request in progress, not one per request ever served.
 */
final class OneDnnMatmul implements AutoCloseable {
    /** How the operands become bf16. */
    enum Mode { CONVERT, FPMATH }

    private static MemorySegment engine;

    /** Primitives kept per thread. */
    static final int MAX_ENTRIES = 256;

    private final Mode mode;
    private final PerThread<ThreadState> states = new PerThread<>(OneDnnMatmul::newState, OneDnnMatmul::release);

    OneDnnMatmul(Mode mode) {
        this.mode = mode;
        engine();
    }

    Mode mode() { return mode; }

    /** What a primitive is made for; each thread looks its primitives up with one reused key, so a call allocates nothing. */
    private static final class Key {
        private boolean transA, transB;
        private int M, N, K, lda, ldb, ldc, alphaBits, betaBits, threads;

        Key set(boolean transA, boolean transB, int M, int N, int K, int lda, int ldb, int ldc, int alphaBits, int betaBits, int threads) {
            this.transA = transA; this.transB = transB; this.M = M; this.N = N; this.K = K; this.lda = lda; this.ldb = ldb; this.ldc = ldc;
            this.alphaBits = alphaBits; this.betaBits = betaBits; this.threads = threads;
            return this;
        }

        Key copy() { return new Key().set(transA, transB, M, N, K, lda, ldb, ldc, alphaBits, betaBits, threads); }

        boolean transA() { return transA; }
        boolean transB() { return transB; }
        int M() { return M; }
        int N() { return N; }
        int K() { return K; }
        int lda() { return lda; }
        int ldb() { return ldb; }
        int ldc() { return ldc; }
        int alphaBits() { return alphaBits; }
        int betaBits() { return betaBits; }

        @Override
        public boolean equals(Object o) {
            return o instanceof Key k && k.transA == transA && k.transB == transB && k.M == M && k.N == N && k.K == K && k.lda == lda
                    && k.ldb == ldb && k.ldc == ldc && k.alphaBits == alphaBits && k.betaBits == betaBits && k.threads == threads;
        }

        @Override
        public int hashCode() {
            int h = (transA ? 2 : 0) + (transB ? 1 : 0);
            h = h * 31 + M; h = h * 31 + N; h = h * 31 + K; h = h * 31 + lda; h = h * 31 + ldb; h = h * 31 + ldc;
            h = h * 31 + alphaBits; h = h * 31 + betaBits;
            return h * 31 + threads;
        }
    }

    /** One cached primitive with its three memory objects and its argument array. */
    private record Entry(MemorySegment primitive, MemorySegment src, MemorySegment weights, MemorySegment dst,
                         MemorySegment args, String impl) {}

    private static final class ThreadState {
        final MemorySegment stream;
        /** Least recently used first; beyond {@link #MAX_ENTRIES} the eldest primitive is destroyed (MoE experts see a new row count almost every step). */
        final Map<Key, Entry> entries = new LinkedHashMap<>(64, 0.75f, true) {
            @Override
            protected boolean removeEldestEntry(java.util.Map.Entry<Key, OneDnnMatmul.Entry> eldest) {
                if (size() <= MAX_ENTRIES) return false;
                destroy(eldest.getValue());
                return true;
            }
        };
        MemorySegment scratch = MemorySegment.NULL;
        final Key probe = new Key();

        ThreadState(MemorySegment stream) { this.stream = stream; }

        MemorySegment scratch(long bytes) {
            if (scratch.byteSize() < bytes) scratch = Arena.ofAuto().allocate(Math.max(bytes, 2 * scratch.byteSize()), 64);
            return scratch;
        }
    }

    private static synchronized MemorySegment engine() {
        if (engine == null) {
            try (Arena a = Arena.ofConfined()) {
                MemorySegment out = a.allocate(ValueLayout.ADDRESS);
                check(dnnl_h.dnnl_engine_create(out, dnnl_h.dnnl_cpu(), 0), "dnnl_engine_create");
                engine = out.get(ValueLayout.ADDRESS, 0);   // lives as long as the JVM: primitives of every backend use it
            }
        }
        return engine;
    }

    private static ThreadState newState() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = a.allocate(ValueLayout.ADDRESS);
            check(dnnl_h.dnnl_stream_create(out, engine(), dnnl_h.dnnl_stream_default_flags()), "dnnl_stream_create");
            return new ThreadState(out.get(ValueLayout.ADDRESS, 0));
        }
    }

    /** Destroys a thread's cached primitives, memory objects and stream. */
    private static void release(ThreadState s) {
        for (Entry e : s.entries.values()) destroy(e);
        s.entries.clear();
        dnnl_h.dnnl_stream_destroy(s.stream);
    }

    /** Threads whose primitives are cached now. */
    int cachedThreads() { return states.held(); }

    /** Runs the product; arguments were checked by the caller, and the OpenMP thread count is {@code threads}. */
    void run(boolean transA, boolean transB, int M, int N, int K, float alpha,
             MemorySegment a, int lda, MemorySegment b, int ldb, float beta, MemorySegment c, int ldc, int threads) {
        run(transA, transB, M, N, K, alpha, a, 0, lda, b, 0, ldb, beta, c, 0, ldc, threads);
    }

    /** The product on matrices that start {@code aOffset}, {@code bOffset} and {@code cOffset} floats into their segments. */
    void run(boolean transA, boolean transB, int M, int N, int K, float alpha, MemorySegment a, long aOffset, int lda,
             MemorySegment b, long bOffset, int ldb, float beta, MemorySegment c, long cOffset, int ldc, int threads) {
        ThreadState s = states.get();
        float keyAlpha = mode == Mode.CONVERT ? 1f : alpha;              // CONVERT folds alpha into A's rounding
        Key key = s.probe.set(transA, transB, M, N, K, lda, ldb, ldc, Float.floatToIntBits(keyAlpha), Float.floatToIntBits(beta), threads);
        Entry e = s.entries.get(key);
        if (e == null) {
            Key kept = key.copy();
            e = create(kept, s);
            s.entries.put(kept, e);
        }
        // the operands by address (A, B and C at their offsets, or the rounded copies): no slices
        long srcData = a.address() + aOffset * Float.BYTES, weightsData = b.address() + bOffset * Float.BYTES;
        if (mode == Mode.CONVERT) {
            long aBytes = align64((long) M * K * Short.BYTES);
            MemorySegment scratch = s.scratch(aBytes + (long) K * N * Short.BYTES);
            // A as stored: M×K (or K×M when transposed) rows of lda floats; likewise B.
            Bf16.convert(scratch, 0, a, aOffset, transA ? K : M, transA ? M : K, lda, alpha);
            Bf16.convert(scratch, aBytes / Short.BYTES, b, bOffset, transB ? N : K, transB ? K : N, ldb, 1f);
            srcData = scratch.address();
            weightsData = scratch.address() + aBytes;
        }
        setDataHandle(e.src(), srcData);
        setDataHandle(e.weights(), weightsData);
        setDataHandle(e.dst(), c.address() + cOffset * Float.BYTES);
        int status = dnnl_h.dnnl_primitive_execute(e.primitive(), s.stream, 3, e.args());
        if (status == dnnl_h.dnnl_success()) status = dnnl_h.dnnl_stream_wait(s.stream);
        if (status != dnnl_h.dnnl_success()) throw failure("dnnl_primitive_execute", status, key);
    }

    /** {@code dnnl_memory_set_data_handle} with the handle passed as an address ({@link Downcalls}); linked on first use. */
    private static final class SetDataHandle {
        static final MethodHandle HANDLE = Downcalls.withAddresses(dnnl_h.dnnl_memory_set_data_handle$address(),
                dnnl_h.dnnl_memory_set_data_handle$descriptor(), 1);
    }

    private static void setDataHandle(MemorySegment memory, long address) {
        int status;
        try {
            status = (int) SetDataHandle.HANDLE.invokeExact(memory, address);
        } catch (RuntimeException | Error e) {
            throw e;
        } catch (Throwable e) {
            throw new AssertionError("dnnl_memory_set_data_handle", e);
        }
        check(status, "dnnl_memory_set_data_handle");
    }

    /** The name of the oneDNN kernel that runs this product (e.g. {@code brg_matmul:avx512_core_bf16}); creates it if needed. */
    String implementation(boolean transA, boolean transB, int M, int N, int K, float alpha, int lda, int ldb, float beta, int ldc, int threads) {
        ThreadState s = states.get();
        float keyAlpha = mode == Mode.CONVERT ? 1f : alpha;
        Key key = new Key().set(transA, transB, M, N, K, lda, ldb, ldc, Float.floatToIntBits(keyAlpha), Float.floatToIntBits(beta), threads);
        return s.entries.computeIfAbsent(key, k -> create(k, s)).impl();
    }

    private Entry create(Key k, ThreadState s) {
        boolean convert = mode == Mode.CONVERT;
        int operandType = convert ? dnnl_h.dnnl_bf16() : dnnl_h.dnnl_f32();
        // Converted copies are compact: A's row stride becomes its stored width, likewise B's.
        long lda = convert ? (k.transA() ? k.M() : k.K()) : k.lda();
        long ldb = convert ? (k.transB() ? k.K() : k.N()) : k.ldb();
        try (Arena t = Arena.ofConfined()) {
            MemorySegment srcMd = md(t, k.M(), k.K(), operandType, k.transA() ? 1 : lda, k.transA() ? lda : 1);
            MemorySegment weightsMd = md(t, k.K(), k.N(), operandType, k.transB() ? 1 : ldb, k.transB() ? ldb : 1);
            MemorySegment dstMd = md(t, k.M(), k.N(), dnnl_h.dnnl_f32(), k.ldc(), 1);
            MemorySegment attr = handle(t, "dnnl_primitive_attr_create", dnnl_h::dnnl_primitive_attr_create);
            MemorySegment postOps = handle(t, "dnnl_post_ops_create", dnnl_h::dnnl_post_ops_create);
            try {
                float alpha = Float.intBitsToFloat(k.alphaBits()), beta = Float.intBitsToFloat(k.betaBits());
                if (alpha != 1f) check(dnnl_h.dnnl_post_ops_append_eltwise(postOps, dnnl_h.dnnl_eltwise_linear(), alpha, 0f), "dnnl_post_ops_append_eltwise");
                if (beta != 0f) check(dnnl_h.dnnl_post_ops_append_sum(postOps, beta, 0, dnnl_h.dnnl_data_type_undef()), "dnnl_post_ops_append_sum");
                check(dnnl_h.dnnl_primitive_attr_set_post_ops(attr, postOps), "dnnl_primitive_attr_set_post_ops");
                if (!convert) check(dnnl_h.dnnl_primitive_attr_set_fpmath_mode(attr, dnnl_h.dnnl_fpmath_mode_bf16()), "dnnl_primitive_attr_set_fpmath_mode");
                MemorySegment pdOut = t.allocate(ValueLayout.ADDRESS);
                int status = dnnl_h.dnnl_matmul_primitive_desc_create(pdOut, engine(), srcMd, weightsMd, MemorySegment.NULL, dstMd, attr);
                if (status != dnnl_h.dnnl_success()) throw failure("dnnl_matmul_primitive_desc_create", status, k);
                MemorySegment pd = pdOut.get(ValueLayout.ADDRESS, 0);
                try {
                    MemorySegment strOut = t.allocate(ValueLayout.ADDRESS);
                    String impl = dnnl_h.dnnl_primitive_desc_query(pd, dnnl_h.dnnl_query_impl_info_str(), 0, strOut) == dnnl_h.dnnl_success()
                            ? strOut.get(ValueLayout.ADDRESS, 0).reinterpret(Long.MAX_VALUE).getString(0) : "unknown";
                    MemorySegment primOut = t.allocate(ValueLayout.ADDRESS);
                    status = dnnl_h.dnnl_primitive_create(primOut, pd);
                    if (status != dnnl_h.dnnl_success()) throw failure("dnnl_primitive_create", status, k);
                    MemorySegment primitive = primOut.get(ValueLayout.ADDRESS, 0);
                    MemorySegment src = memory(t, srcMd), weights = memory(t, weightsMd), dst = memory(t, dstMd);
                    MemorySegment args = dnnl_exec_arg_t.allocateArray(3, Arena.ofAuto());   // freed with the entry
                    arg(args, 0, dnnl_h.DNNL_ARG_SRC(), src);
                    arg(args, 1, dnnl_h.DNNL_ARG_WEIGHTS(), weights);
                    arg(args, 2, dnnl_h.DNNL_ARG_DST(), dst);
                    return new Entry(primitive, src, weights, dst, args, impl);
                } finally {
                    dnnl_h.dnnl_primitive_desc_destroy(pd);
                }
            } finally {
                dnnl_h.dnnl_post_ops_destroy(postOps);
                dnnl_h.dnnl_primitive_attr_destroy(attr);
                dnnl_h.dnnl_memory_desc_destroy(srcMd);
                dnnl_h.dnnl_memory_desc_destroy(weightsMd);
                dnnl_h.dnnl_memory_desc_destroy(dstMd);
            }
        }
    }

    /** A 2-D memory descriptor {@code rows×cols} with the given strides (in elements). */
    private static MemorySegment md(Arena t, long rows, long cols, int type, long rowStride, long colStride) {
        MemorySegment dims = t.allocateFrom(ValueLayout.JAVA_LONG, rows, cols);
        MemorySegment strides = t.allocateFrom(ValueLayout.JAVA_LONG, rowStride, colStride);
        MemorySegment out = t.allocate(ValueLayout.ADDRESS);
        check(dnnl_h.dnnl_memory_desc_create_with_strides(out, 2, dims, type, strides), "dnnl_memory_desc_create_with_strides");
        return out.get(ValueLayout.ADDRESS, 0);
    }

    /** A memory object with no buffer yet (DNNL_MEMORY_NONE); the data handle is set per call. */
    private static MemorySegment memory(Arena t, MemorySegment md) {
        MemorySegment out = t.allocate(ValueLayout.ADDRESS);
        check(dnnl_h.dnnl_memory_create(out, md, engine(), MemorySegment.NULL), "dnnl_memory_create");
        return out.get(ValueLayout.ADDRESS, 0);
    }

    private static void arg(MemorySegment args, int i, int which, MemorySegment memory) {
        MemorySegment a = dnnl_exec_arg_t.asSlice(args, i);
        dnnl_exec_arg_t.arg(a, which);
        dnnl_exec_arg_t.memory(a, memory);
    }

    /** A C call that writes a handle through its first argument and returns a status. */
    private interface Create { int call(MemorySegment out); }

    /** Calls {@code c} and returns the handle it wrote, or fails naming {@code what}. */
    private static MemorySegment handle(Arena t, String what, Create c) {
        MemorySegment out = t.allocate(ValueLayout.ADDRESS);
        check(c.call(out), what);
        return out.get(ValueLayout.ADDRESS, 0);
    }

    private static long align64(long bytes) { return (bytes + 63) & ~63L; }

    private static void check(int status, String what) {
        if (status != dnnl_h.dnnl_success()) throw new IllegalStateException(what + " failed: " + OneDnnBackend.statusName(status));
    }

    private static IllegalStateException failure(String what, int status, Key k) {
        return new IllegalStateException(what + " for a bf16 matmul (" + (k.transA() ? 'T' : 'N') + ", " + (k.transB() ? 'T' : 'N')
                + ", M=" + k.M() + ", N=" + k.N() + ", K=" + k.K() + ", lda=" + k.lda() + ", ldb=" + k.ldb() + ", ldc=" + k.ldc()
                + ") failed: " + OneDnnBackend.statusName(status));
    }

    private static void destroy(Entry e) {
        dnnl_h.dnnl_primitive_destroy(e.primitive());
        dnnl_h.dnnl_memory_destroy(e.src());
        dnnl_h.dnnl_memory_destroy(e.weights());
        dnnl_h.dnnl_memory_destroy(e.dst());
    }

    /** Destroys every cached primitive, memory object and stream of every thread. */
    @Override
    public void close() { states.close(); }
}
