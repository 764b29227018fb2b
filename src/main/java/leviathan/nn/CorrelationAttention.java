package leviathan.nn;

import java.lang.foreign.MemorySegment;
import java.util.Locale;
import leviathan.backend.Backend;
import leviathan.backend.Tuning;
import leviathan.kernel.Correlation;
import leviathan.kernel.CorrelationDriver;
import leviathan.kernel.CorrelationFft;
import leviathan.kernel.CorrelationImpl;
import leviathan.kernel.CorrelationWorkspace;
import leviathan.kernel.Dropout;
import leviathan.kernel.Simd;

/**
 * The correlation operation the model calls (LEVIATHAN.md, "Multi-head correlation"), with the
 * implementation chosen per shape. Layouts as in {@link Correlation}: qkv {@code (B,T,3C)},
 * out {@code (B,T,C)}, lse {@code (B,H,T)}, lagBias {@code (H,N)} or null (dot attention).
 *
 * <p>Four implementations of one contract ({@link CorrelationImpl}, one (sequence, head) at a
 * time) compute the same thing, each run by a {@link CorrelationDriver} (the one parallel driver
 * over (b, h) and the one fixed-order lag-bias reduction):
 * <ul>
 *   <li>{@link Impl#SCALAR}: the reference, {@link Correlation#scalar}.
 *   <li>{@link Impl#DIRECT}: the Vector API kernel, {@link CorrelationWorkspace}: no lagged copies,
 *       register-tiled products on per-thread blocks.
 *   <li>{@link Impl#GEMM}: attention over the {@code T·N} lagged keys and values, built explicitly,
 *       with the products on the {@link Backend} ({@link CorrelationGemm}).
 *   <li>{@link Impl#FFT}: circular correlations over the head dimension by real FFTs, whose cost
 *       does not grow with N ({@link CorrelationFft}; power-of-two head widths).
 * </ul>
 * This class only selects: {@link Impl#AUTO} picks by shape ({@link #choose}), any other value runs
 * that implementation. The choice arrives through one channel, the constructor (from
 * {@code train --impl} through the run's config); the {@code leviathan.correlation} system
 * property is only the default that a command line applies when its flag says {@code auto}
 * ({@link Impl#fromFlag}), and this class never reads it.
 *
 * <p>Scratch is sized for {@code maxB × maxT}; each implementation's driver is made on its first
 * use and keeps its per-thread scratch, so forward and backward then allocate nothing. The GEMM
 * path's native buffers belong to this object and are freed by {@link #close}.
 */
public final class CorrelationAttention implements AutoCloseable {

    /** Which implementation runs; AUTO picks by shape ({@link CorrelationAttention#choose}). */
    public enum Impl {
        AUTO, SCALAR, DIRECT, GEMM, FFT;

        /** The system property that supplies the default for a flag left at {@code auto}. */
        public static final String PROPERTY = "leviathan.correlation";

        /**
         * The implementation a flag value names ({@code auto}, {@code scalar}, {@code direct},
         * {@code gemm} or {@code fft}, any case).
         * @throws IllegalArgumentException with the accepted values, for anything else
         */
        public static Impl parse(String name) {
            try {
                return valueOf(name.trim().toUpperCase(Locale.ROOT));
            } catch (IllegalArgumentException | NullPointerException e) {
                throw new IllegalArgumentException("correlation implementation must be one of auto, scalar, direct, gemm, fft; got '"
                        + name + "'");
            }
        }

        /**
         * The implementation a command line runs for its flag's value: the flag itself, except that
         * {@code auto} yields to {@code -Dleviathan.correlation=...} when that property is set (its
         * only use: a default for a whole run without editing commands).
         * @throws IllegalArgumentException for an unknown flag or property value, naming which
         */
        public static Impl fromFlag(String flag) {
            Impl chosen = parse(flag);
            if (chosen != AUTO) return chosen;
            String p = System.getProperty(PROPERTY);
            if (p == null || p.isBlank()) return AUTO;
            try {
                return parse(p);
            } catch (IllegalArgumentException e) {
                throw new IllegalArgumentException(PROPERTY + " must be auto, scalar, direct, gemm or fft, got '" + p + "'");
            }
        }

        /** The flag spelling: lower case. */
        public String flag() { return name().toLowerCase(Locale.ROOT); }
    }

    private final Backend backend;
    private final int maxB, maxT, C, H, N, D;
    private final Impl impl;
    private final CorrelationDriver<?>[] drivers = new CorrelationDriver<?>[Impl.values().length];

