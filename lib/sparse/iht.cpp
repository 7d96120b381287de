#include "lexico/iht.h"

#include <Eigen/Eigenvalues>
#include <algorithm>
#include <cmath>
#include <vector>

#include "lexico/error.h"
#include "lexico/omp.h"
#include "sparse/sparse_solver_batch.h"

namespace lexico {

namespace {

constexpr int kVectorBlock = 64;  // vectors per Dᵀ R GEMM
constexpr double kShrink = 2.0;   // κ of NIHT's step shrinking
constexpr double kMargin = 0.01;  // c of NIHT's step condition
constexpr int kMaxShrinks = 60;   // μ / (κ(1−c))⁶⁰ ≈ 1e-18 μ: give up the step

// One thread's state for a block of vectors: per vector its support and
// coefficients (the iterate y), and dense buffers of length N.
class IhtWorker {
 public:
  IhtWorker(const IhtEncoder& encoder, const IhtOptions& options)
      : d_(encoder.dictionary()),
        options_(options),
        fixed_step_(1.0 / encoder.spectral_norm_sq()),
        residual_(d_.rows(), kVectorBlock),
        gradient_(d_.cols(), kVectorBlock),
        support_(size_t(kVectorBlock) * options.sparsity),
        coefs_(size_t(kVectorBlock) * options.sparsity),
        active_(kVectorBlock),
        candidate_(d_.cols()),
        new_support_(options.sparsity),
        new_coefs_(options.sparsity) {}

  void operator()(solver::VectorBatch x, solver::RowSlots rows) {
    const int count = int(x.cols()), s = options_.sparsity;
    for (int i = 0; i < count; ++i) {
      active_[i] = x.col(i).squaredNorm() > 0.0f;
      rows.count[i] = 0;
    }
    int n_support = 0;  // 0 before the first step (y⁰ = 0), s after
    for (int iteration = 0; iteration < options_.iterations; ++iteration) {
      if (std::none_of(active_.begin(), active_.begin() + count, [](char a) { return a; })) break;
      for (int i = 0; i < count; ++i) {
        residual_.col(i) = x.col(i);
        for (int k = 0; k < n_support; ++k) residual_.col(i) -= coefs_[i * s + k] * d_.col(support_[i * s + k]);
      }
      gradient_.leftCols(count).noalias() = d_.transpose() * residual_.leftCols(count);
      for (int i = 0; i < count; ++i)
        if (active_[i]) active_[i] = step(i, n_support, x.col(i).data());
      n_support = s;
    }
    for (int i = 0; i < count; ++i) {
      if (x.col(i).squaredNorm() == 0.0f) continue;
      solver::fit_on_support(d_, x.col(i).data(), &support_[i * s], s, &rows.values[size_t(i) * s]);
      for (int k = 0; k < s; ++k) rows.indices[size_t(i) * s + k] = uint16_t(support_[i * s + k]);
      rows.count[i] = s;
    }
  }

 private:
  // new_support_/new_coefs_ = H_s(y + μ g) for vector i's iterate y.
  void threshold(int i, int n_support, double mu) {
    const int s = options_.sparsity;
    const auto g = gradient_.col(i);
    for (Eigen::Index j = 0; j < g.size(); ++j) candidate_[j] = float(mu * g[j]);
    for (int k = 0; k < n_support; ++k) candidate_[support_[i * s + k]] += coefs_[i * s + k];
    // The s largest |candidate| (ties to the lower index) by one scan with a
    // min-heap of the best so far: O(N) compares, rare heap updates.
    const auto larger = [&](int a, int b) {
      const float ma = std::abs(candidate_[a]), mb = std::abs(candidate_[b]);
      return ma > mb || (ma == mb && a < b);
    };
    top_.clear();
    float floor = 0.0f;  // |candidate| of the heap's weakest entry
    for (int j = 0; j < int(candidate_.size()); ++j) {
      if (int(top_.size()) < s) {
        top_.push_back(j);
        std::push_heap(top_.begin(), top_.end(), larger);
      } else if (std::abs(candidate_[j]) > floor) {  // an equal one has a higher index: it loses
        std::pop_heap(top_.begin(), top_.end(), larger);
        top_.back() = j;
        std::push_heap(top_.begin(), top_.end(), larger);
      } else {
        continue;
      }
      floor = std::abs(candidate_[top_.front()]);
    }
    std::sort(top_.begin(), top_.end(), larger);
    for (int k = 0; k < s; ++k) {
      new_support_[k] = top_[k];
      new_coefs_[k] = candidate_[top_[k]];
    }
  }

