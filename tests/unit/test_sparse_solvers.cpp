// The alternatives to Batch-OMP: iterative hard thresholding, Lasso by
// coordinate descent, and beam-search OMP.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <set>

#include "lexico/error.h"
#include "lexico/iht.h"
#include "lexico/lasso.h"
#include "lexico/omp.h"
#include "lexico/omp_beam.h"
#include "lexico/recon.h"

using namespace lexico;

namespace {

Eigen::MatrixXf gaussian_dictionary(int m, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  Eigen::MatrixXf d = Eigen::MatrixXf::NullaryExpr(m, n, [&] { return normal(rng); });
  d.colwise().normalize();
  return d;
}

Eigen::MatrixXf gaussian_vectors(int m, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  return Eigen::MatrixXf::NullaryExpr(m, n, [&] { return normal(rng); });
}

// Exactly s-sparse signals: s distinct random atoms, coefficients of random
// sign and magnitude in [0.5, 1.5].
struct Planted {
  Eigen::MatrixXf x;
  std::vector<std::set<int>> support;
};

Planted planted_signals(const Eigen::MatrixXf& d, int s, int count, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> magnitude(0.5f, 1.5f);
  std::vector<int> atoms(d.cols());
  std::iota(atoms.begin(), atoms.end(), 0);
  Planted p{Eigen::MatrixXf::Zero(d.rows(), count), std::vector<std::set<int>>(count)};
  for (int v = 0; v < count; ++v) {
    std::shuffle(atoms.begin(), atoms.end(), rng);
    for (int k = 0; k < s; ++k) {
      p.support[v].insert(atoms[k]);
      p.x.col(v) += (rng() & 1 ? 1.0f : -1.0f) * magnitude(rng) * d.col(atoms[k]);
    }
  }
  return p;
}

std::vector<int> row_atoms(const SparseCoefs& c, size_t r) {
  return {c.indices.begin() + c.row_ptr[r], c.indices.begin() + c.row_ptr[r + 1]};
}

std::set<int> row_set(const SparseCoefs& c, size_t r) {
  const std::vector<int> atoms = row_atoms(c, r);
  return {atoms.begin(), atoms.end()};
}

std::vector<double> errors_of(const Eigen::MatrixXf& d, const Eigen::MatrixXf& x, const SparseCoefs& c) {
  return relative_errors(x, reconstruct(d, c));
}

double mean(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / double(v.size()); }

ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  return ErrorKind::Internal;  // did not throw
}

// Every row holds exactly s distinct atoms, and its coefficients are the
// least-squares fit on them: the residual is orthogonal to each chosen atom.
void check_refitted_rows(const Eigen::MatrixXf& d, const Eigen::MatrixXf& x, const SparseCoefs& c, int s) {
  const Eigen::MatrixXf residual = x - reconstruct(d, c);
  for (size_t r = 0; r < c.rows(); ++r) {
    CAPTURE(r);
    REQUIRE(c.row_nnz(r) == uint32_t(s));
    CHECK(row_set(c, r).size() == size_t(s));
    for (int atom : row_atoms(c, r)) CHECK(std::abs(d.col(atom).dot(residual.col(r))) <= 1e-4f * x.col(r).norm());
  }
}

}  // namespace

// The fraction of rows whose atoms are exactly the planted support.
double recovered(const SparseCoefs& codes, const Planted& p) {
  int exact = 0;
  for (int v = 0; v < p.x.cols(); ++v) exact += row_set(codes, v) == p.support[v];
  return double(exact) / double(p.x.cols());
}

