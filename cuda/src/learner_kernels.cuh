// Launch interface of the dictionary learner's kernels (learner_kernels.cu);
// used by dictionary_learner.cpp. Matrices are column-major: D, Adam's
// moments and the gradient m×N (ld m), vectors and residuals m×b (ld m), the
// dense code block N×count (ld N). Codes are GpuOmpEncoder's fixed-s slots.
#pragma once
#include <cstdint>

#include <cuda_runtime_api.h>

namespace lexico::cuda::learner_detail {

struct Codes {
  const int32_t* counts;
  const uint16_t* indices;
  const float* values;
  int sparsity;
};

// r_v = x_v − Σ_k γ_k d_(i_k) (the reconstruction summed in float in slot
// order, as lexico::reconstruct), squared_errors[v] = Σ r² in double,
// float_norms2[v] = Σ r² in float (> 0 exactly when the CPU's float norm
// is), and used[i_k] = 1 for every atom a code uses.
void launch_residuals(const float* x, const float* d, int dim, int64_t n, Codes codes, float* residual,
                      double* squared_errors, float* float_norms2, int32_t* used, cudaStream_t stream);
// errors[v] = ‖x_v − x̂_v‖ / ‖x_v‖ in double (0 for x = x̂ = 0, +inf for a
// zero x with x̂ ≠ 0), as lexico::relative_errors.
void launch_relative_errors(const float* x, const float* d, int dim, int64_t n, Codes codes, double* errors,
                            cudaStream_t stream);
// y[(v − first)·N + i_k] = γ_k for v in [first, first + count); y zeroed
// before by the caller.
void launch_scatter_codes(Codes codes, int64_t first, int64_t count, int n_atoms, float* y, cudaStream_t stream);

struct AdamArgs {
  float* d;
  const float* grad;
  float *first, *second;
  int64_t *steps, *idle;
  int32_t* used;  // read, then cleared for the next step
  int dim, n_atoms;
  double lr, beta1, beta2, epsilon;
};
// Per atom: g ← g − d dᵀg; Adam at the atom's step t = steps + 1; d ← d/‖d‖
// (e_(j mod m) for a zero d); idle ← used ? 0 : idle + 1.
void launch_adam_step(const AdamArgs& args, cudaStream_t stream);

// For each pair k: d_(atom[k]) ← r_(vector[k]) / ‖r_(vector[k])‖, its Adam
// moments and step count zeroed, idle 0.
void launch_restart(const int32_t* atoms, const int32_t* vectors, int n_pairs, const float* residual, int dim,
                    float* d, float* first, float* second, int64_t* steps, int64_t* idle, cudaStream_t stream);

}  // namespace lexico::cuda::learner_detail
