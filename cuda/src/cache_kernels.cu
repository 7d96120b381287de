#include "cache_kernels.cuh"

#include <algorithm>

#include <cuda_fp16.h>

#include "lexico/cuda/device.h"

namespace lexico::cuda::cache_detail {

namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t n) { return int((n + kThreads - 1) / kThreads); }

__global__ void append_kernel(const float* k, const float* v, int n, int groups, int row_len, __half* dst_k,
                              __half* dst_v, int64_t rows_per_group, int64_t row0, StepLengths lengths) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i < n) {
    lengths.visible[i] = int32_t(row0 + i + 1);
    if (lengths.fixed) lengths.fixed[i] = int32_t(lengths.fixed_value);
  }
  if (i >= int64_t(n) * groups * row_len) return;
  const int e = int(i % row_len);
  const int64_t tg = i / row_len;
  const int g = int(tg % groups), t = int(tg / groups);
  const size_t dst = (g * rows_per_group + row0 + t) * row_len + e;
  dst_k[dst] = __float2half_rn(k[i]);
  dst_v[dst] = __float2half_rn(v[i]);
}

template <typename S, typename D, typename Convert>
__global__ void copy_kernel(const S* src, RowBlock s, D* dst, RowBlock d, int64_t rows, int row_len,
                            int64_t total, Convert convert) {
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (i >= total) return;
  const int e = int(i % row_len);
  const int64_t gr = i / row_len;
  const int64_t r = gr % rows, g = gr / rows;
  dst[(g * d.rows_per_group + d.row0 + r) * row_len + e] =
      convert(src[(g * s.rows_per_group + s.row0 + r) * row_len + e]);
}

struct Same {
  template <typename T>
  __device__ T operator()(T x) const { return x; }
};
struct HalfToFloat {
  __device__ float operator()(uint16_t bits) const { return __half2float(__ushort_as_half(bits)); }
};

template <typename S, typename D, typename Convert>
void launch_copy(const S* src, RowBlock s, D* dst, RowBlock d, int groups, int64_t rows, int row_len,
                 cudaStream_t stream, Convert convert) {
  const int64_t total = int64_t(groups) * rows * row_len;
  if (total == 0) return;
  copy_kernel<<<blocks_for(total), kThreads, 0, stream>>>(src, s, dst, d, rows, row_len, total, convert);
  LEXICO_CUDA_CHECK_LAUNCH();
}

}  // namespace

void append_step(const float* k, const float* v, int n, int groups, int row_len, uint16_t* dst_k, uint16_t* dst_v,
                 int64_t rows_per_group, int64_t row0, StepLengths lengths, cudaStream_t stream) {
  const int64_t total = std::max<int64_t>(int64_t(n) * groups * row_len, n);
  append_kernel<<<blocks_for(total), kThreads, 0, stream>>>(k, v, n, groups, row_len, reinterpret_cast<__half*>(dst_k),
                                                            reinterpret_cast<__half*>(dst_v), rows_per_group, row0,
                                                            lengths);
  LEXICO_CUDA_CHECK_LAUNCH();
}

void copy_rows(const uint16_t* src, RowBlock s, uint16_t* dst, RowBlock d, int groups, int64_t rows, int row_len,
               cudaStream_t stream) {
  launch_copy(src, s, dst, d, groups, rows, row_len, stream, Same{});
}

void copy_rows(const uint8_t* src, RowBlock s, uint8_t* dst, RowBlock d, int groups, int64_t rows, int row_len,
               cudaStream_t stream) {
  launch_copy(src, s, dst, d, groups, rows, row_len, stream, Same{});
}

void copy_rows_to_float(const uint16_t* src, RowBlock s, float* dst, RowBlock d, int groups, int64_t rows,
                        int row_len, cudaStream_t stream) {
  launch_copy(src, s, dst, d, groups, rows, row_len, stream, HalfToFloat{});
}

}  // namespace lexico::cuda::cache_detail
