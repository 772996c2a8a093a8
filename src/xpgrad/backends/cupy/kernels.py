"""CUDA C source of the fused kernels of the ``cuda`` family, as one string.

This module imports nothing, so the source can be compiled and checked
(``nvcc --ptx``, see ``tests/backends/test_cupy.py``) where CuPy is not
installed. At run time ``fused.py`` compiles it with NVRTC (``cupy.RawModule``).

Each kernel reduces one row of the last axis per thread block (rows of a
C-contiguous array, ``n`` elements each), with the block size a multiple of 32.
Like the generic rules, they shift by the row maximum (replaced by 0 when it is
not finite), so logits of ±1e4 neither overflow nor lose precision, and a NaN
anywhere in a row makes the whole row NaN.
"""

__all__ = ["SOURCE", "ENTRIES", "entry"]

# (op, dtype) -> name of the extern "C" kernel in SOURCE
ENTRIES = {(op, dtype): f"xg_{op}_{dtype}" for op in ("softmax", "log_softmax", "logsumexp")
           for dtype in ("float32", "float64")}


def entry(op: str, dtype: str) -> str:
    """The kernel name for ``op`` on arrays of ``dtype`` (``"float32"`` or ``"float64"``)."""
    return ENTRIES[(op, dtype)]


SOURCE = r"""
// Self-contained, no headers: NVRTC compiles it as it is.

template <typename T> __device__ __forceinline__ T xg_neg_inf();
template <> __device__ __forceinline__ float xg_neg_inf<float>() { return __int_as_float(0xff800000); }
template <> __device__ __forceinline__ double xg_neg_inf<double>() {
    return __longlong_as_double(0xfff0000000000000LL);
}

__device__ __forceinline__ float xg_exp(float v) { return expf(v); }
__device__ __forceinline__ double xg_exp(double v) { return exp(v); }
__device__ __forceinline__ float xg_log(float v) { return logf(v); }
__device__ __forceinline__ double xg_log(double v) { return log(v); }

template <typename T> struct XgMax {
    __device__ static T init() { return xg_neg_inf<T>(); }
    __device__ T operator()(T a, T b) const { return (a > b || a != a) ? a : b; }  // NaN wins, as xp.max
};
template <typename T> struct XgSum {
    __device__ static T init() { return T(0); }
    __device__ T operator()(T a, T b) const { return a + b; }
};

// Reduce v over the thread block; every thread gets the result.
template <typename T, typename F>
__device__ __forceinline__ T xg_block_reduce(T v, F f) {
    __shared__ T partial[32];
    const unsigned lane = threadIdx.x & 31u, warp = threadIdx.x >> 5;
    for (int offset = 16; offset > 0; offset >>= 1)
        v = f(v, __shfl_down_sync(0xffffffffu, v, offset));
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < ((blockDim.x + 31u) >> 5) ? partial[lane] : F::init();
        for (int offset = 16; offset > 0; offset >>= 1)
            v = f(v, __shfl_down_sync(0xffffffffu, v, offset));
        if (lane == 0) partial[0] = v;
    }
    __syncthreads();
    v = partial[0];
    __syncthreads();  // partial[] may be reused by the next reduction
    return v;
}

// The row's shift: its maximum, or 0 when that is not finite (all -inf, an inf, a NaN).
template <typename T>
__device__ __forceinline__ T xg_row_shift(const T* x, long long n) {
    T m = XgMax<T>::init();
    for (long long i = threadIdx.x; i < n; i += blockDim.x) m = XgMax<T>()(m, x[i]);
    m = xg_block_reduce(m, XgMax<T>());
    return isfinite(m) ? m : T(0);
}

template <typename T>
__device__ __forceinline__ T xg_row_sum_exp(const T* x, long long n, T m) {
    T s = T(0);
    for (long long i = threadIdx.x; i < n; i += blockDim.x) s += xg_exp(x[i] - m);
    return xg_block_reduce(s, XgSum<T>());
}

// softmax: y = exp(x - m) / sum exp(x - m)
template <typename T>
__device__ void xg_softmax_rows(const T* x, T* y, long long n) {
    x += (long long)blockIdx.x * n;
    y += (long long)blockIdx.x * n;
    const T m = xg_row_shift(x, n);
    const T s = xg_row_sum_exp(x, n, m);
    for (long long i = threadIdx.x; i < n; i += blockDim.x) y[i] = xg_exp(x[i] - m) / s;
}

// log_softmax: y = (x - m) - log sum exp(x - m)
template <typename T>
__device__ void xg_log_softmax_rows(const T* x, T* y, long long n) {
    x += (long long)blockIdx.x * n;
    y += (long long)blockIdx.x * n;
    const T m = xg_row_shift(x, n);
    const T ls = xg_log(xg_row_sum_exp(x, n, m));
    for (long long i = threadIdx.x; i < n; i += blockDim.x) y[i] = (x[i] - m) - ls;
}

// logsumexp: out = log sum exp(x - m) + m   (log 0 = -inf when the whole row is -inf)
template <typename T>
__device__ void xg_logsumexp_rows(const T* x, T* out, long long n) {
    x += (long long)blockIdx.x * n;
    const T m = xg_row_shift(x, n);
    const T s = xg_row_sum_exp(x, n, m);
    if (threadIdx.x == 0) out[blockIdx.x] = xg_log(s) + m;
}

extern "C" {
__global__ void xg_softmax_float32(const float* x, float* y, long long n) { xg_softmax_rows(x, y, n); }
__global__ void xg_softmax_float64(const double* x, double* y, long long n) { xg_softmax_rows(x, y, n); }
__global__ void xg_log_softmax_float32(const float* x, float* y, long long n) {
    xg_log_softmax_rows(x, y, n);
}
__global__ void xg_log_softmax_float64(const double* x, double* y, long long n) {
    xg_log_softmax_rows(x, y, n);
}
__global__ void xg_logsumexp_float32(const float* x, float* out, long long n) {
    xg_logsumexp_rows(x, out, n);
}
__global__ void xg_logsumexp_float64(const double* x, double* out, long long n) {
    xg_logsumexp_rows(x, out, n);
}
}
"""
