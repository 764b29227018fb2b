// Multi-head correlation on the GPU: the kernels cuFFT does not provide (LEVIATHAN.md,
// "Multi-head correlation"; the Java side is leviathan.backend.cuda.CudaCorrelation).
// Compiled to PTX by native/build-ptx.sh and loaded through the driver API (cuModuleLoadData);
// every entry point is extern "C" so that its name in the PTX is the name below.
//
// Layouts (float32, row-major):
//   heads   (BH, T, D)      one head's q, k, v or g_o rows, bh = b*H + h
//   spectra (BH, T, F)      float2, F = D/2 + 1 bins (cuFFT R2C output)
//   pairs   (nbh, P, D|F)   per chunk of nbh heads: the causal pairs (i, j <= i) of rows
//                           [t0, T) in row order; pair (i, j) sits at tri(i) - tri(t0) + j,
//                           tri(i) = i(i+1)/2, so the pairs of one query row are contiguous.
// cuFFT transforms are unnormalised: a C2R result is D times the signal.
// Lag index t of shift s = t - (N-1)/2 lives at d = s mod D; conversely t = (d + (N-1)/2) mod D,
// a lag iff t < N.

typedef long long i64;

__device__ __forceinline__ i64 tri(i64 i) { return i * (i + 1) / 2; }

__device__ __forceinline__ int lagIndex(int d, int D, int N) { return (d + (N - 1) / 2) % D; }

// Reduction over the block (blockDim.x a power of two); every thread gets the result.
__device__ float blockReduce(float v, float* red, bool isMax) {
    red[threadIdx.x] = v;
    __syncthreads();
    for (int s = blockDim.x / 2; s > 0; s >>= 1) {
        if (threadIdx.x < s) {
            float o = red[threadIdx.x + s];
            red[threadIdx.x] = isMax ? fmaxf(red[threadIdx.x], o) : red[threadIdx.x] + o;
        }
        __syncthreads();
    }
    float r = red[0];
    __syncthreads();                                   // red is reused by the caller
    return r;
}

#define GRID_STRIDE(e, n) for (i64 e = blockIdx.x * (i64)blockDim.x + threadIdx.x; e < (n); e += (i64)gridDim.x * blockDim.x)

// dst (BH, T, D) = the head columns [col + h*D, col + h*D + D) of src (B, T, ld).
extern "C" __global__ void gather_heads(const float* __restrict__ src, float* __restrict__ dst,
                                        int B, int T, int H, int D, int ld, int col) {
    i64 n = (i64)B * H * T * D;
    GRID_STRIDE(e, n) {
        int d = (int)(e % D);
        i64 r = e / D;
        int t = (int)(r % T);
        i64 bh = r / T;
        int h = (int)(bh % H), b = (int)(bh / H);
        dst[e] = src[((i64)b * T + t) * ld + col + (i64)h * D + d];
    }
}

// dst (B, T, ld) head columns of rows [t0, t0 + R) of heads [bh0, bh0 + nbh) = (or +=) alpha * src (nbh, R, D).
extern "C" __global__ void scatter_heads(const float* __restrict__ src, float* __restrict__ dst,
                                         int bh0, int nbh, int R, int t0, int T, int H, int D, int ld, int col,
                                         float alpha, int accumulate) {
    i64 n = (i64)nbh * R * D;
    GRID_STRIDE(e, n) {
        int d = (int)(e % D);
        int r = (int)((e / D) % R);
        int bh = bh0 + (int)(e / ((i64)D * R));
        int b = bh / H, h = bh % H;
        i64 o = ((i64)b * T + t0 + r) * ld + col + (i64)h * D + d;
        float v = alpha * src[e];
        dst[o] = accumulate ? dst[o] + v : v;
    }
}