  static bool same_set(std::vector<int> a, std::vector<int> b) {
    std::sort(a.begin(), a.end());
    std::sort(b.begin(), b.end());
    return a == b;
  }

  // One IHT step for vector i; false when it is at a fixed point.
  bool step(int i, int n_support, const float* x_data) {
    const int s = options_.sparsity;
    const auto g = gradient_.col(i);
    if (options_.step == IhtStep::Fixed) {
      threshold(i, n_support, fixed_step_);
      accept(i);
      return true;
    }
    // Γ: the current support, or at the start that of H_s(Dᵀx).
    std::vector<int> gamma(support_.begin() + i * s, support_.begin() + i * s + s);
    if (n_support == 0) {
      threshold(i, 0, 1.0);
      gamma = new_support_;
    }
    double g_sq = 0.0;
    Eigen::VectorXd d_g = Eigen::VectorXd::Zero(d_.rows());
    for (int j : gamma) {
      g_sq += double(g[j]) * g[j];
      d_g += double(g[j]) * d_.col(j).cast<double>();
    }
    if (g_sq == 0.0 || d_g.squaredNorm() == 0.0) {
      if (n_support == 0) accept(i);  // x ⟂ Γ's atoms: keep Γ = supp H_s(Dᵀx) for the final fit
      return false;
    }
    double mu = g_sq / d_g.squaredNorm();
    for (int shrinks = 0; shrinks <= kMaxShrinks; ++shrinks, mu /= kShrink * (1.0 - kMargin)) {
      threshold(i, n_support, mu);
      if (same_set(new_support_, gamma)) break;
      // ω = (1 − c)‖y⁺ − y‖² / ‖D(y⁺ − y)‖², with Dy = x − r.
      const Eigen::Map<const Eigen::VectorXf> x(x_data, d_.rows());
      Eigen::VectorXd change = -(x - residual_.col(i)).cast<double>();
      double change_sq = 0.0;
      for (int k = 0; k < s; ++k) {
        change += double(new_coefs_[k]) * d_.col(new_support_[k]).cast<double>();
        double old = 0.0;
        for (int t = 0; t < n_support; ++t)
          if (support_[i * s + t] == new_support_[k]) old = coefs_[i * s + t];
        change_sq += (new_coefs_[k] - old) * (new_coefs_[k] - old);
      }
      for (int t = 0; t < n_support; ++t)
        if (std::find(new_support_.begin(), new_support_.end(), support_[i * s + t]) == new_support_.end())
          change_sq += double(coefs_[i * s + t]) * coefs_[i * s + t];
      const double image_sq = change.squaredNorm();
      if (image_sq == 0.0 || mu <= (1.0 - kMargin) * change_sq / image_sq) break;
      if (shrinks == kMaxShrinks) return false;  // no admissible step: keep y
    }
    accept(i);
    return true;
  }

  void accept(int i) {
    const int s = options_.sparsity;
    std::copy(new_support_.begin(), new_support_.end(), support_.begin() + i * s);
    std::copy(new_coefs_.begin(), new_coefs_.end(), coefs_.begin() + i * s);
  }

  const Eigen::MatrixXf& d_;
  const IhtOptions& options_;
  const double fixed_step_;
  Eigen::MatrixXf residual_, gradient_;
  std::vector<int> support_;
  std::vector<float> coefs_;
  std::vector<char> active_;
  std::vector<float> candidate_;
  std::vector<int> top_;  // heap, then the kept atoms by decreasing |candidate|
  std::vector<int> new_support_;
  std::vector<float> new_coefs_;
};

}  // namespace

IhtEncoder::IhtEncoder(Eigen::Ref<const Eigen::MatrixXf> dictionary) : dictionary_(dictionary) {
  check_unit_dictionary(dictionary_, "iht dictionary");
  const Eigen::MatrixXd frame = dictionary_.cast<double>() * dictionary_.cast<double>().transpose();
  spectral_norm_sq_ =
      Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd>(frame, Eigen::EigenvaluesOnly).eigenvalues().maxCoeff();
}

SparseCoefs IhtEncoder::encode(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                               const IhtOptions& options) const {
  const char* where = "iht";
  solver::check_sparsity_and_threads(options.sparsity, options.threads, dim(), n_atoms(), where);
  if (options.iterations < 1) usage_error(where, "iterations {} is below 1", options.iterations);
  return solver::encode_in_blocks(dim(), n_atoms(), vectors, options.sparsity, options.threads, kVectorBlock, where,
                                  [&] { return IhtWorker(*this, options); });
}

}  // namespace lexico
