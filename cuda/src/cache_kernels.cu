#include "cache_kernels.cuh"

#include <algorithm>

#include <cuda_fp16.h>

#include "common.cuh"
#include "lexico/cuda/device.h"

namespace lexico::cuda::cache_detail {

namespace {

constexpr int kThreads = 256;

int blocks_for(int64_t n) { return int((n + kThreads - 1) / kThreads); }

// Where an append writes: row row0 + t of each group of rows_per_group rows.
struct RowDst {
  __half* k = nullptr;
  __half* v = nullptr;
  int64_t rows_per_group = 0, row0 = 0;
};

// Thread i of an append: the step's causal lengths (i < n), then element i of
// the new keys and values k, v [n][groups][row_len] rounded to FP16 into dst,
// and into `also` when it is given (the dense scratch).
__device__ __forceinline__ void append_element(int64_t i, const float* k, const float* v, int n, int groups,
                                               int row_len, const StepLengths& lengths, RowDst dst, RowDst also) {
  if (i < n) {
    lengths.visible[i] = int32_t(dst.row0 + i + 1);
    if (lengths.fixed) lengths.fixed[i] = int32_t(lengths.fixed_value);
    if (lengths.total) lengths.total[i] = int32_t(lengths.fixed_value + dst.row0 + i + 1);
  }
  if (i >= int64_t(n) * groups * row_len) return;
  const int e = int(i % row_len);
  const int64_t tg = i / row_len;
  const int g = int(tg % groups), t = int(tg / groups);
  const __half hk = __float2half_rn(k[i]), hv = __float2half_rn(v[i]);
  const size_t at = (g * dst.rows_per_group + dst.row0 + t) * row_len + e;
  dst.k[at] = hk;
  dst.v[at] = hv;
  if (also.k) {
    const size_t at_also = (g * also.rows_per_group + also.row0 + t) * row_len + e;
    also.k[at_also] = hk;
    also.v[at_also] = hv;
  }
}

__global__ void append_kernel(const float* k, const float* v, int n, int groups, int row_len, __half* dst_k,
                              __half* dst_v, int64_t rows_per_group, int64_t row0, StepLengths lengths) {
  dev::wait_prior_grid();  // a chained launch (common.cuh), as the attention after it
  dev::release_next_grid();
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  append_element(i, k, v, n, groups, row_len, lengths, {dst_k, dst_v, rows_per_group, row0}, {});
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

// Row r of the dense scratch (keys or values, by `warp`), one warp a row;
// lane l holds elements [E·l, E·l + E) of the m = 32·E. Rows below
// `compressed` are reconstructed from their codes, the next `buffered` copied
// from the buffer.
template <int E>
__device__ __forceinline__ void densify_row(const CodedLayer& a, int groups, int64_t compressed, int64_t buffered,
                                            int s, __half* out_k, __half* out_v, int64_t out_rows, int64_t warp,
                                            int lane) {
  constexpr int M = 32 * E;
  const int64_t per_group = compressed + buffered, per_kind = per_group * groups;
  if (warp >= 2 * per_kind) return;  // warp-uniform
  const int kind = int(warp / per_kind);
  const int64_t g = (warp % per_kind) / per_group, r = warp % per_group;
  __half* dst = (kind == 0 ? out_k : out_v) + (g * out_rows + r) * M + lane * E;
  if (r >= compressed) {
    const __half* src =
        reinterpret_cast<const __half*>(a.buffer[kind]) + (g * a.buffer_rows + r - compressed) * M + lane * E;
#pragma unroll
    for (int e = 0; e < E; e += 2) *reinterpret_cast<__half2*>(dst + e) = *reinterpret_cast<const __half2*>(src + e);
    return;
  }
  const size_t row = size_t(g * a.code_rows + r) * s;
  const uint16_t* idx = a.indices[kind] + row;
  const uint8_t* code = a.codes[kind] + row;
  const uint16_t* dict = a.dictionary[kind] + lane * E;
  float acc[E] = {};
  for (int i0 = 0; i0 < s; i0 += 32) {
    const int n = min(32, s - i0);
    const int my_atom = lane < n ? idx[i0 + lane] : 0;
    const float my_c = lane < n ? dev::fp8_decode(code[i0 + lane]) : 0.0f;
    for (int i = 0; i < n; ++i) {
      const int j = __shfl_sync(dev::kFull, my_atom, i);
      const float c = __shfl_sync(dev::kFull, my_c, i);
      float v[E];
      dev::load_halves(dict + size_t(j) * M, v);
#pragma unroll
      for (int e = 0; e < E; ++e) acc[e] = fmaf(c, v[e], acc[e]);
    }
  }
#pragma unroll
  for (int e = 0; e < E; e += 2) *reinterpret_cast<__half2*>(dst + e) = __floats2half2_rn(acc[e], acc[e + 1]);
}

template <int E>
__global__ void densify_kernel(const CodedLayer a, int groups, int64_t compressed, int64_t buffered, int s,
                               __half* out_k, __half* out_v, int64_t out_rows) {
  dev::wait_prior_grid();  // a chained launch (common.cuh), as the attention after it
  dev::release_next_grid();
  const int64_t warp = (int64_t(blockIdx.x) * blockDim.x + threadIdx.x) >> 5;
  densify_row<E>(a, groups, compressed, buffered, s, out_k, out_v, out_rows, warp, threadIdx.x & 31);
}

// The first append_blocks blocks append the step's rows (to the buffer and
// to the scratch, after the compressed and earlier buffer rows); the others
// densify the compressed rows and the row0 earlier buffer rows.
template <int E>
__global__ void append_densify_kernel(const float* k, const float* v, int n, int groups, __half* buffer_k,
                                      __half* buffer_v, int64_t row0, StepLengths lengths, const CodedLayer a,
                                      int64_t compressed, int s, __half* out_k, __half* out_v, int64_t out_rows,
                                      int append_blocks) {
  constexpr int M = 32 * E;
  dev::wait_prior_grid();  // a chained launch (common.cuh), as the attention after it
  dev::release_next_grid();
  if (int(blockIdx.x) >= append_blocks) {  // block-uniform
    const int64_t warp = (int64_t(blockIdx.x - append_blocks) * blockDim.x + threadIdx.x) >> 5;
    densify_row<E>(a, groups, compressed, row0, s, out_k, out_v, out_rows, warp, threadIdx.x & 31);
    return;
  }
  const int64_t i = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  append_element(i, k, v, n, groups, M, lengths, {buffer_k, buffer_v, a.buffer_rows, row0},
                 {out_k, out_v, out_rows, compressed + row0});
}

}  // namespace

void densify(const CodedLayer& layer, int groups, int64_t compressed, int64_t buffered, int s, int m,
             uint16_t* out_keys, uint16_t* out_values, int64_t out_rows, cudaStream_t stream) {
  const int64_t threads = 2 * int64_t(groups) * (compressed + buffered) * 32;
  if (threads == 0) return;
  auto* k = reinterpret_cast<__half*>(out_keys);
  auto* v = reinterpret_cast<__half*>(out_values);
  const int blocks = blocks_for(threads);
  if (m == 64)
    dev::launch_chained(densify_kernel<2>, dim3(blocks), dim3(kThreads), 0, stream, layer, groups, compressed, buffered,
                        s, k, v, out_rows);
  else  // 128: the attention kernels' shape check admits no other
    dev::launch_chained(densify_kernel<4>, dim3(blocks), dim3(kThreads), 0, stream, layer, groups, compressed, buffered,
                        s, k, v, out_rows);
}

void append_densify(const float* k, const float* v, int n, const CodedLayer& layer, uint16_t* buffer_k,
                    uint16_t* buffer_v, int groups, int64_t compressed, int64_t row0, int s, int m,
                    StepLengths lengths, uint16_t* out_keys, uint16_t* out_values, int64_t out_rows,
                    cudaStream_t stream) {
  const int append_blocks = blocks_for(std::max<int64_t>(int64_t(n) * groups * m, n));
  const int blocks = append_blocks + blocks_for(2 * int64_t(groups) * (compressed + row0) * 32);
  auto* bk = reinterpret_cast<__half*>(buffer_k);
  auto* bv = reinterpret_cast<__half*>(buffer_v);
  auto* ok = reinterpret_cast<__half*>(out_keys);
  auto* ov = reinterpret_cast<__half*>(out_values);
  if (m == 64)
    dev::launch_chained(append_densify_kernel<2>, dim3(blocks), dim3(kThreads), 0, stream, k, v, n, groups, bk, bv,
                        row0, lengths, layer, compressed, s, ok, ov, out_rows, append_blocks);
  else  // 128: the attention kernels' shape check admits no other
    dev::launch_chained(append_densify_kernel<4>, dim3(blocks), dim3(kThreads), 0, stream, k, v, n, groups, bk, bv,
                        row0, lengths, layer, compressed, s, ok, ov, out_rows, append_blocks);
}

void append_step(const float* k, const float* v, int n, int groups, int row_len, uint16_t* dst_k, uint16_t* dst_v,
                 int64_t rows_per_group, int64_t row0, StepLengths lengths, cudaStream_t stream) {
  const int64_t total = std::max<int64_t>(int64_t(n) * groups * row_len, n);
  dev::launch_chained(append_kernel, dim3(blocks_for(total)), dim3(kThreads), 0, stream, k, v, n, groups, row_len,
                      reinterpret_cast<__half*>(dst_k), reinterpret_cast<__half*>(dst_v), rows_per_group, row0,
                      lengths);
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
