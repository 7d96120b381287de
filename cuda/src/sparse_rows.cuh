// The compressed rows as the sparse attention kernels read them: FP8
// decoding, a row's s (index, code) pairs in registers, its scores against
// qD in shared memory, the block reductions of the softmax, and the value
// pairs sorted by atom and applied to an atom's accumulator. Shared by the
// three-kernel path (attention_kernel.cu) and the cluster kernel
// (sparse_cluster_kernel.cu).
#pragma once
#include <cstdint>

#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include "common.cuh"

namespace lexico::cuda::attn_detail {

// The sparsities with a vector path (rows packed in registers); 0: generic s.
__host__ __device__ constexpr int vector_s(int s) { return s == 16 || s == 8 ? s : 0; }

__device__ __forceinline__ void decode_fp8x4(uint32_t w, float (&out)[4]) {
  const __half2_raw lo = __nv_cvt_fp8x2_to_halfraw2(__nv_fp8x2_storage_t(w & 0xFFFFu), __NV_E4M3);
  const __half2_raw hi = __nv_cvt_fp8x2_to_halfraw2(__nv_fp8x2_storage_t(w >> 16), __NV_E4M3);
  const float2 a = __half22float2(__half2(lo));
  const float2 b = __half22float2(__half2(hi));
  out[0] = a.x;
  out[1] = a.y;
  out[2] = b.x;
  out[3] = b.y;
}

// One FP8 E4M3 code as FP16 bits through the hardware conversion (exact:
// every E4M3 value is an FP16 one), and as a float.
__device__ __forceinline__ uint32_t fp8_to_half_bits(uint32_t code) {
  return __nv_cvt_fp8_to_halfraw(__nv_fp8_storage_t(code & 0xFFu), __NV_E4M3).x;
}
__device__ __forceinline__ float fp8_to_float(uint32_t code) {
  return __half2float(__ushort_as_half(uint16_t(fp8_to_half_bits(code))));
}

// Block-wide max / sum of HB values per thread over the NW warps of the
// block; every thread gets the result. red: NW·HB floats, 16-byte aligned.
template <int HB, int NW>
__device__ __forceinline__ void block_reduce(float (&v)[HB], float* red, bool is_max) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
#pragma unroll
  for (int g = 0; g < HB; ++g) v[g] = is_max ? dev::warp_max(v[g]) : dev::warp_sum(v[g]);
  __syncthreads();  // red may still be read from the previous reduction
  if (lane == 0)
#pragma unroll
    for (int g = 0; g < HB; ++g) red[warp * HB + g] = v[g];
  __syncthreads();
  float r[HB];
#pragma unroll
  for (int g = 0; g < HB; ++g) r[g] = is_max ? -INFINITY : 0.0f;
#pragma unroll
  for (int w = 0; w < NW; ++w) {
    float x[HB];
    if constexpr (HB == 4) {
      const float4 q = reinterpret_cast<const float4*>(red)[w];
      x[0] = q.x, x[1] = q.y, x[2] = q.z, x[3] = q.w;
    } else {
#pragma unroll
      for (int g = 0; g < HB; ++g) x[g] = red[w * HB + g];
    }
#pragma unroll
    for (int g = 0; g < HB; ++g) r[g] = is_max ? fmaxf(r[g], x[g]) : r[g] + x[g];
  }
#pragma unroll
  for (int g = 0; g < HB; ++g) v[g] = r[g];
}

// The s (index, FP8 code) pairs of one row in registers. For s = 8 and 16
// they stay packed as loaded (s/2 + s/4 words: two tokens' rows fit a
// thread's registers); a generic s uses local memory.
template <int SV>
struct Row {
  static_assert(SV % 8 == 0, "vector path needs a multiple of 8");
  uint32_t iw[SV / 2], cw[SV / 4];
  __device__ __forceinline__ void load(const uint16_t* gi, const uint8_t* gc, int) {
#pragma unroll
    for (int k = 0; k < SV / 8; ++k) {
      const uint4 w = reinterpret_cast<const uint4*>(gi)[k];
      iw[4 * k] = w.x, iw[4 * k + 1] = w.y, iw[4 * k + 2] = w.z, iw[4 * k + 3] = w.w;
    }
#pragma unroll
    for (int k = 0; k < SV / 8; ++k) {
      const uint2 w = reinterpret_cast<const uint2*>(gc)[k];
      cw[2 * k] = w.x, cw[2 * k + 1] = w.y;
    }
  }
  __device__ __forceinline__ uint32_t index(int i) const { return (iw[i >> 1] >> ((i & 1) * 16)) & 0xFFFFu; }
  __device__ __forceinline__ uint32_t code(int i) const { return (cw[i >> 2] >> ((i & 3) * 8)) & 0xFFu; }
};

