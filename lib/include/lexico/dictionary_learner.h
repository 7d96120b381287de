// One dictionary's learner as lexico-train's loop sees it (FAISS-style: one
// interface, a CPU and a GPU implementation): CpuDictionaryLearner
// (lexico/dictionary_training_step.h) or lexico::cuda::GpuDictionaryLearner
// (cuda/dictionary_learner.h), made by a LearnerFactory.
#pragma once
#include <Eigen/Core>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "lexico/adam.h"
#include "lexico/sparse_encoder.h"

namespace lexico {

struct LearnerOptions {
  int sparsity = 8;     // s: atoms per vector in the codes
  int dead_after = 50;  // restart an atom after this many steps unused; 0 = never
  int threads = 0;      // OpenMP threads for the codes; 0 = all (CPU learner)
  AdamOptions adam;
  EncoderFactory encoders;  // who codes the CPU learner's batches (empty: OmpEncoder)
};

// The learner of one dictionary. CpuDictionaryLearner and the GPU's twin
// (which keeps the dictionary and Adam's moments on the device) take the
// same steps to float tolerance; each is identical run to run on its device.
class DictionaryLearner {
 public:
  // Checkpoint state: everything step() depends on besides its arguments.
  struct State {
    Eigen::MatrixXf dictionary, adam_first, adam_second;
    std::vector<int64_t> adam_steps, idle;
    int64_t steps = 0, restarted = 0;
  };

  virtual ~DictionaryLearner() = default;
  virtual Eigen::MatrixXf dictionary() const = 0;  // m×N, unit-norm columns
  virtual int64_t steps() const = 0;
  virtual int64_t restarted() const = 0;  // atoms re-initialised so far
  // One training step on the columns of batch (m×b) at learning rate lr.
  // Returns Σ_v ‖x_v − D y_v‖² of the batch before the update.
  virtual double step(const Eigen::Ref<const Eigen::MatrixXf>& batch, double lr) = 0;
  // Mean relative reconstruction error ‖x − D y‖ / ‖x‖ of the columns of
  // vectors with s-sparse OMP codes.
  virtual double mean_rre(const Eigen::MatrixXf& vectors) const = 0;
  virtual State state() const = 0;
  virtual void restore(State state) = 0;
};

// Makes a learner from an initial dictionary (m×N, unit-norm columns).
using LearnerFactory =
    std::function<std::unique_ptr<DictionaryLearner>(Eigen::MatrixXf init, const LearnerOptions& options)>;
// factory(init, options), or a CpuDictionaryLearner when the factory is empty.
std::unique_ptr<DictionaryLearner> make_learner(const LearnerFactory& factory, Eigen::MatrixXf init,
                                                const LearnerOptions& options);

}  // namespace lexico