    /**
     * Correlation over batches of up to {@code maxB} sequences of up to {@code maxT} tokens, width
     * C, H heads, N lags, running {@code impl} (AUTO: chosen per shape). GEMM products run on
     * {@code backend}.
     */
    public CorrelationAttention(Backend backend, int maxB, int maxT, int C, int H, int N, Impl impl) {
        if (maxB < 1 || maxT < 1) throw new IllegalArgumentException("maxB and maxT must be >= 1, got " + maxB + ", " + maxT);
        if (H < 1 || C % H != 0) throw new IllegalArgumentException("n_embd " + C + " is not divisible by n_head " + H);
        int D = C / H;
        if (N < 1 || N > D) throw new IllegalArgumentException("lags must be in [1, head dim " + D + "], got " + N);
        if (impl == Impl.FFT && !CorrelationFft.supports(D)) {
            throw new IllegalArgumentException("the FFT correlation needs a power-of-two head dim, got " + D
                    + "; use --impl=direct or change n_embd / n_head");
        }
        this.backend = backend;
        this.maxB = maxB;
        this.maxT = maxT;
        this.C = C;
        this.H = H;
        this.N = N;
        this.D = D;
        this.impl = impl;
    }

    /**
     * The implementation AUTO runs for sequences of length T: DIRECT, or FFT at many lags (SCALAR under
     * {@code -Dleviathan.scalar=true}, where no vector kernel runs). The rule, with its documented
     * boundaries (tested in {@code CorrelationAttentionTest}):
     * <pre>
     *   FFT     when 4·N >= 3·D and D >= 128 and D is a power of two
     *   DIRECT  otherwise
     * </pre>
     *
     * <p>From measurements on the development machine (AMD EPYC Zen 5, 2 vCPUs, AVX-512, JDK 25;
     * benchmarks/results/correlation.md), forward+backward GFLOP/s on one thread, B·H = 48:
     * <pre>
     *   T    D   N    direct   GEMM path, Java GEMM   GEMM path, oneDNN sgemm (1 thread)
     *   64   32  1      48            9                      13
     *   64   32  4      73           12                      29
     *   64   64  4      66           13                      34
     *   256  64  8     100           13                      87
     *   512  64  64    110            -                      93
     * </pre>
     * The direct kernel wins at every shape, on either backend (oneDNN's sgemm runs at 190-250
     * GFLOP/s on these operand shapes, but the GEMM path also builds T·N lagged copies, folds
     * their gradients back, runs its softmax over segments and wastes up to a block of causal
     * work per row). So T, B, H and the backend do not change the choice today; the method
     * takes T so that a backend on which the GEMM path wins (e.g. a GPU) can add a rule here.
     *
     * <p>The FFT path's cost does not grow with N (about two real FFTs of length D per causal pair
     * forward, four backward), the direct kernel's grows linearly in N. Re-measured against today's
     * direct kernel ({@code CorrelationBench crossover --best -p threads=2}, B·H = 48, 2 threads,
     * forward+backward, fastest iteration; table in benchmarks/results/fft.md), the direct kernel
     * was faster at every measured shape, D 16/32/64 with N up to D, T 64 and 256: at D = 64,
     * T = 256 direct 300 vs FFT 382 ms at N = 48 and 389 vs 401 ms at N = 64 (the closest);
     * at D = 32, N = 32: 153 vs 183 ms; at D = 16, N = 16: 42 vs 88 ms. At D = 128 (mean of 3
     * iterations) FFT was ahead at both measured lag counts from 3D/4: N = 96, T 64: 69 vs 76 ms,
     * T 256: 826 vs 1175 ms; N = 128: 72 vs 102 and 926 vs 1600 ms. So FFT from D = 128 at
     * 4·N >= 3·D; below 3D/4 at D = 128 was not measured.
     */
    public Impl choose(int T) {
        if (impl != Impl.AUTO) return impl;
        Impl t = tuned;
        return t != null ? t : tune();
    }

    /**
     * AUTO's choice for this shape: the rule's, or where tuning is on ({@link Tuning}) whichever
     * of DIRECT (and its register tile) and FFT was timed fastest on this machine, asked for at
     * the {@link Tuning#WARM_CALLS}th call (the rule's choice runs the calls before) and then fixed.
     */
    private synchronized Impl tune() {
        if (tuned != null) return tuned;
        Impl rule = autoRule(Simd.ENABLED, D, N);
        if (!Tuning.enabledBySystem()) return tuned = rule;
        if (++calls < Tuning.WARM_CALLS) return rule;
        return tuned = Impl.parse(Tuning.global(System.err::println).correlation(maxB, maxT, C, H, N, rule.flag()));
    }

