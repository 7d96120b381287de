// Batch-OMP (Rubinstein, Zibulevsky & Elad, 2008): Orthogonal Matching Pursuit
// for many vectors over one dictionary D (m×N, unit-norm columns). The Gram
// matrix G = DᵀD is computed once per dictionary, α⁰ = Dᵀx once per block of
// vectors (a GEMM); each step then costs O(N·k) instead of O(m·N):
//   pick j = argmax |α| (never an atom already chosen), grow the Cholesky
//   factor L of G_II by one row, solve L Lᵀ γ = α⁰_I, update α = α⁰ − G_I γ.
// ‖r‖² = ‖x‖² − ‖L⁻¹α⁰_I‖² is tracked for the error target. A vector's pursuit
// stops at s atoms, or as soon as ‖r‖ ≤ δ‖x‖, or when it cannot progress:
// the residual is numerically orthogonal to every atom (max |α| ≤ 1e-5·‖x‖,
// so one more atom would lower ‖r‖² by at most 1e-10·‖x‖²), or the best atom
// lies numerically in the span of the chosen ones (Cholesky pivot² ≤ 1e-5,
// within ~0.2° of that span). A zero vector gets an empty code. Coefficients
// are the least-squares fit on the chosen support, stored in selection order.
// float32 throughout, except what fixes the coefficients, in double: α⁰_I
// (recomputed as D_Iᵀx from D and x), the s×s Cholesky solves and ‖r‖².
// They match a float64 OMP to ~1e-6 relative (tests/unit/test_omp.cpp).
#pragma once
#include <cstdint>

#include <Eigen/Core>

#include "lexico/sparse_codes.h"

namespace lexico {

struct OmpOptions {
  int sparsity = 8;        // s: at most this many atoms per vector, 1 ≤ s ≤ min(m, N)
  float tolerance = 0.0f;  // δ in [0, 1): stop once ‖x − Dy‖ ≤ δ‖x‖; 0 = always s atoms
  int threads = 0;         // OpenMP threads; 0 = all available
  // FP8-aware coefficients: once the support is chosen, round the largest
  // remaining coefficient to FP8, fix it, refit the others by least squares
  // on the residual, and repeat. Every returned coefficient is then an exact
  // FP8 value, and the free coefficients absorb the rounding of the fixed ones
  // (a lower error after FP8 storage than rounding the least-squares fit).
  bool fp8_refit = false;
};

// Throws bad_input(where, ...) unless D can be pursued: not empty, no more
// atoms than uint16 indices address, finite, every column of norm 1 within
// 1e-3. OmpEncoder, its GPU twin and the other solvers all check this.
void check_unit_dictionary(Eigen::Ref<const Eigen::MatrixXf> dictionary, const char* where = "omp dictionary");

class OmpEncoder {
 public:
  // Copies D and computes G (float, 4·N² bytes: 64 MiB at N = 4096).
  // Throws bad_input when D is empty, has more than 65536 columns, holds a
  // non-finite value, or a column's norm is not 1 within 1e-3.
  explicit OmpEncoder(Eigen::Ref<const Eigen::MatrixXf> dictionary);

  int dim() const { return int(dictionary_.rows()); }
  int n_atoms() const { return int(dictionary_.cols()); }
  const Eigen::MatrixXf& dictionary() const { return dictionary_; }

  // Encodes each column of X (m×B; any outer stride, so one head of a
  // row-major [tokens, heads, head_dim] array maps in place) to one row.
  // Thread-safe: concurrent calls share only the read-only D and G.
  // Throws usage_error for invalid options, bad_input when X has the wrong
  // number of rows or a non-finite value.
  SparseCoefs encode(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                     const OmpOptions& options) const;
  // Same for n_vectors vectors of length m starting every `stride` floats.
  SparseCoefs encode(const float* vectors, int64_t n_vectors, int64_t stride, const OmpOptions& options) const;
  // encode, then quantize_fp8.
  SparseCodes encode_fp8(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                         const OmpOptions& options) const;

 private:
  Eigen::MatrixXf dictionary_;
  // DᵀD with each column zero-padded to a multiple of 64 rows, so the
  // fused update/argmax loop runs on whole blocks.
  Eigen::MatrixXf gram_;
  Eigen::VectorXf gram_diagonal_;
};

}  // namespace lexico
