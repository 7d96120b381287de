// The GPU twin of lexico::CpuDictionaryLearner (lexico/dictionary_training_step.h):
// the same training step — OMP codes at fixed s, the gradient of
// (1/b) Σ ‖x − D y‖² with the codes held fixed, the radial projection, Adam,
// renormalisation, dead-atom restarts — with the dictionary, Adam's moments
// and every product on the device. Per step only the batch goes up and the
// squared errors and idle counts come back (for the returned loss and the
// restart choice, which the host makes as the CPU does).
//
// How: the codes by GpuOmpEncoder (its FP16/float copies of D refreshed on
// the device each step); residuals r = x − D_I γ by a gather kernel; the
// gradient −(2/b) R Yᵀ by cuBLAS SGEMMs against the codes scattered into a
// dense N-row block of ≤ 128 MiB (FP32, pedantic: no TF32); then one
// kernel a warp per atom projects, steps Adam (per-atom step counts, bias
// corrections in double, as lexico::Adam), renormalises and counts idle
// steps. Results are identical run to run on one GPU and agree with the CPU
// learner to float tolerance.
//
// Limits: those of GpuOmpEncoder (m ≤ 128, s ≤ 32). LearnerOptions::encoders
// and ::threads are not used: the codes are always the GPU's.
#pragma once
#include <memory>

#include <Eigen/Core>

#include "lexico/dictionary_learner.h"

namespace lexico::cuda {

class GpuDictionaryLearner final : public DictionaryLearner {
 public:
  // init: m×N with unit-norm columns (the OMP encoder's bad_input otherwise).
  // Throws Error(Internal, "cuda", ...) without a usable GPU, for a shape the
  // kernels do not take, or when the state does not fit in GPU memory.
  GpuDictionaryLearner(const Eigen::MatrixXf& init, const LearnerOptions& options);
  ~GpuDictionaryLearner() override;

  Eigen::MatrixXf dictionary() const override;
  int64_t steps() const override { return steps_; }
  int64_t restarted() const override { return restarted_; }
  double step(const Eigen::Ref<const Eigen::MatrixXf>& batch, double lr) override;
  double mean_rre(const Eigen::MatrixXf& vectors) const override;
  State state() const override;
  void restore(State state) override;

  // Empty when the GPU learner takes this shape and options; else why not.
  static std::string unsupported_reason(int dim, int n_atoms, const LearnerOptions& options);
  size_t device_bytes() const;  // held on the GPU now

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  LearnerOptions options_;
  int64_t steps_ = 0, restarted_ = 0;
};

}  // namespace lexico::cuda
