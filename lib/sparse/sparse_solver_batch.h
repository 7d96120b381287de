// What the alternative sparse solvers (IHT, Lasso, beam-search OMP) share:
// the option checks, the least-squares fit on a chosen
// support, and the batch driver that splits the vectors into blocks, runs
// one worker per OpenMP thread over them and gathers fixed-capacity slots
// into CSR rows.
#pragma once
#include <omp.h>

#include <Eigen/Core>
#include <algorithm>
#include <cstdint>
#include <vector>

#include "lexico/error.h"
#include "lexico/sparse_codes.h"

namespace lexico::solver {

using VectorBatch = Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>>;

// Throws usage_error unless 1 ≤ sparsity ≤ min(m, N) and threads ≥ 0.
void check_sparsity_and_threads(int sparsity, int threads, int dim, int n_atoms, const char* where);

// values[0..k) = argmin_c ‖x − D_S c‖ for S = support[0..k), computed by a
// column-pivoted QR of D_S in double, so a rank-deficient support still gets
// a finite (basic) solution instead of NaN.
void fit_on_support(const Eigen::MatrixXf& dictionary, const float* x, const int* support, int k, float* values);

// One output row's slots: at most `capacity` atoms, `count` of them used.
struct RowSlots {
  uint16_t* indices;
  float* values;
  int* count;
};

// Encodes the columns of `vectors` in blocks of `block` vectors. make_worker()
// is called once per thread; the worker is called as
//   worker(Eigen::Ref<const MatrixXf, 0, OuterStride<>> block_vectors, RowSlots first_row)
// and fills rows first_row + i (slot capacity `capacity` each) for the
// block's columns i. Throws bad_input when the vectors have the wrong length
// or a non-finite value.
template <typename MakeWorker>
SparseCoefs encode_in_blocks(int dim, int n_atoms, VectorBatch vectors, int capacity, int threads, int block,
                             const char* where, MakeWorker&& make_worker) {
  if (vectors.rows() != dim) bad_input(where, "vectors have length {}, the dictionary's atoms {}", vectors.rows(), dim);
  const int64_t n_vectors = vectors.cols();
  for (int64_t v = 0; v < n_vectors; ++v)
    if (!vectors.col(v).allFinite()) bad_input(where, "vector {} holds a non-finite value", v);
  if (n_vectors * capacity > int64_t(UINT32_MAX))
    usage_error(where, "{} vectors × {} atoms overflow 32-bit row offsets; encode in smaller batches", n_vectors,
                capacity);
  std::vector<uint16_t> slot_indices(size_t(n_vectors) * capacity);
  std::vector<float> slot_values(size_t(n_vectors) * capacity);
  std::vector<int> counts(n_vectors, 0);
  const int64_t n_blocks = (n_vectors + block - 1) / block;
  const int n_threads =
      int(std::min<int64_t>(threads > 0 ? threads : omp_get_max_threads(), std::max<int64_t>(n_blocks, 1)));
#pragma omp parallel num_threads(n_threads)
  {
    auto worker = make_worker();
#pragma omp for schedule(dynamic, 1)
    for (int64_t b = 0; b < n_blocks; ++b) {
      const int64_t first = b * block;
      const int64_t count = std::min<int64_t>(block, n_vectors - first);
      worker(vectors.middleCols(first, count),
             RowSlots{&slot_indices[size_t(first) * capacity], &slot_values[size_t(first) * capacity], &counts[first]});
    }
  }
  SparseCoefs coefs;
  coefs.dim = dim;
  coefs.n_atoms = n_atoms;
  coefs.row_ptr.reserve(n_vectors + 1);
  for (int64_t v = 0; v < n_vectors; ++v) coefs.row_ptr.push_back(coefs.row_ptr.back() + counts[v]);
  coefs.indices.resize(coefs.row_ptr.back());
  coefs.values.resize(coefs.row_ptr.back());
  for (int64_t v = 0; v < n_vectors; ++v) {
    // Pointer arithmetic, not operator[]: the arrays are empty when every code is.
    std::copy_n(slot_indices.data() + size_t(v) * capacity, counts[v], coefs.indices.data() + coefs.row_ptr[v]);
    std::copy_n(slot_values.data() + size_t(v) * capacity, counts[v], coefs.values.data() + coefs.row_ptr[v]);
  }
  return coefs;
}

}  // namespace lexico::solver
