#include "model_kernels.cuh"

#include <cuda_fp16.h>

#include "common.cuh"
#include "lexico/cuda/device.h"
#include "lexico/error.h"

namespace lexico::cuda::model_detail {

namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t n) { return int((n + kThreads - 1) / kThreads); }

__device__ __forceinline__ float load(const float* p, size_t i) { return p[i]; }
__device__ __forceinline__ float load(const uint16_t* p, size_t i) { return __half2float(__ushort_as_half(p[i])); }
__device__ __forceinline__ void store(float* p, size_t i, float v) { p[i] = v; }
__device__ __forceinline__ void store(uint16_t* p, size_t i, float v) { p[i] = __half_as_ushort(__float2half_rn(v)); }

template <typename T>
__global__ void embed_kernel(const int32_t* tokens, int n, const T* table, int dim, float* x) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= int64_t(n) * dim) return;
  const int t = int(i / dim), e = int(i % dim);
  x[i] = load(table, size_t(tokens[t]) * dim + e);
}

template <typename T>
__global__ void rms_norm_kernel(const float* x, const float* weight, float eps, int dim, T* y) {
  dev::release_next_grid();  // an ordinary launch: the GEMV after it may start loading its weights
  __shared__ float partial[kThreads / 32];
  const float* row = x + size_t(blockIdx.x) * dim;
  float ss = 0.0f;
  for (int e = threadIdx.x; e < dim; e += blockDim.x) ss += row[e] * row[e];
  for (int o = 16; o > 0; o >>= 1) ss += __shfl_xor_sync(0xffffffffu, ss, o);
  if ((threadIdx.x & 31) == 0) partial[threadIdx.x >> 5] = ss;
  __syncthreads();
  float total = 0.0f;
  for (int w = 0; w < kThreads / 32; ++w) total += partial[w];
  const float inv = 1.0f / sqrtf(total / float(dim) + eps);
  for (int e = threadIdx.x; e < dim; e += blockDim.x)
    store(y, size_t(blockIdx.x) * dim + e, row[e] * weight[e] * inv);
}

// One thread per (token, head slot, i < m/2): the pair (i, i + m/2).
__global__ void split_qkv_rope_kernel(const float* qkv, const float* bias, const float* cos, const float* sin, int n,
                                      int n_heads, int n_kv, int m, float* q, float* k, float* v, float* k_pre) {
  dev::release_next_grid();  // the cache's append is a chained launch (common.cuh)
  const int half = m / 2, slots = n_heads + 2 * n_kv;
  const int64_t id = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (id >= int64_t(n) * slots * half) return;
  const int i = int(id % half);
  const int64_t th = id / half;
  const int slot = int(th % slots), t = int(th / slots);
  const size_t src = size_t(t) * slots * m + size_t(slot) * m;
  float x0 = qkv[src + i], x1 = qkv[src + i + half];
  if (bias) {
    x0 += bias[size_t(slot) * m + i];
    x1 += bias[size_t(slot) * m + i + half];
  }
  if (slot >= n_heads + n_kv) {  // values: no rotation
    float* dst = v + (size_t(t) * n_kv + (slot - n_heads - n_kv)) * m;
    dst[i] = x0;
    dst[i + half] = x1;
    return;
  }
  if (k_pre && slot >= n_heads) {
    float* pre = k_pre + (size_t(t) * n_kv + slot - n_heads) * m;
    pre[i] = x0;
    pre[i + half] = x1;
  }
  const float c = cos[size_t(t) * half + i], s = sin[size_t(t) * half + i];
  float* dst = slot < n_heads ? q + (size_t(t) * n_heads + slot) * m : k + (size_t(t) * n_kv + slot - n_heads) * m;
  dst[i] = x0 * c - x1 * s;
  dst[i + half] = x1 * c + x0 * s;
}

template <typename T>
__global__ void silu_mul_kernel(const float* gu, int rows, int hidden, T* out) {
  dev::release_next_grid();  // as rms_norm_kernel
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= int64_t(rows) * hidden) return;
  const int64_t t = i / hidden, e = i % hidden;
  const float g = gu[t * 2 * hidden + e], u = gu[t * 2 * hidden + hidden + e];
  store(out, size_t(i), g / (1.0f + expf(-g)) * u);
}

__global__ void to_half_kernel(const float* x, size_t count, uint16_t* y) {
  dev::wait_prior_grid();  // a chained launch after the attention
  dev::release_next_grid();
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) y[i] = __half_as_ushort(__float2half_rn(x[i]));
}

// One warp a row: 16 bytes (8 halves) a lane per load, kGemvUnroll loads in
// flight. The first loads are issued before the chained launch's wait, so
// that they overlap the end of the kernel that writes x. Few registers (many
// warps an SM) and weight loads that bypass L1 (which keeps x) streamed the
// weights fastest of the variants measured (docs/benchmarks.md).
constexpr int kGemvUnroll = 4;

__device__ __forceinline__ uint4 load_streaming(const uint4* p) {
  uint4 v;
  asm volatile("ld.global.nc.L1::no_allocate.v4.u32 {%0,%1,%2,%3}, [%4];"
               : "=r"(v.x), "=r"(v.y), "=r"(v.z), "=r"(v.w)
               : "l"(p));
  return v;
}

