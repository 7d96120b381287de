#include "sparse/sparse_solver_batch.h"

#include <Eigen/QR>
#include <cmath>

namespace lexico::solver {

void check_sparsity_and_threads(int sparsity, int threads, int dim, int n_atoms, const char* where) {
  const int max_sparsity = std::min(dim, n_atoms);
  if (sparsity < 1 || sparsity > max_sparsity)
    usage_error(where, "sparsity {} is outside 1..{} (min of dimension {} and atoms {})", sparsity, max_sparsity, dim,
                n_atoms);
  if (threads < 0) usage_error(where, "threads {} is negative", threads);
}

void fit_on_support(const Eigen::MatrixXf& dictionary, const float* x, const int* support, int k, float* values) {
  if (k == 0) return;
  Eigen::MatrixXd atoms(dictionary.rows(), k);
  for (int i = 0; i < k; ++i) atoms.col(i) = dictionary.col(support[i]).cast<double>();
  const Eigen::VectorXd target = Eigen::Map<const Eigen::VectorXf>(x, dictionary.rows()).cast<double>();
  const Eigen::VectorXd fit = atoms.colPivHouseholderQr().solve(target);
  for (int i = 0; i < k; ++i) values[i] = float(fit[i]);
}

}  // namespace lexico::solver