// X (nbh, P, F) = conj(A_i) * B_j for every pair (i, j) of the chunk; A, B are full (BH, T, F) spectra.
extern "C" __global__ void cross_spectrum(const float2* __restrict__ A, const float2* __restrict__ Bs,
                                          float2* __restrict__ X, const int* __restrict__ pi, const int* __restrict__ pj,
                                          int bh0, int nbh, i64 P, int T, int F) {
    i64 n = (i64)nbh * P * F;
    GRID_STRIDE(e, n) {
        int f = (int)(e % F);
        i64 p = (e / F) % P;
        int bh = bh0 + (int)(e / ((i64)F * P));
        float2 a = A[((i64)bh * T + pi[p]) * F + f];
        float2 b = Bs[((i64)bh * T + pj[p]) * F + f];
        X[e] = make_float2(a.x * b.x + a.y * b.y, a.x * b.y - a.y * b.x);
    }
}

// One block per query row (bhl, r), i = t0 + r. In: S holds D * (q_i . S_t k_j) for the row's pairs.
// Out: S holds p[i, j, t] at d = t's shift mod D (0 on other d); lse[bh, i] = log-sum-exp.
// blockDim.x is a power of two and a multiple of D, so each thread keeps one d for the whole row.
extern "C" __global__ void softmax_forward(float* __restrict__ S, float* __restrict__ lse, const float* __restrict__ bias,
                                           int bh0, int R, int t0, i64 P, int T, int H, int D, int N, float scaleD) {
    extern __shared__ float red[];
    int bhl = blockIdx.x / R, i = t0 + blockIdx.x % R, bh = bh0 + bhl, h = bh % H;
    float* row = S + ((i64)bhl * P + tri(i) - tri(t0)) * D;
    i64 n = (i64)(i + 1) * D;
    int t = lagIndex(threadIdx.x % D, D, N);
    bool live = t < N;
    float b = (live && bias != nullptr) ? bias[h * N + t] : 0.f;
    float m = -INFINITY;                                               // pass 1: max
    if (live) for (i64 e = threadIdx.x; e < n; e += blockDim.x) m = fmaxf(m, row[e] * scaleD + b);
    m = blockReduce(m, red, true);
    float s = 0.f;                                                     // pass 2: sum of exp
    if (live) for (i64 e = threadIdx.x; e < n; e += blockDim.x) s += expf(row[e] * scaleD + b - m);
    s = blockReduce(s, red, false);
    float l = m + logf(s);
    if (threadIdx.x == 0) lse[(i64)bh * T + i] = l;
    for (i64 e = threadIdx.x; e < n; e += blockDim.x) {                // pass 3: p
        row[e] = live ? expf(row[e] * scaleD + b - l) : 0.f;
    }
}

// O (nbh, R, F): O[i] = sum_{j <= i} conj(Pw[pair(i, j)]) * V[bh, j]   (correlation in frequency).
extern "C" __global__ void mac_rows(const float2* __restrict__ Pw, const float2* __restrict__ V, float2* __restrict__ O,
                                    int bh0, int nbh, int R, int t0, i64 P, int T, int F) {
    i64 n = (i64)nbh * R * F;
    GRID_STRIDE(e, n) {
        int f = (int)(e % F);
        int r = (int)((e / F) % R), i = t0 + r;
        int bhl = (int)(e / ((i64)F * R)), bh = bh0 + bhl;
        const float2* p = Pw + ((i64)bhl * P + tri(i) - tri(t0)) * F + f;
        const float2* v = V + (i64)bh * T * F + f;
        float ar = 0.f, ai = 0.f;
        for (int j = 0; j <= i; j++) {
            float2 x = p[(i64)j * F], y = v[(i64)j * F];
            ar += x.x * y.x + x.y * y.y;
            ai += x.x * y.y - x.y * y.x;
        }
        O[e] = make_float2(ar, ai);
    }
}