TEST_CASE("sparse solvers: NIHT recovers planted sparse signals; the fixed step lags") {
  const int m = 64, n = 256, s = 4;
  const IhtEncoder encoder(gaussian_dictionary(m, n, 1));
  const Planted p = planted_signals(encoder.dictionary(), s, 200, 2);
  IhtOptions options;
  options.sparsity = s;
  options.iterations = 50;
  const SparseCoefs codes = encoder.encode(p.x, options);
  CHECK(recovered(codes, p) == 1.0);
  for (double e : errors_of(encoder.dictionary(), p.x, codes)) CHECK(e < 1e-5);
  // One iteration from y = 0 is thresholded correlation: far from exact.
  options.iterations = 1;
  const double one_iteration = recovered(encoder.encode(p.x, options), p);
  CHECK(one_iteration < 0.9);
  // μ = 1/‖D‖₂² (≈ 1/9 here) moves slowly and stalls at wrong supports
  // more often, but still improves on one iteration.
  options.step = IhtStep::Fixed;
  options.iterations = 300;
  const double fixed = recovered(encoder.encode(p.x, options), p);
  CHECK(fixed > one_iteration);
}

TEST_CASE("sparse solvers: Lasso recovers planted sparse signals") {
  const int m = 64, n = 256, s = 4;
  const LassoEncoder encoder(gaussian_dictionary(m, n, 3));
  const Planted p = planted_signals(encoder.dictionary(), s, 200, 4);
  LassoOptions options;
  options.sparsity = s;
  options.path_ratio = 0.9;
  options.max_sweeps = 50;
  const SparseCoefs codes = encoder.encode(p.x, options);
  // The path can admit a wrong atom before the last true one (the Lasso's
  // irrepresentability condition fails now and then): nearly all, not all.
  CHECK(recovered(codes, p) >= 0.95);
  int exact = 0;
  for (double e : errors_of(encoder.dictionary(), p.x, codes)) exact += e < 1e-5;
  CHECK(exact >= 0.95 * p.x.cols());
}

TEST_CASE("sparse solvers: IHT and Lasso on dense vectors give least-squares codes no better than OMP's on average") {
  const int m = 32, n = 128, s = 6;
  const Eigen::MatrixXf d = gaussian_dictionary(m, n, 5);
  const Eigen::MatrixXf x = gaussian_vectors(m, 300, 6);
  OmpOptions omp;
  omp.sparsity = s;
  const double omp_error = mean(errors_of(d, x, OmpEncoder(d).encode(x, omp)));
  IhtOptions iht;
  iht.sparsity = s;
  const SparseCoefs iht_codes = IhtEncoder(d).encode(x, iht);
  LassoOptions lasso;
  lasso.sparsity = s;
  const SparseCoefs lasso_codes = LassoEncoder(d).encode(x, lasso);
  check_refitted_rows(d, x, iht_codes, s);
  check_refitted_rows(d, x, lasso_codes, s);
  // Sane: within a band around OMP's error, and never worse than no code.
  for (const SparseCoefs* codes : {&iht_codes, &lasso_codes}) {
    const std::vector<double> errors = errors_of(d, x, *codes);
    CHECK(mean(errors) > 0.9 * omp_error);
    CHECK(mean(errors) < 1.5 * omp_error);
    for (double e : errors) CHECK(e <= 1.0 + 1e-6);
  }
}

TEST_CASE("sparse solvers: beam-search OMP with B = 1 is OMP") {
  const int m = 32, n = 128;
  const Eigen::MatrixXf d = gaussian_dictionary(m, n, 7);
  const OmpEncoder omp(d);
  const BeamOmpEncoder beam(d);
  const Eigen::MatrixXf dense = gaussian_vectors(m, 300, 8);
  const Planted planted = planted_signals(d, 5, 100, 9);
  for (const Eigen::MatrixXf* x : {&dense, &planted.x}) {
    for (int s : {1, 5, 12}) {
      CAPTURE(s);
      OmpOptions omp_options;
      omp_options.sparsity = s;
      BeamOmpOptions beam_options;
      beam_options.sparsity = s;
      beam_options.beam_width = 1;
      const SparseCoefs expected = omp.encode(*x, omp_options);
      const SparseCoefs got = beam.encode(*x, beam_options);
      REQUIRE(got.rows() == expected.rows());
      for (size_t r = 0; r < got.rows(); ++r) {
        CAPTURE(r);
        REQUIRE(row_atoms(got, r) == row_atoms(expected, r));  // same atoms, same order
        for (uint32_t k = got.row_ptr[r]; k < got.row_ptr[r + 1]; ++k)
          CHECK(got.values[k] == doctest::Approx(expected.values[k]).epsilon(1e-4).scale(x->col(r).norm()));
      }
    }
  }
}

