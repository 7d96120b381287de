// The forward pass's element-wise kernels and the one-token GEMV
// (model_kernels.cu); the other GEMMs are cuBLAS (model.cpp). "half" arrays
// are FP16 bits.
#pragma once
#include <cstdint>

#include <cuda_runtime_api.h>

namespace lexico::cuda::model_detail {

// x[t] = table[tokens[t]] (float or FP16 table), rows of `dim`.
void embed(const int32_t* tokens, int n, const float* table, int dim, float* x, cudaStream_t stream);
void embed(const int32_t* tokens, int n, const uint16_t* table, int dim, float* x, cudaStream_t stream);

// y = x / sqrt(mean(x²) + eps) · weight per row, into float or FP16.
void rms_norm(const float* x, const float* weight, float eps, int rows, int dim, float* y, cudaStream_t stream);
void rms_norm(const float* x, const float* weight, float eps, int rows, int dim, uint16_t* y, cudaStream_t stream);

// qkv [n][(H + 2K)·m] (+ bias when not null) → q [n][H][m] and k [n][K][m]
// rotated (half-split RoPE with cos/sin [n][m/2]), v [n][K][m]; k_pre gets
// the keys before rotation when not null.
void split_qkv_rope(const float* qkv, const float* bias, const float* cos, const float* sin, int n, int n_heads,
                    int n_kv_heads, int head_dim, float* q, float* k, float* v, float* k_pre, cudaStream_t stream);

// out[t][i] = silu(gu[t][i]) · gu[t][hidden + i], into float or FP16.
void silu_mul(const float* gu, int rows, int hidden, float* out, cudaStream_t stream);
void silu_mul(const float* gu, int rows, int hidden, uint16_t* out, cudaStream_t stream);

// y = W x (+ y when accumulate) for one token: W FP16 [rows][cols] row-major
// (cols a multiple of 8), x FP16 [cols], float accumulation. A chained
// launch (common.cuh). A decode step's GEMMs have one column; cuBLAS spends
// more host time a call than the step can hide and streams the weights
// below the memory's bandwidth (docs/benchmarks.md, bench_cuda_gemv).
void gemv(const uint16_t* w, int rows, int cols, const uint16_t* x, float* y, bool accumulate, cudaStream_t stream);

void to_half(const float* x, size_t count, uint16_t* y, cudaStream_t stream);

}  // namespace lexico::cuda::model_detail
