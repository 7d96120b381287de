// Device helpers shared by the kernels: warp reductions, FP8 E4M3 (bit-exact
// with lexico/fp8.h), the Ampere/Hopper matrix instructions used, and chained
// (programmatic dependent) launches.
#pragma once
#include <cstdint>

#include <cuda_fp16.h>
#include <cuda_runtime.h>

#include "lexico/cuda/device.h"


namespace lexico::cuda::dev {

constexpr unsigned kFull = 0xffffffffu;

__device__ __forceinline__ float warp_max(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(kFull, v, o));
  return v;
}
__device__ __forceinline__ float warp_sum(float v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}
__device__ __forceinline__ double warp_sum(double v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(kFull, v, o);
  return v;
}

// FP8 E4M3 (OCP "E4M3FN"): the same branch-free rounding as
// lexico::fp8_e4m3_encode (nearest-even, saturating at ±448, NaN kept).
__device__ __forceinline__ uint8_t fp8_encode(float x) {
  const uint32_t bits = __float_as_uint(x);
  const uint32_t sign = (bits >> 24) & 0x80u;
  const uint32_t a = bits & 0x7FFFFFFFu;
  const uint32_t normal = ((a + 0x7FFFFu + ((a >> 20) & 1u)) >> 20) - (120u << 3);
  const float shifted = __fadd_rn(__fmul_rn(__uint_as_float(a), 512.0f), 8388608.0f);
  const uint32_t subnormal = __float_as_uint(shifted) - 0x4B000000u;
  uint32_t code = a >= 0x3C800000u ? normal : subnormal;
  code = a >= 0x43E00000u ? 0x7Eu : code;
  code = a > 0x7F800000u ? 0x7Fu : code;
  return uint8_t(sign | code);
}
// Exact decode (every E4M3 value is a float); NaN codes give NaN.
__device__ __forceinline__ float fp8_decode(uint32_t code) {
  const uint32_t sign = (code & 0x80u) << 24;
  const uint32_t exponent = (code >> 3) & 0xFu;
  const uint32_t mantissa = code & 0x7u;
  if (exponent == 0xF && mantissa == 0x7) return __uint_as_float(sign | 0x7FC00000u);
  if (exponent == 0) return __uint_as_float(sign | __float_as_uint(float(mantissa) * (1.0f / 512.0f)));
  return __uint_as_float(sign | ((exponent + 120u) << 23) | (mantissa << 20));
}

// ---- matrix instructions (sm_80+) ----

__device__ __forceinline__ uint32_t smem_addr(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}
__device__ __forceinline__ void cp_async16(void* smem, const void* gmem) {
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;\n" ::"r"(smem_addr(smem)), "l"(gmem));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
__device__ __forceinline__ void cp_async_wait_all() { asm volatile("cp.async.wait_group 0;\n" ::: "memory"); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N) : "memory");
}

__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
// The same four 8×8 matrices, each transposed (a row-major k×n operand as the
// column-major B of mma_16816).
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], const void* p) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0,%1,%2,%3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(smem_addr(p)));
}
// Two FP16 values as the 32-bit register an MMA operand takes.
__device__ __forceinline__ uint32_t half2_bits(__half2 h) { return *reinterpret_cast<const uint32_t*>(&h); }
// Four consecutive FP16 values (8 bytes, 8-byte aligned) as floats, from
// __half or FP16 bits (uint16_t): dictionary atoms and K/V rows.
template <typename Half>
__device__ __forceinline__ float4 load_half4(const Half* p) {
  static_assert(sizeof(Half) == 2, "FP16 values");
  const uint2 raw = *reinterpret_cast<const uint2*>(p);
  const float2 lo = __half22float2(*reinterpret_cast<const __half2*>(&raw.x));
  const float2 hi = __half22float2(*reinterpret_cast<const __half2*>(&raw.y));
  return make_float4(lo.x, lo.y, hi.x, hi.y);
}
// A lane's E = 2 or 4 consecutive FP16 values of a row (head_dim 64 or 128 over a warp) as floats.
template <int E, typename Half>
__device__ __forceinline__ void load_halves(const Half* p, float (&out)[E]) {
  static_assert(E == 2 || E == 4, "a lane takes 2 or 4 values");
  if constexpr (E == 4) {
    const float4 v = load_half4(p);
    out[0] = v.x, out[1] = v.y, out[2] = v.z, out[3] = v.w;
  } else {
    static_assert(sizeof(Half) == 2, "FP16 values");
    const float2 v = __half22float2(*reinterpret_cast<const __half2*>(p));
    out[0] = v.x, out[1] = v.y;
  }
}
// D = A·B + D, A 16×16 row-major f16, B 16×8 column-major f16, D 16×8 f32.
__device__ __forceinline__ void mma_16816(float (&d)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0,%1,%2,%3}, {%4,%5,%6,%7}, {%8,%9}, "
      "{%0,%1,%2,%3};\n"
      : "+f"(d[0]), "+f"(d[1]), "+f"(d[2]), "+f"(d[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// ---- chained launches (programmatic dependent launch, sm_90) ----
// A decode step is a chain of small dependent kernels; between two of them the
// GPU would idle for the next grid's launch. A kernel launched with
// launch_chained may be scheduled while its predecessor in the stream still
// runs, once every block of the predecessor has called release_next_grid().
// The rule that keeps this safe: before wait_prior_grid() a chained kernel
// reads only data no kernel of the step writes (the dictionaries), and it
// writes nothing; it calls release_next_grid() only after its own wait, so
// at most two kernels overlap. An ordinary launch (its predecessor done) may
// release at once. Both calls are no-ops without a chained launch and before
// sm_90.
__device__ __forceinline__ void wait_prior_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.wait;\n" ::: "memory");
#endif
}
__device__ __forceinline__ void release_next_grid() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900
  asm volatile("griddepcontrol.launch_dependents;\n" ::: "memory");
#endif
}

template <typename... Params, typename... Args>
void launch_chained(void (*kernel)(Params...), dim3 grid, dim3 block, size_t smem, cudaStream_t stream,
                    const Args&... args) {
  cudaLaunchAttribute chained[1] = {};
  chained[0].id = cudaLaunchAttributeProgrammaticStreamSerialization;
  chained[0].val.programmaticStreamSerializationAllowed = 1;
  cudaLaunchConfig_t config = {};
  config.gridDim = grid;
  config.blockDim = block;
  config.dynamicSmemBytes = smem;
  config.stream = stream;
  config.attrs = chained;
  config.numAttrs = device_info().major >= 9 ? 1 : 0;  // the mechanism exists from sm_90 on
  LEXICO_CUDA_CHECK(cudaLaunchKernelEx(&config, kernel, args...));
}

}  // namespace lexico::cuda::dev
