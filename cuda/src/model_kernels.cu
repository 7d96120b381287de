#include "model_kernels.cuh"

#include <cuda_fp16.h>

#include "common.cuh"
#include "lexico/cuda/device.h"

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
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= int64_t(rows) * hidden) return;
  const int64_t t = i / hidden, e = i % hidden;
  const float g = gu[t * 2 * hidden + e], u = gu[t * 2 * hidden + hidden + e];
  store(out, size_t(i), g / (1.0f + expf(-g)) * u);
}

__global__ void to_half_kernel(const float* x, size_t count, uint16_t* y) {
  dev::wait_prior_grid();  // a chained launch after the attention
  const size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < count) y[i] = __half_as_ushort(__float2half_rn(x[i]));
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

void to_half(const float* x, size_t count, uint16_t* y, cudaStream_t stream) {
  if (count == 0) return;
  dev::launch_chained(to_half_kernel, dim3(int((count + kThreads - 1) / kThreads)), dim3(kThreads), 0, stream, x,
                      count, y);
}

}  // namespace lexico::cuda::model_detail
