#include "lexico/lasso.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "lexico/error.h"
#include "lexico/omp.h"
#include "sparse/sparse_solver_batch.h"

namespace lexico {

namespace {

constexpr int kVectorBlock = 32;     // vectors per Dᵀx GEMM
constexpr double kPathFloor = 1e-6;  // the path ends below this × λ_max

float soft_threshold(float z, float lambda) { return z > lambda ? z - lambda : z < -lambda ? z + lambda : 0.0f; }

class LassoWorker {
 public:
  LassoWorker(const Eigen::MatrixXf& dictionary, const Eigen::MatrixXf& gram, const LassoOptions& options)
      : d_(dictionary),
        gram_(gram),
        diagonal_(gram.diagonal()),
        options_(options),
        correlations_(dictionary.cols(), kVectorBlock),
        q_(dictionary.cols()),
        y_(dictionary.cols()),
        order_(dictionary.cols()),
        support_(options.sparsity) {}

  void operator()(solver::VectorBatch x, solver::RowSlots rows) {
    const int count = int(x.cols()), s = options_.sparsity;
    correlations_.leftCols(count).noalias() = d_.transpose() * x;
    for (int i = 0; i < count; ++i) {
      const int k = solve(correlations_.col(i), x.col(i).norm());
      solver::fit_on_support(d_, x.col(i).data(), support_.data(), k, &rows.values[size_t(i) * s]);
      for (int t = 0; t < k; ++t) rows.indices[size_t(i) * s + t] = uint16_t(support_[t]);
      rows.count[i] = k;
    }
  }

 private:
  // Runs the λ path for one vector; support_[0..k) = its kept atoms.
  int solve(Eigen::Ref<const Eigen::VectorXf> correlations, float norm) {
    const int n = int(d_.cols());
    q_ = correlations;
    y_.setZero();
    const float lambda_max = q_.cwiseAbs().maxCoeff();
    if (norm == 0.0f || lambda_max == 0.0f) return 0;
    const float min_change = float(options_.tolerance) * norm;
    int nnz = 0;
    for (double lambda = lambda_max * options_.path_ratio; lambda >= kPathFloor * lambda_max && nnz < options_.sparsity;
         lambda *= options_.path_ratio) {
      for (int sweep = 0; sweep < options_.max_sweeps; ++sweep) {
        float max_change = 0.0f;
        for (int j = 0; j < n; ++j) {
          const float old = y_[j];
          const float updated = soft_threshold(q_[j] + diagonal_[j] * old, float(lambda)) / diagonal_[j];
          if (updated == old) continue;
          const float change = updated - old;
          q_.noalias() -= change * gram_.col(j);
          y_[j] = updated;
          nnz += (old == 0.0f) - (updated == 0.0f);
          max_change = std::max(max_change, std::abs(change));
        }
        if (max_change <= min_change) break;
      }
    }
    const int k = std::min(nnz, options_.sparsity);
    for (int j = 0; j < n; ++j) order_[j] = j;
    std::partial_sort(order_.begin(), order_.begin() + k, order_.end(), [&](int a, int b) {
      const float ma = std::abs(y_[a]), mb = std::abs(y_[b]);
      return ma > mb || (ma == mb && a < b);
    });
    std::copy_n(order_.begin(), k, support_.begin());
    return k;
  }

  const Eigen::MatrixXf& d_;
  const Eigen::MatrixXf& gram_;
  const Eigen::VectorXf diagonal_;  // G_jj (1 within the unit-norm tolerance)
  const LassoOptions& options_;
  Eigen::MatrixXf correlations_;  // Dᵀx for a block
  Eigen::VectorXf q_;             // Dᵀx − G y
  Eigen::VectorXf y_;
  std::vector<int> order_;
  std::vector<int> support_;
};

}  // namespace

LassoEncoder::LassoEncoder(Eigen::Ref<const Eigen::MatrixXf> dictionary) : dictionary_(dictionary) {
  check_unit_dictionary(dictionary_, "lasso dictionary");
  gram_.noalias() = dictionary_.transpose() * dictionary_;
}

SparseCoefs LassoEncoder::encode(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                                 const LassoOptions& options) const {
  const char* where = "lasso";
  solver::check_sparsity_and_threads(options.sparsity, options.threads, dim(), n_atoms(), where);
  if (!(options.path_ratio > 0.0 && options.path_ratio < 1.0))
    usage_error(where, "path ratio {} is outside (0, 1)", options.path_ratio);
  if (options.max_sweeps < 1) usage_error(where, "max sweeps {} is below 1", options.max_sweeps);
  if (!(options.tolerance >= 0.0)) usage_error(where, "tolerance {} is negative", options.tolerance);
  return solver::encode_in_blocks(dim(), n_atoms(), vectors, options.sparsity, options.threads, kVectorBlock, where,
                                  [&] { return LassoWorker(dictionary_, gram_, options); });
}

}  // namespace lexico