template <>
struct Row<0> {
  uint16_t idx[64];
  uint8_t codes[64];
  __device__ __forceinline__ void load(const uint16_t* gi, const uint8_t* gc, int s) {
    for (int i = 0; i < s; ++i) {
      idx[i] = gi[i];
      codes[i] = gc[i];
    }
  }
  __device__ __forceinline__ uint32_t index(int i) const { return idx[i]; }
  __device__ __forceinline__ uint32_t code(int i) const { return codes[i]; }
};

// Scores of one key row for the block's HB heads: Σ_i c_i·qD[idx_i].
template <int HB, int SV>
__device__ __forceinline__ void score_row(const Row<SV>& r, int s, const float* qd_s, float (&sc)[HB]) {
  float sc2[HB];  // two accumulation chains per head
#pragma unroll
  for (int g = 0; g < HB; ++g) sc[g] = sc2[g] = 0.0f;
  if constexpr (SV > 0) {
#pragma unroll
    for (int q = 0; q < SV / 4; ++q) {
      float c[4];
      decode_fp8x4(r.cw[q], c);
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const int j = int(r.index(4 * q + u));
        float* acc = (u & 1) ? sc2 : sc;
        if constexpr (HB == 4) {
          const float4 qv = *reinterpret_cast<const float4*>(qd_s + j * 4);
          acc[0] = fmaf(c[u], qv.x, acc[0]);
          acc[1] = fmaf(c[u], qv.y, acc[1]);
          acc[2] = fmaf(c[u], qv.z, acc[2]);
          acc[3] = fmaf(c[u], qv.w, acc[3]);
        } else {
#pragma unroll
          for (int g = 0; g < HB; ++g) acc[g] = fmaf(c[u], qd_s[j * HB + g], acc[g]);
        }
      }
    }
  } else {
    for (int i = 0; i < s; ++i) {
      const int j = int(r.index(i));
      const float c = fp8_to_float(r.code(i));
#pragma unroll
      for (int g = 0; g < HB; ++g) sc[g] = fmaf(c, qd_s[j * HB + g], sc[g]);
    }
  }
#pragma unroll
  for (int g = 0; g < HB; ++g) sc[g] += sc2[g];
}

// A value pair of the chunk, sorted by atom: token in the chunk (10 bits) and
// the code as FP16 bits (16), decoded when the pair is sorted rather than in
// the value pass, whose loops diverge.
__device__ __forceinline__ uint32_t pack_pair(uint32_t token, uint32_t fp8_code) {
  return token | (fp8_to_half_bits(fp8_code) << 10);
}

template <int HB>
__device__ __forceinline__ void apply_pair(uint32_t w, const float* p_s, float (&acc)[HB]) {
  const int t = int(w & 0x3FFu);
  const float c = __half2float(__ushort_as_half(uint16_t(w >> 10)));
  if constexpr (HB == 4) {
    const float4 pv = reinterpret_cast<const float4*>(p_s)[t];
    acc[0] = fmaf(pv.x, c, acc[0]);
    acc[1] = fmaf(pv.y, c, acc[1]);
    acc[2] = fmaf(pv.z, c, acc[2]);
    acc[3] = fmaf(pv.w, c, acc[3]);
  } else {
#pragma unroll
    for (int g = 0; g < HB; ++g) acc[g] = fmaf(p_s[t * HB + g], c, acc[g]);
  }
}

// Value pass of one chunk: the pairs [begin, end) of one atom, into its
// accumulator; two a trip, for two independent loads in flight.
template <int HB>
__device__ __forceinline__ void apply_atom(int begin, int end, const uint32_t* entries, const float* p_s,
                                           float (&acc)[HB]) {
  int e = begin;
  for (; e + 1 < end; e += 2) {
    const uint32_t w0 = entries[e], w1 = entries[e + 1];
    apply_pair<HB>(w0, p_s, acc);
    apply_pair<HB>(w1, p_s, acc);
  }
  if (e < end) apply_pair<HB>(entries[e], p_s, acc);
}

}  // namespace lexico::cuda::attn_detail
