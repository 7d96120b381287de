// Kernels of GpuDictionaryLearner: one warp per vector or atom (m ≤ 128, so a
// lane holds up to four elements, e = lane + 32·q).
#include <math_constants.h>

#include "common.cuh"
#include "learner_kernels.cuh"

namespace lexico::cuda::learner_detail {

namespace {

constexpr int kWarps = 8;  // warps per block
constexpr int kMaxPerLane = 4;  // 128 / 32

__device__ __forceinline__ int64_t warp_index() { return int64_t(blockIdx.x) * kWarps + threadIdx.x / 32; }
unsigned blocks_for(int64_t warps) { return unsigned((warps + kWarps - 1) / kWarps); }

// x̂_v in float, in slot order; lanes beyond dim hold 0.
__device__ __forceinline__ void reconstruct(const float* d, int dim, int64_t v, const Codes& c, int lane,
                                            float (&xhat)[kMaxPerLane]) {
  for (int q = 0; q < kMaxPerLane; ++q) xhat[q] = 0.0f;
  const int count = c.counts[v];
  for (int k = 0; k < count; ++k) {
    const float g = c.values[v * c.sparsity + k];
    const float* atom = d + int64_t(c.indices[v * c.sparsity + k]) * dim;
    for (int q = 0; q < kMaxPerLane; ++q) {
      const int e = lane + 32 * q;
      if (e < dim) xhat[q] = fmaf(g, atom[e], xhat[q]);
    }
  }
}

__global__ void residuals_kernel(const float* x, const float* d, int dim, int64_t n, Codes c, float* residual,
                                 double* squared_errors, float* float_norms2, int32_t* used) {
  const int64_t v = warp_index();
  if (v >= n) return;
  const int lane = threadIdx.x & 31;
  float xhat[kMaxPerLane];
  reconstruct(d, dim, v, c, lane, xhat);
  double sum = 0.0;
  float fsum = 0.0f;
  for (int q = 0; q < kMaxPerLane; ++q) {
    const int e = lane + 32 * q;
    if (e >= dim) continue;
    const float r = x[v * dim + e] - xhat[q];
    residual[v * dim + e] = r;
    sum += double(r) * double(r);
    fsum += r * r;
  }
  sum = dev::warp_sum(sum);
  fsum = dev::warp_sum(fsum);
  if (lane == 0) squared_errors[v] = sum, float_norms2[v] = fsum;
  if (lane < c.counts[v]) used[c.indices[v * c.sparsity + lane]] = 1;  // s ≤ 32
}

__global__ void relative_errors_kernel(const float* x, const float* d, int dim, int64_t n, Codes c, double* errors) {
  const int64_t v = warp_index();
  if (v >= n) return;
  const int lane = threadIdx.x & 31;
  float xhat[kMaxPerLane];
  reconstruct(d, dim, v, c, lane, xhat);
  double err2 = 0.0, norm2 = 0.0;
  for (int q = 0; q < kMaxPerLane; ++q) {
    const int e = lane + 32 * q;
    if (e >= dim) continue;
    const double xv = x[v * dim + e], diff = xv - double(xhat[q]);
    err2 += diff * diff;
    norm2 += xv * xv;
  }
  err2 = dev::warp_sum(err2);
  norm2 = dev::warp_sum(norm2);
  if (lane == 0) errors[v] = norm2 > 0.0 ? sqrt(err2) / sqrt(norm2) : err2 == 0.0 ? 0.0 : CUDART_INF;
}

__global__ void scatter_codes_kernel(Codes c, int64_t first, int64_t count, int n_atoms, float* y) {
  const int64_t t = int64_t(blockIdx.x) * blockDim.x + threadIdx.x;
  if (t >= count * c.sparsity) return;
  const int64_t v = first + t / c.sparsity;
  const int k = int(t % c.sparsity);
  if (k < c.counts[v]) y[(v - first) * n_atoms + c.indices[v * c.sparsity + k]] = c.values[v * c.sparsity + k];
}

__global__ void adam_kernel(AdamArgs a) {
  const int64_t j = warp_index();
  if (j >= a.n_atoms) return;
  const int lane = threadIdx.x & 31;
  const int64_t col = j * a.dim;
  float d[kMaxPerLane], g[kMaxPerLane];
  float dot = 0.0f;
  for (int q = 0; q < kMaxPerLane; ++q) {
    const int e = lane + 32 * q;
    d[q] = e < a.dim ? a.d[col + e] : 0.0f;
    g[q] = e < a.dim ? a.grad[col + e] : 0.0f;
    dot = fmaf(d[q], g[q], dot);
  }
  dot = dev::warp_sum(dot);
  const double t = double(a.steps[j] + 1);
  const float step_size = float(a.lr / (1.0 - pow(a.beta1, t)));
  const float root_correction = float(sqrt(1.0 - pow(a.beta2, t)));
  const float b1 = float(a.beta1), b2 = float(a.beta2), eps = float(a.epsilon);
  float norm2 = 0.0f;
  for (int q = 0; q < kMaxPerLane; ++q) {
    const int e = lane + 32 * q;
    if (e >= a.dim) continue;
    const float gq = g[q] - d[q] * dot;
    const float m = b1 * a.first[col + e] + (1.0f - b1) * gq;
    const float v = b2 * a.second[col + e] + (1.0f - b2) * gq * gq;
    a.first[col + e] = m;
    a.second[col + e] = v;
    d[q] -= step_size * root_correction * m / (sqrtf(v) + eps * root_correction);
    norm2 = fmaf(d[q], d[q], norm2);
  }
  const float norm = sqrtf(dev::warp_sum(norm2));
  for (int q = 0; q < kMaxPerLane; ++q) {
    const int e = lane + 32 * q;
    if (e < a.dim) a.d[col + e] = norm > 0.0f ? d[q] / norm : (e == int(j % a.dim) ? 1.0f : 0.0f);
  }
  if (lane == 0) {
    a.steps[j] += 1;
    a.idle[j] = a.used[j] ? 0 : a.idle[j] + 1;
    a.used[j] = 0;
  }
}

__global__ void restart_kernel(const int32_t* atoms, const int32_t* vectors, int n_pairs, const float* residual,
                               int dim, float* d, float* first, float* second, int64_t* steps, int64_t* idle) {
  const int64_t k = warp_index();
  if (k >= n_pairs) return;
  const int lane = threadIdx.x & 31;
  const int64_t j = atoms[k], v = vectors[k];
  float r[kMaxPerLane], norm2 = 0.0f;
  for (int q = 0; q < kMaxPerLane; ++q) {
    const int e = lane + 32 * q;
    r[q] = e < dim ? residual[v * dim + e] : 0.0f;
    norm2 = fmaf(r[q], r[q], norm2);
  }
  const float norm = sqrtf(dev::warp_sum(norm2));
  for (int q = 0; q < kMaxPerLane; ++q) {
    const int e = lane + 32 * q;
    if (e >= dim) continue;
    d[j * dim + e] = r[q] / norm;
    first[j * dim + e] = 0.0f;
    second[j * dim + e] = 0.0f;
  }
  if (lane == 0) steps[j] = 0, idle[j] = 0;
}

}  // namespace

void launch_residuals(const float* x, const float* d, int dim, int64_t n, Codes codes, float* residual,
                      double* squared_errors, float* float_norms2, int32_t* used, cudaStream_t stream) {
  if (n <= 0) return;
  residuals_kernel<<<blocks_for(n), kWarps * 32, 0, stream>>>(x, d, dim, n, codes, residual, squared_errors,
                                                               float_norms2, used);
  LEXICO_CUDA_CHECK_LAUNCH();
}

void launch_relative_errors(const float* x, const float* d, int dim, int64_t n, Codes codes, double* errors,
                            cudaStream_t stream) {
  if (n <= 0) return;
  relative_errors_kernel<<<blocks_for(n), kWarps * 32, 0, stream>>>(x, d, dim, n, codes, errors);
  LEXICO_CUDA_CHECK_LAUNCH();
}

void launch_scatter_codes(Codes codes, int64_t first, int64_t count, int n_atoms, float* y, cudaStream_t stream) {
  const int64_t threads = count * codes.sparsity;
  if (threads <= 0) return;
  scatter_codes_kernel<<<unsigned((threads + 255) / 256), 256, 0, stream>>>(codes, first, count, n_atoms, y);
  LEXICO_CUDA_CHECK_LAUNCH();
}

void launch_adam_step(const AdamArgs& args, cudaStream_t stream) {
  adam_kernel<<<blocks_for(args.n_atoms), kWarps * 32, 0, stream>>>(args);
  LEXICO_CUDA_CHECK_LAUNCH();
}

void launch_restart(const int32_t* atoms, const int32_t* vectors, int n_pairs, const float* residual, int dim,
                    float* d, float* first, float* second, int64_t* steps, int64_t* idle, cudaStream_t stream) {
  if (n_pairs <= 0) return;
  restart_kernel<<<blocks_for(n_pairs), kWarps * 32, 0, stream>>>(atoms, vectors, n_pairs, residual, dim, d, first,
                                                                   second, steps, idle);
  LEXICO_CUDA_CHECK_LAUNCH();
}

}  // namespace lexico::cuda::learner_detail
