// Adam (Kingma & Ba, 2015) for a parameter matrix whose columns are separate
// objects (dictionary atoms): each column keeps its own step count, so a
// column restarted with reset_column() gets fresh bias correction, exactly as
// if a new optimizer had been started for it.
#pragma once
#include <Eigen/Core>
#include <cstdint>
#include <vector>

namespace lexico {

struct AdamOptions {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-8;
};

class Adam {
 public:
  Adam(Eigen::Index rows, Eigen::Index cols, AdamOptions options = {});

  // One update at learning rate lr, column j at its step t = steps(j) + 1:
  //   m ← β1 m + (1−β1) g,  v ← β2 v + (1−β2) g²,
  //   θ ← θ − lr · (m / (1−β1ᵗ)) / (√(v / (1−β2ᵗ)) + ε).
  // Moments in float, bias corrections in double.
  void step(Eigen::MatrixXf& param, const Eigen::MatrixXf& grad, double lr);
  // Zeroes column j's moments and step count.
  void reset_column(Eigen::Index col);

  const AdamOptions& options() const { return options_; }
  const Eigen::MatrixXf& first_moment() const { return m_; }
  const Eigen::MatrixXf& second_moment() const { return v_; }
  const std::vector<int64_t>& steps() const { return steps_; }
  // Restores a state read back from a checkpoint (shapes must match).
  void restore(Eigen::MatrixXf first, Eigen::MatrixXf second, std::vector<int64_t> steps);

 private:
  AdamOptions options_;
  Eigen::MatrixXf m_, v_;
  std::vector<int64_t> steps_;
};

}  // namespace lexico
