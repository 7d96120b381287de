#include "lexico/adam.h"

#include <cmath>

#include "lexico/error.h"

namespace lexico {

Adam::Adam(Eigen::Index rows, Eigen::Index cols, AdamOptions options)
    : options_(options),
      m_(Eigen::MatrixXf::Zero(rows, cols)),
      v_(Eigen::MatrixXf::Zero(rows, cols)),
      steps_(size_t(cols), 0) {}

void Adam::step(Eigen::MatrixXf& param, const Eigen::MatrixXf& grad, double lr) {
  if (param.rows() != m_.rows() || param.cols() != m_.cols() || grad.rows() != m_.rows() || grad.cols() != m_.cols())
    internal_error("adam", "shapes {}×{} (parameter) and {}×{} (gradient) differ from the optimizer's {}×{}",
                   param.rows(), param.cols(), grad.rows(), grad.cols(), m_.rows(), m_.cols());
  const float b1 = float(options_.beta1), b2 = float(options_.beta2), eps = float(options_.epsilon);
  for (Eigen::Index j = 0; j < m_.cols(); ++j) {
    const double t = double(++steps_[size_t(j)]);
    const float step_size = float(lr / (1.0 - std::pow(options_.beta1, t)));
    const float root_correction = float(std::sqrt(1.0 - std::pow(options_.beta2, t)));
    auto m = m_.col(j), v = v_.col(j);
    const auto g = grad.col(j);
    m = b1 * m + (1.f - b1) * g;
    v = b2 * v + (1.f - b2) * g.cwiseAbs2();
    // √(v/(1−β2ᵗ)) + ε = (√v + ε·√(1−β2ᵗ)) / √(1−β2ᵗ): one division per element.
    param.col(j).array() -= step_size * root_correction * m.array() / (v.array().sqrt() + eps * root_correction);
  }
}

void Adam::reset_column(Eigen::Index col) {
  m_.col(col).setZero();
  v_.col(col).setZero();
  steps_[size_t(col)] = 0;
}

void Adam::restore(Eigen::MatrixXf first, Eigen::MatrixXf second, std::vector<int64_t> steps) {
  if (first.rows() != m_.rows() || first.cols() != m_.cols() || second.rows() != m_.rows() ||
      second.cols() != m_.cols() || steps.size() != steps_.size())
    internal_error("adam", "restored state has the wrong shape");
  m_ = std::move(first);
  v_ = std::move(second);
  steps_ = std::move(steps);
}

}  // namespace lexico