// Out (BH, T, F) rows of heads [bh0, bh0 + nbh): Out[j] = sum_{i >= j} Aw[pair(i, j)] * Bs[bh, i]
// (convolution in frequency: the adjoint shifts). Pairs start at t0 = 0.
extern "C" __global__ void mac_cols(const float2* __restrict__ Aw, const float2* __restrict__ Bs, float2* __restrict__ Out,
                                    int bh0, int nbh, i64 P, int T, int F) {
    i64 n = (i64)nbh * T * F;
    GRID_STRIDE(e, n) {
        int f = (int)(e % F);
        int j = (int)((e / F) % T);
        int bhl = (int)(e / ((i64)F * T)), bh = bh0 + bhl;
        const float2* a = Aw + (i64)bhl * P * F + f;
        const float2* b = Bs + (i64)bh * T * F + f;
        float ar = 0.f, ai = 0.f;
        for (int i = j; i < T; i++) {
            float2 x = a[(tri(i) + j) * F], y = b[(i64)i * F];
            ar += x.x * y.x - x.y * y.y;
            ai += x.x * y.y + x.y * y.x;
        }
        Out[((i64)bh * T + j) * F + f] = make_float2(ar, ai);
    }
}

// rowdot (BH, T) = g_o_i . o_i, the softmax row term (sum_{j,t} p g_p = g_o . o).
extern "C" __global__ void row_dot(const float* __restrict__ dout, const float* __restrict__ out, float* __restrict__ rowdot,
                                   int B, int T, int H, int D) {
    i64 n = (i64)B * H * T;
    GRID_STRIDE(e, n) {
        int t = (int)(e % T);
        i64 bh = e / T;
        int h = (int)(bh % H), b = (int)(bh / H);
        i64 o = ((i64)b * T + t) * H * D + (i64)h * D;
        float s = 0.f;
        for (int d = 0; d < D; d++) s += dout[o + d] * out[o + d];
        rowdot[e] = s;
    }
}

// One block per query row of a backward chunk (t0 = 0). In: S = D * scores, G = D * g_p of the row's pairs.
// Out: S = p, G = g_s = p (g_p - g_o.o) on lag positions (0 elsewhere); rowBias (BH, T, N) = sum_j g_s.
extern "C" __global__ void softmax_backward(float* __restrict__ S, float* __restrict__ G, const float* __restrict__ lse,
                                            const float* __restrict__ rowdot, const float* __restrict__ bias,
                                            float* __restrict__ rowBias, int bh0, i64 P, int T, int H, int D, int N,
                                            float scaleD, float invD) {
    extern __shared__ float red[];
    int bhl = blockIdx.x / T, i = blockIdx.x % T, bh = bh0 + bhl, h = bh % H;
    i64 base = ((i64)bhl * P + tri(i)) * D, n = (i64)(i + 1) * D;
    int t = lagIndex(threadIdx.x % D, D, N);
    bool live = t < N;
    float b = (live && bias != nullptr) ? bias[h * N + t] : 0.f;
    float l = lse[(i64)bh * T + i], rd = rowdot[(i64)bh * T + i];
    float acc = 0.f;
    for (i64 e = threadIdx.x; e < n; e += blockDim.x) {
        float p = 0.f, gs = 0.f;
        if (live) {
            p = expf(S[base + e] * scaleD + b - l);
            gs = p * (G[base + e] * invD - rd);
        }
        S[base + e] = p;
        G[base + e] = gs;
        acc += gs;
    }
    red[threadIdx.x] = acc;                                            // threads k, k + D, ... share d = k
    __syncthreads();
    if (threadIdx.x < D) {
        float s = 0.f;
        for (int k = threadIdx.x; k < blockDim.x; k += D) s += red[k];
        int tt = lagIndex(threadIdx.x, D, N);
        if (tt < N) rowBias[((i64)bh * T + i) * N + tt] = s;
    }
}

// One block per (h, t): dbias[h, t] += sum over b and i of rowBias[b*H + h, i, t].
extern "C" __global__ void bias_reduce(const float* __restrict__ rowBias, float* __restrict__ dbias, int B, int T, int H, int N) {
    extern __shared__ float red[];
    int h = blockIdx.x / N, t = blockIdx.x % N;
    float s = 0.f;
    for (i64 k = threadIdx.x; k < (i64)B * T; k += blockDim.x) {
        i64 b = k / T, i = k % T;
        s += rowBias[((b * H + h) * T + i) * N + t];
    }
    s = blockReduce(s, red, false);
    if (threadIdx.x == 0) dbias[h * N + t] += s;
}
