// Reconstruction x̂ = D y from sparse codes, and the relative reconstruction
// error RRE = ‖x − x̂‖ / ‖x‖ by which the Lexico paper measures code quality.
#pragma once
#include <cstddef>
#include <vector>

#include <Eigen/Core>

#include "lexico/sparse_codes.h"

namespace lexico {

// One column of the m×rows result per code row. Throws bad_input when the
// codes' dimension or atom count disagree with the m×N dictionary.
Eigen::MatrixXf reconstruct(Eigen::Ref<const Eigen::MatrixXf> dictionary, const SparseCodes& codes);
Eigen::MatrixXf reconstruct(Eigen::Ref<const Eigen::MatrixXf> dictionary, const SparseCoefs& coefs);

// RRE of each column of x against the same column of x_hat (same shapes, else
// bad_input). A zero x has RRE 0 when x̂ is zero too, +∞ otherwise.
// Accumulates in double.
std::vector<double> relative_errors(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> x,
                                    Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> x_hat);

struct RreStats {
  size_t count = 0;
  double mean = 0.0;
  double std = 0.0;  // population standard deviation (divides by count, not count − 1)
};
RreStats rre_stats(const std::vector<double>& errors);

}  // namespace lexico
