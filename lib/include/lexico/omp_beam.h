// Beam-search Orthogonal Matching Pursuit: OMP that keeps B partial supports
// instead of one. At each step every kept support I is expanded by its B
// atoms of largest |correlation with the residual| (as OMP picks its one),
// and each candidate I ∪ {j} is scored by its exact least-squares residual
//   ‖r_{I∪j}‖² = ‖r_I‖² − (d_jᵀ r_I)² / ‖P⊥_I d_j‖²
// (one new row of the Cholesky factor of G_II, G = DᵀD: no refit is needed
// to rank candidates). The greedy path (OMP's own: the top atom of the
// previous greedy support) always keeps one slot; the other B − 1 go to the
// candidates with the smallest residual, candidates reaching the same set
// merged. After s steps the support with the smallest residual wins; its
// coefficients are the least-squares fit, in selection order. Keeping the
// greedy path makes B = 1 plain OMP (the support of OmpEncoder with
// tolerance 0, up to float rounding of near-ties) and guarantees that a
// wider beam never ends with a larger residual than OMP (pure top-B pruning
// could drop OMP's path and end worse). Cost ≈ B × OMP's α updates, plus
// B² candidate scorings (O(s²) each) per step. A support stops growing as
// OMP's does: once the residual is numerically orthogonal to every atom, or
// the best atoms lie in the span of the chosen ones; it then stays in the
// beam with its residual.
#pragma once
#include <Eigen/Core>

#include "lexico/sparse_codes.h"

namespace lexico {

struct BeamOmpOptions {
  int sparsity = 8;    // s, 1 ≤ s ≤ min(m, N)
  int beam_width = 2;  // B ≥ 1: supports kept, and atoms tried per support, per step
  int threads = 0;     // OpenMP threads; 0 = all available
};

class BeamOmpEncoder {
 public:
  // Copies D and computes G (float, 4·N² bytes). Throws bad_input for an
  // empty D, more than 65536 columns, a non-finite value, or a column whose
  // norm is not 1 (within 1e-3).
  explicit BeamOmpEncoder(Eigen::Ref<const Eigen::MatrixXf> dictionary);

  int dim() const { return int(dictionary_.rows()); }
  int n_atoms() const { return int(dictionary_.cols()); }
  const Eigen::MatrixXf& dictionary() const { return dictionary_; }

  // One CSR row per column of X (m×B); a zero vector gets an empty row.
  // Throws usage_error for invalid options, bad_input for a wrong vector
  // length or a non-finite value.
  SparseCoefs encode(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                     const BeamOmpOptions& options) const;

 private:
  Eigen::MatrixXf dictionary_;
  Eigen::MatrixXf gram_;
};

}  // namespace lexico
