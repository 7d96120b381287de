// Lasso as an s-sparse coder: for each vector x over a dictionary D (m×N,
// unit-norm columns), solutions of
//   min_y ½‖x − D y‖² + λ‖y‖₁
// by cyclic coordinate descent on the Gram matrix G = DᵀD ("covariance
// updates": q = Dᵀx − G y is kept, so visiting atom j costs O(1) when y_j
// stays 0 and O(N) when it changes: y_j ← soft(q_j + G_jj y_j, λ) / G_jj).
// λ follows a geometric path from λ_max = ‖Dᵀx‖∞ (where y = 0) down,
// λ_{k+1} = path_ratio · λ_k, each λ warm-started from the previous solution
// and given at most max_sweeps sweeps over all N atoms (fewer once the
// largest change in a sweep is ≤ tolerance·‖x‖). The path stops at the first
// λ whose solution has ≥ s non-zeros (or below 1e-6·λ_max); the s entries of
// largest magnitude are kept (all of them if fewer) and refitted by least
// squares, removing the Lasso's shrinkage. So the result is an s-atom code
// whose support the Lasso chose, comparable with OMP's.
#pragma once
#include <Eigen/Core>

#include "lexico/sparse_codes.h"

namespace lexico {

struct LassoOptions {
  int sparsity = 8;         // s, 1 ≤ s ≤ min(m, N)
  double path_ratio = 0.8;  // λ_{k+1} / λ_k, in (0, 1): smaller = fewer, coarser path steps
  int max_sweeps = 8;       // coordinate-descent sweeps per λ (the iteration cap), ≥ 1
  double tolerance = 1e-4;  // ≥ 0: a λ's sweeps stop once no coefficient moved more than tolerance·‖x‖
  int threads = 0;          // OpenMP threads; 0 = all available
};

class LassoEncoder {
 public:
  // Copies D and computes G (float, 4·N² bytes). Throws bad_input for an
  // empty D, more than 65536 columns, a non-finite value, or a column whose
  // norm is not 1 (within 1e-3).
  explicit LassoEncoder(Eigen::Ref<const Eigen::MatrixXf> dictionary);

  int dim() const { return int(dictionary_.rows()); }
  int n_atoms() const { return int(dictionary_.cols()); }
  const Eigen::MatrixXf& dictionary() const { return dictionary_; }

  // One CSR row per column of X (m×B), atoms by decreasing Lasso magnitude;
  // a zero vector gets an empty row. Throws usage_error for invalid options,
  // bad_input for a wrong vector length or a non-finite value.
  SparseCoefs encode(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                     const LassoOptions& options) const;

 private:
  Eigen::MatrixXf dictionary_;
  Eigen::MatrixXf gram_;
};

}  // namespace lexico