TEST_CASE("sparse solvers: a wider beam never ends worse than OMP and helps on average") {
  const int m = 32, n = 128, s = 8;
  const Eigen::MatrixXf d = gaussian_dictionary(m, n, 10);
  const Eigen::MatrixXf x = gaussian_vectors(m, 400, 11);
  OmpOptions omp_options;
  omp_options.sparsity = s;
  const std::vector<double> omp_errors = errors_of(d, x, OmpEncoder(d).encode(x, omp_options));
  const BeamOmpEncoder beam(d);
  double previous_mean = mean(omp_errors);
  for (int width : {2, 4, 8}) {
    CAPTURE(width);
    BeamOmpOptions options;
    options.sparsity = s;
    options.beam_width = width;
    const SparseCoefs codes = beam.encode(x, options);
    check_refitted_rows(d, x, codes, s);
    const std::vector<double> errors = errors_of(d, x, codes);
    for (size_t v = 0; v < errors.size(); ++v) CHECK(errors[v] <= omp_errors[v] + 1e-6);
    CHECK(mean(errors) < previous_mean);
    previous_mean = mean(errors);
  }
}

TEST_CASE("sparse solvers: zero vectors get empty rows; threads do not change results") {
  const int m = 16, n = 64, s = 4;
  const Eigen::MatrixXf d = gaussian_dictionary(m, n, 12);
  Eigen::MatrixXf x = gaussian_vectors(m, 150, 13);
  x.col(0).setZero();
  x.col(77).setZero();
  auto check = [&](const std::function<SparseCoefs(int)>& encode) {
    const SparseCoefs one = encode(1), two = encode(2);
    CHECK(one.row_nnz(0) == 0);
    CHECK(one.row_nnz(77) == 0);
    CHECK(one.row_nnz(1) == uint32_t(s));
    CHECK(one.row_ptr == two.row_ptr);
    CHECK(one.indices == two.indices);
    CHECK(one.values == two.values);
  };
  const IhtEncoder iht(d);
  const LassoEncoder lasso(d);
  const BeamOmpEncoder beam(d);
  check([&](int threads) { return iht.encode(x, IhtOptions{s, 10, IhtStep::Normalized, threads}); });
  check([&](int threads) { return lasso.encode(x, LassoOptions{s, 0.8, 8, 1e-4, threads}); });
  check([&](int threads) { return beam.encode(x, BeamOmpOptions{s, 3, threads}); });
}

TEST_CASE("sparse solvers: a vector orthogonal to every atom gets zero coefficients") {
  // D = [e1, e2] in R³ and x = e3: Dᵀx = 0, no atom helps.
  Eigen::MatrixXf d = Eigen::MatrixXf::Zero(3, 2);
  d(0, 0) = d(1, 1) = 1.0f;
  Eigen::MatrixXf x = Eigen::MatrixXf::Zero(3, 1);
  x(2, 0) = 1.0f;
  // IHT keeps exactly s atoms (those of H_s(Dᵀx)), with zero coefficients.
  for (IhtStep step : {IhtStep::Normalized, IhtStep::Fixed}) {
    const SparseCoefs codes = IhtEncoder(d).encode(x, IhtOptions{2, 5, step, 1});
    REQUIRE(codes.row_nnz(0) == 2);
    CHECK(row_set(codes, 0) == std::set<int>{0, 1});
    for (float v : codes.values) CHECK(v == 0.0f);
  }
  CHECK(LassoEncoder(d).encode(x, LassoOptions{2, 0.8, 8, 1e-4, 1}).row_nnz(0) == 0);
  CHECK(BeamOmpEncoder(d).encode(x, BeamOmpOptions{2, 2, 1}).row_nnz(0) == 0);
}

