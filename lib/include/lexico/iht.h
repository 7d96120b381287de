// Iterative hard thresholding (Blumensath & Davies): for each vector x,
// s-sparse y over a dictionary D (m×N, unit-norm columns) by the iteration
//   y ← H_s(y + μ Dᵀ(x − D y)),   y⁰ = 0,
// where H_s keeps the s entries of largest magnitude. Step size μ:
//   Normalized (NIHT, Blumensath & Davies 2010): μ = ‖g_Γ‖² / ‖D_Γ g_Γ‖² with
//     g = Dᵀ(x − Dy) and Γ the current support (at the start, that of
//     H_s(Dᵀx)); when the support would change, μ is shrunk by κ(1 − c)
//     (κ = 2, c = 0.01) until μ ≤ (1 − c)‖y⁺ − y‖² / ‖D(y⁺ − y)‖², the
//     condition that makes each step lower ‖x − Dy‖.
//   Fixed: μ = 1 / ‖D‖₂² (‖D‖₂ the spectral norm), the classic step under
//     which IHT never increases ‖x − Dy‖ (small for overcomplete D).
// A vector stops early at a fixed point (g_Γ = 0). After the last
// iteration the coefficients are refitted by least squares on the final
// support (IHT's own iterate is not returned), so the error measures the
// support IHT found, as for OMP. Each iteration computes Dᵀ(X − DY) for a
// block of vectors as one GEMM; blocks run in parallel (OpenMP).
#pragma once
#include <Eigen/Core>

#include "lexico/sparse_codes.h"

namespace lexico {

enum class IhtStep { Normalized, Fixed };

struct IhtOptions {
  int sparsity = 8;     // s, 1 ≤ s ≤ min(m, N): every non-zero vector gets exactly s atoms
  int iterations = 30;  // gradient steps per vector, ≥ 1
  IhtStep step = IhtStep::Normalized;
  int threads = 0;  // OpenMP threads; 0 = all available
};

class IhtEncoder {
 public:
  // Copies D and computes ‖D‖₂². Throws bad_input for an empty D, more than
  // 65536 columns, a non-finite value, or a column whose norm is not 1 (1e-3).
  explicit IhtEncoder(Eigen::Ref<const Eigen::MatrixXf> dictionary);

  int dim() const { return int(dictionary_.rows()); }
  int n_atoms() const { return int(dictionary_.cols()); }
  const Eigen::MatrixXf& dictionary() const { return dictionary_; }
  double spectral_norm_sq() const { return spectral_norm_sq_; }

  // One CSR row per column of X (m×B); a zero vector gets an empty row.
  // Throws usage_error for invalid options, bad_input for a wrong vector
  // length or a non-finite value.
  SparseCoefs encode(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                     const IhtOptions& options) const;

 private:
  Eigen::MatrixXf dictionary_;
  double spectral_norm_sq_ = 0.0;
};

}  // namespace lexico
