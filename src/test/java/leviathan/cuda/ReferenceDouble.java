package leviathan.cuda;

import java.lang.foreign.MemorySegment;
import java.lang.foreign.ValueLayout;
import leviathan.kernel.Correlation;

/**
 * LEVIATHAN.md's multi-head correlation in double precision, the yardstick of the GPU tests:
 * forward returns {out (B,T,C), lse (B,H,T)}, backward {dqkv (B,T,3C), dlagBias (H,N)} (fresh,
 * not added). Straight from the definition; O(B·H·T²·N·D).
 */
final class ReferenceDouble {
    private ReferenceDouble() {}

    private static final ValueLayout.OfFloat FL = ValueLayout.JAVA_FLOAT;

    static double[] read(MemorySegment s, long n) {
        double[] a = new double[(int) n];
        for (int i = 0; i < n; i++) a[i] = s.getAtIndex(FL, i);
        return a;
    }

    /** Scores s[j·N + t] of row i, or the probabilities when {@code lse} is given. */
    private static double[] row(double[] qkv, double[] bias, int b, int h, int i, int T, int C, int H, int N) {
        int D = C / H;
        double scale = 1 / Math.sqrt(D);
        double[] s = new double[(i + 1) * N];
        for (int j = 0; j <= i; j++) {
            for (int t = 0; t < N; t++) {
                int shift = Correlation.lag(t, N);
                double dot = 0;
                for (int d = 0; d < D; d++) {
                    dot += qkv[((b * T + i) * 3 * C) + h * D + d] * qkv[((b * T + j) * 3 * C) + C + h * D + Math.floorMod(d + shift, D)];
                }
                s[j * N + t] = dot * scale + (bias == null ? 0 : bias[h * N + t]);
            }
        }
        return s;
    }

    static double[][] forward(double[] qkv, double[] bias, int B, int T, int C, int H, int N) {
        int D = C / H;
        double[] out = new double[B * T * C], lse = new double[B * H * T];
        for (int b = 0; b < B; b++) for (int h = 0; h < H; h++) for (int i = 0; i < T; i++) {
            double[] s = row(qkv, bias, b, h, i, T, C, H, N);
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (double x : s) max = Math.max(max, x);
            for (double x : s) sum += Math.exp(x - max);
            double l = max + Math.log(sum);
            lse[(b * H + h) * T + i] = l;
            for (int j = 0; j <= i; j++) for (int t = 0; t < N; t++) {
                double p = Math.exp(s[j * N + t] - l);
                int shift = Correlation.lag(t, N);
                for (int d = 0; d < D; d++) {
                    out[(b * T + i) * C + h * D + d] += p * qkv[(b * T + j) * 3 * C + 2 * C + h * D + Math.floorMod(d + shift, D)];
                }
            }
        }
        return new double[][] {out, lse};
    }

    static double[][] backward(double[] dout, double[] qkv, double[] bias, int B, int T, int C, int H, int N) {
        int D = C / H;
        double scale = 1 / Math.sqrt(D);
        double[] out = forward(qkv, bias, B, T, C, H, N)[0];
        double[] dqkv = new double[B * T * 3 * C], db = new double[H * N];
        for (int b = 0; b < B; b++) for (int h = 0; h < H; h++) for (int i = 0; i < T; i++) {
            double[] s = row(qkv, bias, b, h, i, T, C, H, N);
            double max = Double.NEGATIVE_INFINITY, sum = 0;
            for (double x : s) max = Math.max(max, x);
            for (double x : s) sum += Math.exp(x - max);
            double l = max + Math.log(sum);
            int go = (b * T + i) * C + h * D, q = (b * T + i) * 3 * C + h * D;
            double rowDot = 0;
            for (int d = 0; d < D; d++) rowDot += dout[go + d] * out[go + d];
            for (int j = 0; j <= i; j++) for (int t = 0; t < N; t++) {
                int shift = Correlation.lag(t, N), k = (b * T + j) * 3 * C + C + h * D, v = k + C;
                double p = Math.exp(s[j * N + t] - l), gp = 0;
                for (int d = 0; d < D; d++) gp += dout[go + d] * qkv[v + Math.floorMod(d + shift, D)];
                double gs = p * (gp - rowDot);
                for (int d = 0; d < D; d++) {
                    int dd = Math.floorMod(d + shift, D);
                    dqkv[v + dd] += p * dout[go + d];
                    dqkv[q + d] += gs * scale * qkv[k + dd];
                    dqkv[k + dd] += gs * scale * qkv[q + d];
                }
                db[h * N + t] += gs;
            }
        }
        return new double[][] {dqkv, db};
    }

    /** max |got - ref| / max |ref| over the first ref.length elements of got. */
    static double relativeError(double[] ref, MemorySegment got) {
        double err = 0, mag = 1e-30;
        for (int i = 0; i < ref.length; i++) {
            double g = got.getAtIndex(FL, i);
            err = Double.isNaN(g) ? Double.POSITIVE_INFINITY : Math.max(err, Math.abs(g - ref[i]));
            mag = Math.max(mag, Math.abs(ref[i]));
        }
        return err / mag;
    }
}