TEST_CASE("sparse solvers: invalid options, vectors and dictionaries are rejected") {
  const Eigen::MatrixXf d = gaussian_dictionary(8, 16, 14);
  const Eigen::MatrixXf x = gaussian_vectors(8, 3, 15);
  const IhtEncoder iht(d);
  const LassoEncoder lasso(d);
  const BeamOmpEncoder beam(d);
  auto usage = [](const std::function<void()>& f) { return kind_of(f) == ErrorKind::Usage; };
  CHECK(usage([&] { iht.encode(x, IhtOptions{0, 10, IhtStep::Normalized, 0}); }));
  CHECK(usage([&] { iht.encode(x, IhtOptions{9, 10, IhtStep::Normalized, 0}); }));  // s > m
  CHECK(usage([&] { iht.encode(x, IhtOptions{2, 0, IhtStep::Normalized, 0}); }));
  CHECK(usage([&] { iht.encode(x, IhtOptions{2, 10, IhtStep::Fixed, -1}); }));
  CHECK(usage([&] { lasso.encode(x, LassoOptions{0, 0.8, 8, 1e-4, 0}); }));
  CHECK(usage([&] { lasso.encode(x, LassoOptions{2, 0.0, 8, 1e-4, 0}); }));
  CHECK(usage([&] { lasso.encode(x, LassoOptions{2, 1.0, 8, 1e-4, 0}); }));
  CHECK(usage([&] { lasso.encode(x, LassoOptions{2, NAN, 8, 1e-4, 0}); }));
  CHECK(usage([&] { lasso.encode(x, LassoOptions{2, 0.8, 0, 1e-4, 0}); }));
  CHECK(usage([&] { lasso.encode(x, LassoOptions{2, 0.8, 8, -1.0, 0}); }));
  CHECK(usage([&] { beam.encode(x, BeamOmpOptions{0, 2, 0}); }));
  CHECK(usage([&] { beam.encode(x, BeamOmpOptions{2, 0, 0}); }));
  CHECK(usage([&] { beam.encode(x, BeamOmpOptions{2, 2, -1}); }));

  Eigen::MatrixXf with_nan = x;
  with_nan(3, 1) = NAN;
  const Eigen::MatrixXf wrong_length = gaussian_vectors(7, 3, 16);
  for (const Eigen::MatrixXf* bad : std::initializer_list<const Eigen::MatrixXf*>{&with_nan, &wrong_length}) {
    CHECK(kind_of([&] { iht.encode(*bad, IhtOptions{}); }) == ErrorKind::BadInput);
    CHECK(kind_of([&] { lasso.encode(*bad, LassoOptions{}); }) == ErrorKind::BadInput);
    CHECK(kind_of([&] { beam.encode(*bad, BeamOmpOptions{}); }) == ErrorKind::BadInput);
  }

  Eigen::MatrixXf not_unit = d;
  not_unit.col(5) *= 1.01f;
  Eigen::MatrixXf non_finite = d;
  non_finite(0, 0) = INFINITY;
  for (const Eigen::MatrixXf& bad : {not_unit, non_finite, Eigen::MatrixXf(4, 0)}) {
    CHECK(kind_of([&] { IhtEncoder{bad}; }) == ErrorKind::BadInput);
    CHECK(kind_of([&] { LassoEncoder{bad}; }) == ErrorKind::BadInput);
    CHECK(kind_of([&] { BeamOmpEncoder{bad}; }) == ErrorKind::BadInput);
  }
}
