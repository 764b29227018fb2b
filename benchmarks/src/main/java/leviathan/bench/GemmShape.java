package leviathan.bench;

/**
 * One GEMM as the GEMM benchmarks name it, {@code <tA><tB>:MxNxK} (for example
 * {@code NT:768x384x128}): {@code C (M×N) = op(A)·op(B)} with {@code op(A)} M×K and {@code op(B)}
 * K×N, row-major and packed, so {@code lda}, {@code ldb} follow the transposes and {@code ldc = N}.
 */
record GemmShape(boolean tA, boolean tB, int M, int N, int K) {
    /** Parses {@code <tA><tB>:MxNxK}, each flag {@code N} or {@code T}. */
    static GemmShape parse(String shape) {
        String[] p = shape.split(":");
        String[] d = p[1].split("x");
        return new GemmShape(p[0].charAt(0) == 'T', p[0].charAt(1) == 'T',
                Integer.parseInt(d[0]), Integer.parseInt(d[1]), Integer.parseInt(d[2]));
    }

    /** Leading dimension of A as stored: M when transposed, else K. */
    int lda() { return tA ? M : K; }

    /** Leading dimension of B as stored: K when transposed, else N. */
    int ldb() { return tB ? K : N; }

    /** 2·M·N·K / 1e9: GFLOP of one product. */
    double gflop() { return 2.0 * M * N * K / 1e9; }
}
