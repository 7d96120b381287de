// GCC 12 flags Eigen's AVX-512 GEMM packing with a false
// -Wmaybe-uninitialized (GCC bug 105593); see omp.cpp.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "lexico/dictionary_training_step.h"

#include <algorithm>
#include <cmath>
#include <numbers>
#include <numeric>

#include "lexico/dictionary_training_data.h"
#include "lexico/error.h"
#include "lexico/omp.h"
#include "lexico/sparse_encoder.h"
#include "lexico/recon.h"

namespace lexico {

namespace {

constexpr Eigen::Index kValidationBlock = 65536;  // vectors coded at once by mean_rre (bounds memory)

OmpOptions omp_options(const LearnerOptions& o) {
  OmpOptions omp;
  omp.sparsity = o.sparsity;
  omp.threads = o.threads;
  return omp;
}

}  // namespace

void normalize_columns(Eigen::MatrixXf& d) {
  for (Eigen::Index j = 0; j < d.cols(); ++j) {
    const float norm = d.col(j).norm();
    if (norm > 0.f) {
      d.col(j) /= norm;
    } else {
      d.col(j).setZero();
      d(j % d.rows(), j) = 1.f;
    }
  }
}

void project_radial(const Eigen::MatrixXf& d, Eigen::MatrixXf& grad) {
  for (Eigen::Index j = 0; j < d.cols(); ++j) grad.col(j) -= d.col(j) * d.col(j).dot(grad.col(j));
}

Eigen::MatrixXf reconstruction_gradient(const Eigen::MatrixXf& residual, const SparseCoefs& codes) {
  if (Eigen::Index(codes.rows()) != residual.cols() || codes.dim != residual.rows())
    internal_error("training", "{} codes of dimension {} for {} residuals of dimension {}", codes.rows(), codes.dim,
                   residual.cols(), residual.rows());
  // Transpose the codes (CSR by vector → lists by atom, vectors ascending), so
  // each atom's column is one thread's fixed-order sum.
  const int n = codes.n_atoms;
  std::vector<uint32_t> start(size_t(n) + 1, 0);
  for (uint16_t j : codes.indices) ++start[j + 1];
  std::partial_sum(start.begin(), start.end(), start.begin());
  std::vector<uint32_t> fill(start.begin(), start.end() - 1), user(codes.nnz());
  std::vector<float> weight(codes.nnz());
  for (size_t v = 0; v < codes.rows(); ++v)
    for (uint32_t k = codes.row_ptr[v]; k < codes.row_ptr[v + 1]; ++k) {
      const uint32_t at = fill[codes.indices[k]]++;
      user[at] = uint32_t(v);
      weight[at] = codes.values[k];
    }
  Eigen::MatrixXf grad = Eigen::MatrixXf::Zero(residual.rows(), n);
  const float scale = -2.f / float(std::max<Eigen::Index>(residual.cols(), 1));
#pragma omp parallel for schedule(static)
  for (int j = 0; j < n; ++j) {
    for (uint32_t k = start[j]; k < start[j + 1]; ++k) grad.col(j) += weight[k] * residual.col(user[k]);
    grad.col(j) *= scale;
  }
  return grad;
}

double cosine_lr(double lr, int64_t step, int64_t total_steps) {
  if (total_steps <= 0) return lr;
  return lr * 0.5 * (1.0 + std::cos(std::numbers::pi * double(step) / double(total_steps)));
}

Eigen::MatrixXf random_dictionary(int m, int n, uint64_t seed) {
  SplitMix64 rng(seed);
  Eigen::MatrixXf d(m, n);
  for (Eigen::Index i = 0; i < d.size(); ++i) d.data()[i] = float(2.0 * rng.uniform() - 1.0);
  normalize_columns(d);
  return d;
}

std::unique_ptr<DictionaryLearner> make_learner(const LearnerFactory& factory, Eigen::MatrixXf init,
                                                const LearnerOptions& options) {
  if (factory) return factory(std::move(init), options);
  return std::make_unique<CpuDictionaryLearner>(std::move(init), options);
}

CpuDictionaryLearner::CpuDictionaryLearner(Eigen::MatrixXf init, LearnerOptions options)
    : options_(options),
      dict_(std::move(init)),
      adam_(dict_.rows(), dict_.cols(), options.adam),
      idle_(size_t(dict_.cols()), 0) {}

double CpuDictionaryLearner::step(const Eigen::Ref<const Eigen::MatrixXf>& batch, double lr) {
  const std::unique_ptr<SparseEncoder> encoder = make_encoder(options_.encoders, dict_);
  const SparseCoefs codes = encoder->encode(batch, omp_options(options_));
  const Eigen::MatrixXf residual = batch - reconstruct(dict_, codes);
  std::vector<double> squared_errors(size_t(batch.cols()));
  double total = 0.0;
  for (Eigen::Index v = 0; v < batch.cols(); ++v)
    total += squared_errors[size_t(v)] = residual.col(v).cast<double>().squaredNorm();

  Eigen::MatrixXf grad = reconstruction_gradient(residual, codes);
  project_radial(dict_, grad);
  adam_.step(dict_, grad, lr);
  normalize_columns(dict_);
  ++steps_;

  for (int64_t& idle : idle_) ++idle;
  for (uint16_t j : codes.indices) idle_[j] = 0;
  if (options_.dead_after > 0) restart_dead_atoms(residual, squared_errors);
  return total;
}

void CpuDictionaryLearner::restart_dead_atoms(const Eigen::MatrixXf& residual, const std::vector<double>& squared_errors) {
  std::vector<Eigen::Index> dead;
  for (size_t j = 0; j < idle_.size(); ++j)
    if (idle_[j] >= options_.dead_after) dead.push_back(Eigen::Index(j));
  if (dead.empty()) return;
  std::vector<Eigen::Index> worst(squared_errors.size());
  std::iota(worst.begin(), worst.end(), 0);
  const size_t n = std::min(dead.size(), worst.size());
  std::partial_sort(worst.begin(), worst.begin() + Eigen::Index(n), worst.end(), [&](Eigen::Index a, Eigen::Index b) {
    return squared_errors[size_t(a)] != squared_errors[size_t(b)]
               ? squared_errors[size_t(a)] > squared_errors[size_t(b)]
               : a < b;
  });
  for (size_t i = 0; i < n; ++i) {
    const float norm = residual.col(worst[i]).norm();
    if (!(norm > 0.f)) break;  // the rest are reconstructed exactly: nothing to learn from
    const Eigen::Index j = dead[i];
    dict_.col(j) = residual.col(worst[i]) / norm;
    adam_.reset_column(j);
    idle_[size_t(j)] = 0;
    ++restarted_;
  }
}

double CpuDictionaryLearner::mean_rre(const Eigen::MatrixXf& vectors) const {
  if (vectors.cols() == 0) return 0.0;
  const std::unique_ptr<SparseEncoder> encoder = make_encoder(options_.encoders, dict_);
  double sum = 0.0;
  for (Eigen::Index first = 0; first < vectors.cols(); first += kValidationBlock) {
    const auto x = vectors.middleCols(first, std::min(kValidationBlock, vectors.cols() - first));
    const SparseCoefs codes = encoder->encode(x, omp_options(options_));
    for (double e : relative_errors(x, reconstruct(dict_, codes))) sum += e;
  }
  return sum / double(vectors.cols());
}

DictionaryLearner::State CpuDictionaryLearner::state() const {
  return {dict_, adam_.first_moment(), adam_.second_moment(), adam_.steps(), idle_, steps_, restarted_};
}

void CpuDictionaryLearner::restore(State s) {
  if (s.dictionary.rows() != dict_.rows() || s.dictionary.cols() != dict_.cols() || s.idle.size() != idle_.size())
    internal_error("training", "restored learner state has the wrong shape");
  dict_ = std::move(s.dictionary);
  adam_.restore(std::move(s.adam_first), std::move(s.adam_second), std::move(s.adam_steps));
  idle_ = std::move(s.idle);
  steps_ = s.steps;
  restarted_ = s.restarted;
}

}  // namespace lexico