    private volatile Impl tuned;
    private int calls;

    /**
     * {@link #choose}'s AUTO rule as a function of the SIMD switch, head width D and lag count N:
     * SCALAR when SIMD is off, FFT when {@code 4·N >= 3·D}, {@code D >= 128} and D is a power of
     * two, else DIRECT.
     */
    public static Impl autoRule(boolean simd, int D, int N) {
        if (!simd) return Impl.SCALAR;
        return 4 * N >= 3 * D && D >= FFT_MIN_HEAD && CorrelationFft.supports(D) ? Impl.FFT : Impl.DIRECT;
    }

    /** The smallest head width at which AUTO takes the FFT path (the direct kernel won every measured shape up to D = 64; FFT won at D = 128, N >= 96). */
    static final int FFT_MIN_HEAD = 128;

    /** Query rows {@code [t0, T)} of each of the B sequences; rows below t0 are left as they are. */
    public void forward(MemorySegment out, MemorySegment lse, MemorySegment qkv, MemorySegment lagBias, int B, int T, int t0) {
        forward(null, out, lse, qkv, lagBias, B, T, t0);
    }

    /**
     * {@link #forward} with the weights dropped by {@code drop} before they mix the values (null:
     * none). Only the scalar reference and the direct kernel drop weights: with a mask, AUTO runs
     * the direct kernel (the scalar one with SIMD off), and an explicit GEMM or FFT is refused.
     */
    public void forward(Dropout.Mask drop, MemorySegment out, MemorySegment lse, MemorySegment qkv, MemorySegment lagBias, int B, int T, int t0) {
        driver(choose(T, drop)).forward(drop, out, lse, qkv, lagBias, B, T, t0);
    }

    /** Adds into {@code dqkv} and {@code dlagBias} (null for dot attention). */
    public void backward(MemorySegment dqkv, MemorySegment dlagBias, MemorySegment dout, MemorySegment out,
                         MemorySegment lse, MemorySegment qkv, MemorySegment lagBias, int B, int T) {
        backward(null, dqkv, dlagBias, dout, out, lse, qkv, lagBias, B, T);
    }

    /** {@link #backward} through the weights {@code drop} dropped in the forward (the same mask). */
    public void backward(Dropout.Mask drop, MemorySegment dqkv, MemorySegment dlagBias, MemorySegment dout, MemorySegment out,
                         MemorySegment lse, MemorySegment qkv, MemorySegment lagBias, int B, int T) {
        driver(choose(T, drop)).backward(drop, dqkv, dlagBias, dout, out, lse, qkv, lagBias, B, T);
    }

    private Impl choose(int T, Dropout.Mask drop) {
        Impl chosen = choose(T);
        if (drop == null || chosen == Impl.SCALAR || chosen == Impl.DIRECT) return chosen;
        if (impl != Impl.AUTO) throw new IllegalArgumentException(dropRefusal(impl));
        return Simd.ENABLED ? Impl.DIRECT : Impl.SCALAR;
    }

    /** Why an implementation cannot run with attention-weight dropout, and what to use. */
    public static String dropRefusal(Impl impl) {
        return "--impl " + impl.flag() + " does not drop attention weights (dropout): use --impl auto, direct or scalar";
    }

    /** The driver of {@code which}, made on first use. */
    private synchronized CorrelationDriver<?> driver(Impl which) {
        CorrelationDriver<?> d = drivers[which.ordinal()];
        if (d == null) {
            d = switch (which) {
                case SCALAR -> drive(Correlation.scalar(C, H, N));
                case DIRECT -> new CorrelationWorkspace(maxB, maxT, C, H, N).driver();
                case GEMM -> drive(new CorrelationGemm(backend, maxT, C, H, N));
                case FFT -> drive(CorrelationFft.impl(C, H, N));
                case AUTO -> throw new IllegalStateException("AUTO is resolved by choose()");
            };
            drivers[which.ordinal()] = d;
        }
        return d;
    }

    private <W> CorrelationDriver<W> drive(CorrelationImpl<W> impl) { return new CorrelationDriver<>(impl, maxB, maxT, H, N); }

    /** Frees the implementations' native buffers (the GEMM path's); the object is not used afterwards. */
    @Override
    public synchronized void close() {
        for (int i = 0; i < drivers.length; i++) {
            if (drivers[i] != null) drivers[i].close();
            drivers[i] = null;
        }
    }
}
