#include "lexico/recon.h"

#include <cmath>
#include <limits>

#include "lexico/error.h"
#include "lexico/fp8.h"

namespace lexico {

namespace {

template <typename Value>
Eigen::MatrixXf reconstruct_rows(Eigen::Ref<const Eigen::MatrixXf> dictionary, const SparseRows<Value>& rows,
                                 float (*value_of)(Value)) {
  const char* where = "reconstruct";
  check_structure(rows, where);
  if (rows.dim != dictionary.rows() || rows.n_atoms != dictionary.cols())
    bad_input(where, "codes for a {}×{} dictionary, given {}×{}", rows.dim, rows.n_atoms, dictionary.rows(),
              dictionary.cols());
  Eigen::MatrixXf out = Eigen::MatrixXf::Zero(dictionary.rows(), Eigen::Index(rows.rows()));
#pragma omp parallel for schedule(static)
  for (int64_t r = 0; r < int64_t(rows.rows()); ++r)
    for (uint32_t k = rows.row_ptr[r]; k < rows.row_ptr[r + 1]; ++k)
      out.col(r) += value_of(rows.values[k]) * dictionary.col(rows.indices[k]);
  return out;
}

float identity(float value) { return value; }

}  // namespace

Eigen::MatrixXf reconstruct(Eigen::Ref<const Eigen::MatrixXf> dictionary, const SparseCodes& codes) {
  return reconstruct_rows(dictionary, codes, &fp8_e4m3_decode);
}

Eigen::MatrixXf reconstruct(Eigen::Ref<const Eigen::MatrixXf> dictionary, const SparseCoefs& coefs) {
  return reconstruct_rows(dictionary, coefs, &identity);
}

std::vector<double> relative_errors(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> x,
                                    Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> x_hat) {
  if (x.rows() != x_hat.rows() || x.cols() != x_hat.cols())
    bad_input("relative error", "shapes {}×{} and {}×{} differ", x.rows(), x.cols(), x_hat.rows(), x_hat.cols());
  std::vector<double> errors(x.cols());
  for (Eigen::Index c = 0; c < x.cols(); ++c) {
    const double error = (x.col(c).cast<double>() - x_hat.col(c).cast<double>()).norm();
    const double norm = x.col(c).cast<double>().norm();
    errors[c] = norm > 0.0 ? error / norm : error == 0.0 ? 0.0 : std::numeric_limits<double>::infinity();
  }
  return errors;
}

RreStats rre_stats(const std::vector<double>& errors) {
  RreStats stats;
  stats.count = errors.size();
  if (errors.empty()) return stats;
  for (double e : errors) stats.mean += e;
  stats.mean /= double(errors.size());
  double sum_sq = 0.0;
  for (double e : errors) sum_sq += (e - stats.mean) * (e - stats.mean);
  stats.std = std::sqrt(sum_sq / double(errors.size()));
  return stats;
}

}  // namespace lexico
