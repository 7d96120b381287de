// Shared by the GPU tests: skip (with the reason) where no usable GPU is
// present — CI compiles the CUDA code but has no GPU.
#pragma once
#include <doctest/doctest.h>

#include <functional>
#include <random>
#include <string>

#include <Eigen/Core>

#include "lexico/cuda/device.h"
#include "lexico/error.h"

#define LEXICO_REQUIRE_GPU()                                                                         \
  do {                                                                                               \
    if (!::lexico::cuda::gpu_usable()) {                                                             \
      MESSAGE("skipped: no usable CUDA GPU (" << ::lexico::cuda::device_info().reason << ")");      \
      return;                                                                                        \
    }                                                                                                \
  } while (0)

namespace lexico::cuda::test {

// The message of the lexico::Error f throws (its kind into *kind), or "(no error)".
inline std::string error_text(const std::function<void()>& f, ErrorKind* kind = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (kind) *kind = e.kind();
    return e.what();
  }
  return "(no error)";
}

inline Eigen::MatrixXf random_dictionary(int m, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  Eigen::MatrixXf d = Eigen::MatrixXf::NullaryExpr(m, n, [&] { return normal(rng); });
  d.colwise().normalize();
  return d;
}

inline Eigen::MatrixXf random_vectors(int m, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  return Eigen::MatrixXf::NullaryExpr(m, n, [&] { return normal(rng); });
}

// Half Gaussian noise, half sparse combinations of atoms plus a little noise
// (the case OMP is for: supports are then recoverable).
inline Eigen::MatrixXf mixed_vectors(const Eigen::MatrixXf& d, int n, int k, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::uniform_int_distribution<int> atom(0, int(d.cols()) - 1);
  Eigen::MatrixXf x(d.rows(), n);
  for (int v = 0; v < n; ++v) {
    if (v % 2 == 0) {
      for (int e = 0; e < d.rows(); ++e) x(e, v) = normal(rng);
    } else {
      x.col(v).setZero();
      for (int t = 0; t < k; ++t) x.col(v) += normal(rng) * d.col(atom(rng));
      for (int e = 0; e < d.rows(); ++e) x(e, v) += 0.01f * normal(rng);
    }
  }
  return x;
}

}  // namespace lexico::cuda::test