__device__ __forceinline__ float dot8(uint4 w, uint4 x) {
  const __half2* wh = reinterpret_cast<const __half2*>(&w);
  const __half2* xh = reinterpret_cast<const __half2*>(&x);
  float acc = 0.0f;
#pragma unroll
  for (int i = 0; i < 4; ++i) {
    const float2 a = __half22float2(wh[i]), b = __half22float2(xh[i]);
    acc = fmaf(a.x, b.x, acc);
    acc = fmaf(a.y, b.y, acc);
  }
  return acc;
}

__global__ void __launch_bounds__(kThreads) gemv_kernel(const uint16_t* w, const uint16_t* x, int rows, int cols,
                                                        float* y, bool accumulate) {
  constexpr int kBatch = kGemvUnroll * 32;  // 16-byte words a warp loads at once
  const int lane = threadIdx.x & 31;
  const int row = blockIdx.x * (kThreads / 32) + (threadIdx.x >> 5);
  const uint4* wrow = reinterpret_cast<const uint4*>(w + size_t(min(row, rows - 1)) * cols);
  const uint4* xv = reinterpret_cast<const uint4*>(x);
  const int n16 = cols / 8;  // 16-byte words a row
  uint4 wv[kGemvUnroll];
  const auto load = [&](int base) {
#pragma unroll
    for (int u = 0; u < kGemvUnroll; ++u) {
      const int i = base + u * 32 + lane;
      wv[u] = i < n16 ? load_streaming(wrow + i) : make_uint4(0, 0, 0, 0);
    }
  };
  load(0);
  dev::wait_prior_grid();
  dev::release_next_grid();
  float acc = 0.0f;
  for (int base = 0;;) {
#pragma unroll
    for (int u = 0; u < kGemvUnroll; ++u) {
      const int i = base + u * 32 + lane;
      if (i < n16) acc += dot8(wv[u], __ldg(xv + i));
    }
    base += kBatch;
    if (base >= n16) break;
    load(base);
  }
  acc = dev::warp_sum(acc);
  if (lane == 0 && row < rows) y[row] = accumulate ? y[row] + acc : acc;
}

}  // namespace

void embed(const int32_t* tokens, int n, const float* table, int dim, float* x, cudaStream_t stream) {
  embed_kernel<<<blocks_for(int64_t(n) * dim), kThreads, 0, stream>>>(tokens, n, table, dim, x);
  LEXICO_CUDA_CHECK_LAUNCH();
}
void embed(const int32_t* tokens, int n, const uint16_t* table, int dim, float* x, cudaStream_t stream) {
  embed_kernel<<<blocks_for(int64_t(n) * dim), kThreads, 0, stream>>>(tokens, n, table, dim, x);
  LEXICO_CUDA_CHECK_LAUNCH();
}

void rms_norm(const float* x, const float* weight, float eps, int rows, int dim, float* y, cudaStream_t stream) {
  rms_norm_kernel<<<rows, kThreads, 0, stream>>>(x, weight, eps, dim, y);
  LEXICO_CUDA_CHECK_LAUNCH();
}
void rms_norm(const float* x, const float* weight, float eps, int rows, int dim, uint16_t* y, cudaStream_t stream) {
  rms_norm_kernel<<<rows, kThreads, 0, stream>>>(x, weight, eps, dim, y);
  LEXICO_CUDA_CHECK_LAUNCH();
}

void split_qkv_rope(const float* qkv, const float* bias, const float* cos, const float* sin, int n, int n_heads,
                    int n_kv_heads, int head_dim, float* q, float* k, float* v, float* k_pre, cudaStream_t stream) {
  const int64_t threads = int64_t(n) * (n_heads + 2 * n_kv_heads) * (head_dim / 2);
  split_qkv_rope_kernel<<<blocks_for(threads), kThreads, 0, stream>>>(qkv, bias, cos, sin, n, n_heads, n_kv_heads,
                                                                      head_dim, q, k, v, k_pre);
  LEXICO_CUDA_CHECK_LAUNCH();
}

void silu_mul(const float* gu, int rows, int hidden, float* out, cudaStream_t stream) {
  silu_mul_kernel<<<blocks_for(int64_t(rows) * hidden), kThreads, 0, stream>>>(gu, rows, hidden, out);
  LEXICO_CUDA_CHECK_LAUNCH();
}
void silu_mul(const float* gu, int rows, int hidden, uint16_t* out, cudaStream_t stream) {
  silu_mul_kernel<<<blocks_for(int64_t(rows) * hidden), kThreads, 0, stream>>>(gu, rows, hidden, out);
  LEXICO_CUDA_CHECK_LAUNCH();
}

void gemv(const uint16_t* w, int rows, int cols, const uint16_t* x, float* y, bool accumulate, cudaStream_t stream) {
  if (cols % 8 != 0) internal_error("gemv", "{} columns are not a multiple of 8", cols);
  constexpr int kRowsPerBlock = kThreads / 32;
  dev::launch_chained(gemv_kernel, dim3((rows + kRowsPerBlock - 1) / kRowsPerBlock), dim3(kThreads), 0, stream, w, x,
                      rows, cols, y, accumulate);
}

void to_half(const float* x, size_t count, uint16_t* y, cudaStream_t stream) {
  if (count == 0) return;
  dev::launch_chained(to_half_kernel, dim3(int((count + kThreads - 1) / kThreads)), dim3(kThreads), 0, stream, x,
                      count, y);
}

}  // namespace lexico::cuda::model_detail
