// One dictionary's training, step by step (the Lexico recipe): a mini-batch is
// sparse-coded by OMP at fixed sparsity against the current D; with the codes
// held fixed, the loss (1/b) Σ ‖x − D y‖² is differentiated with respect to
// D; the gradient is projected off each atom's radial direction, Adam takes a
// step, and the atoms are renormalised to unit length. Atoms no vector has
// used for a while are restarted from the batch's worst residuals.
//
// Every result is independent of the thread count: OMP codes each vector on
// its own, and the gradient sums each atom's users in vector order.
#pragma once
#include <Eigen/Core>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "lexico/adam.h"
#include "lexico/dictionary_learner.h"
#include "lexico/sparse_codes.h"
#include "lexico/sparse_encoder.h"

namespace lexico {

// Scales each column to unit length; a zero column (no direction left)
// becomes the unit vector e_(j mod m).
void normalize_columns(Eigen::MatrixXf& d);

// Removes from each column g_j of grad its component along the unit atom d_j
// (g_j ← g_j − d_j d_jᵀ g_j): the part that would only change d_j's length,
// which renormalisation undoes anyway.
void project_radial(const Eigen::MatrixXf& d, Eigen::MatrixXf& grad);

// ∂/∂D of (1/b) Σ_v ‖r_v‖² with the codes held fixed, for residuals
// R = X − D Y (m×b): −(2/b) R Yᵀ, an m×codes.n_atoms matrix.
Eigen::MatrixXf reconstruction_gradient(const Eigen::MatrixXf& residual, const SparseCoefs& codes);

// Cosine decay from lr at step 0 towards 0 at total_steps:
// lr · ½ (1 + cos(π · step / total_steps)).
double cosine_lr(double lr, int64_t step, int64_t total_steps);

// m×n, entries uniform in [−1, 1) from SplitMix64(seed), columns normalised.
Eigen::MatrixXf random_dictionary(int m, int n, uint64_t seed);

class CpuDictionaryLearner final : public DictionaryLearner {
 public:
  CpuDictionaryLearner(Eigen::MatrixXf init, LearnerOptions options);

  Eigen::MatrixXf dictionary() const override { return dict_; }
  int64_t steps() const override { return steps_; }
  int64_t restarted() const override { return restarted_; }
  double step(const Eigen::Ref<const Eigen::MatrixXf>& batch, double lr) override;
  double mean_rre(const Eigen::MatrixXf& vectors) const override;
  State state() const override;
  void restore(State state) override;

  const Adam& adam() const { return adam_; }
  // Steps since each atom was last used by a code.
  const std::vector<int64_t>& idle() const { return idle_; }

 private:
  // Replaces atoms idle for dead_after steps by the normalised residuals of
  // the batch's worst-reconstructed vectors (largest ‖r‖², then lowest index).
  void restart_dead_atoms(const Eigen::MatrixXf& residual, const std::vector<double>& squared_errors);

  LearnerOptions options_;
  Eigen::MatrixXf dict_;
  Adam adam_;
  std::vector<int64_t> idle_;
  int64_t steps_ = 0, restarted_ = 0;
};

}  // namespace lexico
