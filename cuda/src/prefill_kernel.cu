// Causal attention of many queries of one sequence (a prompt's step) over
// FP16 keys and values, on tensor cores: the multi-query twin of the dense
// flash-decoding kernel (attention_kernel.cu), which reads every key and
// value row once per query.
//
// A block: 64 queries of one head (4 warps × 16 rows); per tile of 64 key
// rows (cp.async into shared memory): S = Q·Kᵀ (mma m16n8k16), the rows'
// masks (query i sees rows < length[i]), an online softmax in base 2, and
// O += P·V (mma, the accumulators in registers). Q and P enter the FP16
// products as hi + lo pairs (x ≈ hi + lo, both FP16: ~22 bits), so the result
// keeps the float precision of the flash-decoding kernel, whose only rounding
// is the FP16 storage of K and V; the products cost twice the MMAs, still a
// fraction of the CUDA-core kernel's time.
#include <cfloat>

#include <cuda_fp16.h>

#include "attention_kernel.cuh"
#include "common.cuh"

namespace lexico::cuda::attn_detail {

namespace {

constexpr int kQueryRows = 64;  // queries a block: 4 warps × 16
constexpr int kKeyRows = 64;    // key and value rows a tile
constexpr int kThreads = 128;
constexpr float kLog2e = 1.4426950408889634f;

// (x0, x1) ≈ hi + lo, each a pair of FP16 values.
__device__ __forceinline__ void split_pair(float x0, float x1, uint32_t& hi, uint32_t& lo) {
  const __half2 h = __floats2half2_rn(x0, x1);
  const float2 r = __half22float2(h);
  hi = dev::half2_bits(h);
  lo = dev::half2_bits(__floats2half2_rn(x0 - r.x, x1 - r.y));
}

template <int M>
__global__ void __launch_bounds__(kThreads) prefill_kernel(const DenseArgs a) {
  constexpr int RH = M + 8;  // padded row (halves): the 8 rows of an ldmatrix fall in distinct banks
  constexpr int KC = M / 16;  // k chunks of a query row
  __shared__ __align__(16) __half k_s[kKeyRows][RH];
  __shared__ __align__(16) __half v_s[kKeyRows][RH];
  __shared__ int rows_needed;
  const int tid = threadIdx.x, lane = tid & 31, warp = tid >> 5, g = lane >> 2, t = lane & 3;
  const int h = blockIdx.y, kv = h / a.group;
  const int r0 = blockIdx.x * kQueryRows + warp * 16 + g, r1 = r0 + 8;  // this thread's two query rows
  if (tid == 0) rows_needed = 0;
  dev::wait_prior_grid();
  dev::release_next_grid();
  __syncthreads();
  const int len0 = r0 < a.batch ? a.length[r0] : 0, len1 = r1 < a.batch ? a.length[r1] : 0;
  if (t == 0) atomicMax(&rows_needed, max(len0, len1));

  // Q as the A operand of each k chunk (hi and lo), scaled to base-2 scores.
  const float scale = a.scale * kLog2e;
  uint32_t qh[KC][4], ql[KC][4];
  {
    const float* q0 = a.q + (size_t(r0) * a.n_heads + h) * M;
    const float* q1 = a.q + (size_t(r1) * a.n_heads + h) * M;
    const auto load = [&](const float* q, bool in, int c) {
      const float2 x = in ? *reinterpret_cast<const float2*>(q + c) : make_float2(0.f, 0.f);
      return make_float2(x.x * scale, x.y * scale);
    };
#pragma unroll
    for (int kk = 0; kk < KC; ++kk) {
      const int c = kk * 16 + 2 * t;
      const float2 x0 = load(q0, r0 < a.batch, c), x1 = load(q1, r1 < a.batch, c);
      const float2 x2 = load(q0, r0 < a.batch, c + 8), x3 = load(q1, r1 < a.batch, c + 8);
      split_pair(x0.x, x0.y, qh[kk][0], ql[kk][0]);
      split_pair(x1.x, x1.y, qh[kk][1], ql[kk][1]);
      split_pair(x2.x, x2.y, qh[kk][2], ql[kk][2]);
      split_pair(x3.x, x3.y, qh[kk][3], ql[kk][3]);
    }
  }
  __syncthreads();
  const int64_t rows = rows_needed;
  const __half* kbase = reinterpret_cast<const __half*>(a.k) + size_t(kv) * a.capacity * M;
  const __half* vbase = reinterpret_cast<const __half*>(a.v) + size_t(kv) * a.capacity * M;

  float o[M / 8][4] = {};
  float row_max[2] = {-INFINITY, -INFINITY}, row_sum[2] = {0.0f, 0.0f};
  const int mi = lane >> 3, mr = lane & 7;  // ldmatrix: the matrix and row this lane addresses
  for (int64_t j0 = 0; j0 < rows; j0 += kKeyRows) {
    for (int i = tid; i < kKeyRows * M / 8; i += kThreads) {
      const int r = i / (M / 8), c = i % (M / 8) * 8;
      if (j0 + r < rows) {
        dev::cp_async16(&k_s[r][c], kbase + size_t(j0 + r) * M + c);
        dev::cp_async16(&v_s[r][c], vbase + size_t(j0 + r) * M + c);
      } else {  // zeros, not stale rows: a masked weight is 0, and 0·NaN would not be
        *reinterpret_cast<uint4*>(&k_s[r][c]) = make_uint4(0, 0, 0, 0);
        *reinterpret_cast<uint4*>(&v_s[r][c]) = make_uint4(0, 0, 0, 0);
      }
    }
    dev::cp_async_commit();
    dev::cp_async_wait_all();
    __syncthreads();

    // S (16 rows × 64 keys a warp) = Q·Kᵀ: 8 n8 tiles.
    float s[8][4] = {};
#pragma unroll
    for (int kk = 0; kk < KC; ++kk)
#pragma unroll
      for (int jp = 0; jp < 4; ++jp) {
        uint32_t b[4];
        dev::ldmatrix_x4(b, &k_s[(2 * jp + (mi >> 1)) * 8 + mr][kk * 16 + (mi & 1) * 8]);
        dev::mma_16816(s[2 * jp], qh[kk], b[0], b[1]);
        dev::mma_16816(s[2 * jp], ql[kk], b[0], b[1]);
        dev::mma_16816(s[2 * jp + 1], qh[kk], b[2], b[3]);
        dev::mma_16816(s[2 * jp + 1], ql[kk], b[2], b[3]);
      }
    // Masks and the online softmax; registers e < 2 are row r0's, e ≥ 2 row r1's.
    float tile_max[2] = {-INFINITY, -INFINITY};
#pragma unroll
    for (int j = 0; j < 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const int64_t col = j0 + j * 8 + 2 * t + (e & 1);
        if (col >= (e < 2 ? len0 : len1)) s[j][e] = -INFINITY;
        tile_max[e >> 1] = fmaxf(tile_max[e >> 1], s[j][e]);
      }
    float keep[2];
#pragma unroll
    for (int i = 0; i < 2; ++i) {
      tile_max[i] = fmaxf(tile_max[i], __shfl_xor_sync(dev::kFull, tile_max[i], 1));
      tile_max[i] = fmaxf(tile_max[i], __shfl_xor_sync(dev::kFull, tile_max[i], 2));
      const float nm = fmaxf(row_max[i], tile_max[i]);
      keep[i] = nm == -INFINITY ? 1.0f : exp2f(row_max[i] - nm);  // exp2(−inf) = 0 for a first tile
      row_max[i] = nm;
      row_sum[i] *= keep[i];
    }
#pragma unroll
    for (int j = 0; j < M / 8; ++j) {
      o[j][0] *= keep[0], o[j][1] *= keep[0];
      o[j][2] *= keep[1], o[j][3] *= keep[1];
    }
#pragma unroll
    for (int j = 0; j < 8; ++j)
#pragma unroll
      for (int e = 0; e < 4; ++e) {
        const float m = row_max[e >> 1];
        s[j][e] = m == -INFINITY ? 0.0f : exp2f(s[j][e] - m);
        row_sum[e >> 1] += s[j][e];
      }

    // O += P·V: P's C fragments of key chunk c (n8 tiles 2c, 2c+1) are the A operand.
#pragma unroll
    for (int c = 0; c < 4; ++c) {
      uint32_t ph[4], pl[4];
      split_pair(s[2 * c][0], s[2 * c][1], ph[0], pl[0]);
      split_pair(s[2 * c][2], s[2 * c][3], ph[1], pl[1]);
      split_pair(s[2 * c + 1][0], s[2 * c + 1][1], ph[2], pl[2]);
      split_pair(s[2 * c + 1][2], s[2 * c + 1][3], ph[3], pl[3]);
#pragma unroll
      for (int jd = 0; jd < M / 16; ++jd) {
        uint32_t b[4];
        dev::ldmatrix_x4_trans(b, &v_s[c * 16 + (mi & 1) * 8 + mr][(2 * jd + (mi >> 1)) * 8]);
        dev::mma_16816(o[2 * jd], ph, b[0], b[1]);
        dev::mma_16816(o[2 * jd], pl, b[0], b[1]);
        dev::mma_16816(o[2 * jd + 1], ph, b[2], b[3]);
        dev::mma_16816(o[2 * jd + 1], pl, b[2], b[3]);
      }
    }
    __syncthreads();  // the next tile overwrites k_s and v_s
  }
#pragma unroll
  for (int i = 0; i < 2; ++i) {
    row_sum[i] += __shfl_xor_sync(dev::kFull, row_sum[i], 1);
    row_sum[i] += __shfl_xor_sync(dev::kFull, row_sum[i], 2);
  }
  const float inv0 = row_sum[0] > 0.0f ? 1.0f / row_sum[0] : 0.0f;
  const float inv1 = row_sum[1] > 0.0f ? 1.0f / row_sum[1] : 0.0f;
  float* out0 = a.out + (size_t(r0) * a.n_heads + h) * M + 2 * t;
  float* out1 = a.out + (size_t(r1) * a.n_heads + h) * M + 2 * t;
#pragma unroll
  for (int j = 0; j < M / 8; ++j) {
    if (r0 < a.batch) *reinterpret_cast<float2*>(out0 + j * 8) = make_float2(o[j][0] * inv0, o[j][1] * inv0);
    if (r1 < a.batch) *reinterpret_cast<float2*>(out1 + j * 8) = make_float2(o[j][2] * inv1, o[j][3] * inv1);
  }
}

}  // namespace

void launch_prefill(const DenseArgs& a, cudaStream_t stream) {
  const dim3 grid((a.batch + kQueryRows - 1) / kQueryRows, a.n_heads);
  if (a.m == 64) dev::launch_chained(prefill_kernel<64>, grid, dim3(kThreads), 0, stream, a);
  else dev::launch_chained(prefill_kernel<128>, grid, dim3(kThreads), 0, stream, a);
}

}  // namespace lexico::cuda::attn_detail
