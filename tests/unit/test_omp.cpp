#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <thread>

#include "lexico/error.h"
#include "lexico/fp8.h"
#include "lexico/omp.h"
#include "lexico/recon.h"

using namespace lexico;

namespace {

Eigen::MatrixXf random_dictionary(int m, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  Eigen::MatrixXf d = Eigen::MatrixXf::NullaryExpr(m, n, [&] { return normal(rng); });
  d.colwise().normalize();
  return d;
}

Eigen::MatrixXf random_vectors(int m, int n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  return Eigen::MatrixXf::NullaryExpr(m, n, [&] { return normal(rng); });
}

std::vector<uint16_t> row_indices(const SparseCoefs& c, size_t r) {
  return {c.indices.begin() + c.row_ptr[r], c.indices.begin() + c.row_ptr[r + 1]};
}
std::vector<float> row_values(const SparseCoefs& c, size_t r) {
  return {c.values.begin() + c.row_ptr[r], c.values.begin() + c.row_ptr[r + 1]};
}

bool all_finite(const SparseCoefs& c) {
  return std::all_of(c.values.begin(), c.values.end(), [](float v) { return std::isfinite(v); });
}

bool no_repeated_atom(const SparseCoefs& c) {
  for (size_t r = 0; r < c.rows(); ++r) {
    const std::vector<uint16_t> idx = row_indices(c, r);
    if (std::set<uint16_t>(idx.begin(), idx.end()).size() != idx.size()) return false;
  }
  return true;
}

std::vector<double> errors_of(const OmpEncoder& encoder, const Eigen::MatrixXf& x, const SparseCoefs& c) {
  return relative_errors(x, reconstruct(encoder.dictionary(), c));
}

ErrorKind kind_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.kind();
  }
  return ErrorKind::Internal;  // did not throw
}

// The committed sklearn golden (layout in scripts/golden/omp_golden.py).
struct Golden {
  int m = 0, n = 0, b = 0, s = 0;
  double delta = 0;
  Eigen::MatrixXf d, x;
  struct Row {
    std::vector<int32_t> indices;
    std::vector<double> coefs;
  };
  std::vector<Row> fixed, tolerance;
};

Golden load_golden() {
  std::ifstream in(LEXICO_SOURCE_DIR "/data/golden/omp_sklearn.bin", std::ios::binary);
  REQUIRE(in.good());
  auto read = [&](void* p, size_t n) { REQUIRE(in.read(static_cast<char*>(p), std::streamsize(n))); };
  char magic[8];
  read(magic, 8);
  REQUIRE(std::memcmp(magic, "LXOMPG1\0", 8) == 0);
  Golden g;
  int32_t header[4];
  read(header, sizeof header);
  g.m = header[0], g.n = header[1], g.b = header[2], g.s = header[3];
  read(&g.delta, 8);
  g.d.resize(g.m, g.n);
  g.x.resize(g.m, g.b);
  read(g.d.data(), sizeof(float) * g.d.size());
  read(g.x.data(), sizeof(float) * g.x.size());
  for (auto* rows : {&g.fixed, &g.tolerance}) {
    rows->resize(g.b);
    for (Golden::Row& row : *rows) {
      int32_t count;
      read(&count, 4);
      row.indices.resize(count);
      row.coefs.resize(count);
      read(row.indices.data(), 4 * size_t(count));
      read(row.coefs.data(), 8 * size_t(count));
    }
  }
  return g;
}

void check_against(const SparseCoefs& ours, const std::vector<Golden::Row>& golden) {
  REQUIRE(ours.rows() == golden.size());
  for (size_t r = 0; r < golden.size(); ++r) {
    CAPTURE(r);
    const std::vector<uint16_t> idx = row_indices(ours, r);
    const std::vector<float> val = row_values(ours, r);
    REQUIRE(idx.size() == golden[r].indices.size());
    for (size_t k = 0; k < idx.size(); ++k) {
      CAPTURE(k);
      CHECK(idx[k] == golden[r].indices[k]);  // same atoms, in the same order
      CHECK(std::abs(val[k] - golden[r].coefs[k]) <= 1e-5 * std::abs(golden[r].coefs[k]));
    }
  }
}

}  // namespace

TEST_CASE("matches scikit-learn's orthogonal_mp_gram, fixed s") {
  const Golden g = load_golden();
  const OmpEncoder encoder(g.d);
  OmpOptions options;
  options.sparsity = g.s;
  check_against(encoder.encode(g.x, options), g.fixed);
}

TEST_CASE("matches scikit-learn's orthogonal_mp_gram, relative tolerance") {
  const Golden g = load_golden();
  const OmpEncoder encoder(g.d);
  OmpOptions options;
  options.sparsity = g.m;  // no cap: sklearn's tol mode has none
  options.tolerance = float(g.delta);
  check_against(encoder.encode(g.x, options), g.tolerance);
}

TEST_CASE("recovers a planted sparse signal exactly") {
  const int m = 128, n = 512, s = 6, b = 200;
  const OmpEncoder encoder(random_dictionary(m, n, 1));
  std::mt19937 rng(2);
  std::uniform_real_distribution<float> magnitude(0.5f, 1.5f);
  std::vector<std::vector<int>> support(b);
  std::vector<std::vector<float>> coef(b);
  Eigen::MatrixXf x = Eigen::MatrixXf::Zero(m, b);
  std::vector<int> atoms(n);
  for (int i = 0; i < n; ++i) atoms[i] = i;
  for (int v = 0; v < b; ++v) {
    std::shuffle(atoms.begin(), atoms.end(), rng);
    for (int k = 0; k < s; ++k) {
      const float c = (rng() & 1 ? 1.0f : -1.0f) * magnitude(rng);
      support[v].push_back(atoms[k]);
      coef[v].push_back(c);
      x.col(v) += c * encoder.dictionary().col(atoms[k]);
    }
  }
  OmpOptions options;
  options.sparsity = s;
  const SparseCoefs codes = encoder.encode(x, options);
  for (int v = 0; v < b; ++v) {
    CAPTURE(v);
    const std::vector<uint16_t> idx = row_indices(codes, v);
    const std::vector<float> val = row_values(codes, v);
    REQUIRE(idx.size() == size_t(s));
    for (int k = 0; k < s; ++k) {
      const auto at = std::find(support[v].begin(), support[v].end(), idx[k]);
      REQUIRE(at != support[v].end());
      CHECK(val[k] == doctest::Approx(coef[v][at - support[v].begin()]).epsilon(1e-4));
    }
  }
  // Asked for more atoms than the signal has, the pursuit stops once the
  // residual is numerically zero instead of adding noise atoms.
  options.sparsity = 3 * s;
  const SparseCoefs more = encoder.encode(x, options);
  for (int v = 0; v < b; ++v) CHECK(more.row_nnz(v) < uint32_t(3 * s));
  for (double e : errors_of(encoder, x, more)) CHECK(e < 1e-5);
}

TEST_CASE("never repeats an atom, even when asked for s = m") {
  const int m = 16, n = 48;
  const OmpEncoder encoder(random_dictionary(m, n, 3));
  const Eigen::MatrixXf x = random_vectors(m, 300, 4);
  OmpOptions options;
  options.sparsity = m;
  const SparseCoefs codes = encoder.encode(x, options);
  CHECK(no_repeated_atom(codes));
  CHECK(all_finite(codes));
  for (double e : errors_of(encoder, x, codes)) CHECK(e < 1e-3);  // m independent atoms span R^m
}

TEST_CASE("zero vectors get empty codes") {
  const OmpEncoder encoder(random_dictionary(8, 32, 5));
  Eigen::MatrixXf x = random_vectors(8, 5, 6);
  x.col(0).setZero();
  x.col(3).setZero();
  OmpOptions options;
  options.sparsity = 4;
  for (float delta : {0.0f, 0.5f}) {
    options.tolerance = delta;
    const SparseCoefs codes = encoder.encode(x, options);
    CHECK(codes.row_nnz(0) == 0);
    CHECK(codes.row_nnz(3) == 0);
    CHECK(codes.row_nnz(1) > 0);
    const std::vector<double> errors = errors_of(encoder, x, codes);
    CHECK(errors[0] == 0.0);
  }
}

TEST_CASE("duplicate atoms: stops cleanly, never both copies, no NaN") {
  const int m = 12;
  Eigen::MatrixXf d = random_dictionary(m, 30, 7);
  for (int a = 0; a < 10; ++a) d.col(10 + a) = d.col(a);  // atoms 10..19 duplicate 0..9
  d.col(20) = -d.col(1);
  const OmpEncoder encoder(d);
  Eigen::MatrixXf x = random_vectors(m, 200, 8);
  x.col(0) = d.col(0) + 0.5f * d.col(1);  // lies in the span of two atoms that both have copies
  OmpOptions options;
  options.sparsity = m;
  const SparseCoefs codes = encoder.encode(x, options);
  CHECK(all_finite(codes));
  CHECK(no_repeated_atom(codes));
  for (size_t r = 0; r < codes.rows(); ++r) {
    const std::vector<uint16_t> idx = row_indices(codes, r);
    const std::set<uint16_t> atoms(idx.begin(), idx.end());
    for (int a = 0; a < 10; ++a) CHECK(!(atoms.count(a) && atoms.count(10 + a)));
    CHECK(!(atoms.count(1) && atoms.count(20)));
  }
  CHECK(codes.row_nnz(0) == 2);
  CHECK(errors_of(encoder, x, codes)[0] < 1e-5);
}

TEST_CASE("tolerance mode stops at the first support that meets the target") {
  const int m = 64, n = 256;
  const OmpEncoder encoder(random_dictionary(m, n, 9));
  const Eigen::MatrixXf x = random_vectors(m, 100, 10);
  OmpOptions options;
  options.sparsity = 40;
  options.tolerance = 0.4f;
  const SparseCoefs codes = encoder.encode(x, options);
  const std::vector<double> errors = errors_of(encoder, x, codes);
  for (int v = 0; v < 100; ++v) {
    CAPTURE(v);
    CHECK(codes.row_nnz(v) < 40u);
    CHECK(errors[v] <= 0.4 * (1 + 1e-5));
    // One atom fewer misses the target.
    OmpOptions fewer = options;
    fewer.tolerance = 0.0f;
    fewer.sparsity = int(codes.row_nnz(v)) - 1;
    if (fewer.sparsity == 0) continue;
    const SparseCoefs shorter = encoder.encode(x.col(v), fewer);
    CHECK(errors_of(encoder, x.col(v), shorter)[0] > 0.4 * (1 - 1e-5));
  }
}

TEST_CASE("a longer pursuit extends a shorter one and never raises the residual") {
  const int m = 32, n = 128, b = 50;
  const OmpEncoder encoder(random_dictionary(m, n, 11));
  const Eigen::MatrixXf x = random_vectors(m, b, 12);
  OmpOptions options;
  std::vector<double> previous(b, 1.0);
  SparseCoefs shorter;
  for (int s = 1; s <= 20; ++s) {
    options.sparsity = s;
    const SparseCoefs codes = encoder.encode(x, options);
    const std::vector<double> errors = errors_of(encoder, x, codes);
    for (int v = 0; v < b; ++v) {
      CAPTURE(s);
      CAPTURE(v);
      CHECK(errors[v] <= previous[v] + 1e-6);
      previous[v] = errors[v];
      if (s > 1) {
        const std::vector<uint16_t> now = row_indices(codes, v), before = row_indices(shorter, v);
        CHECK(std::equal(before.begin(), before.end(), now.begin()));
      }
    }
    shorter = codes;
  }
}

TEST_CASE("results do not depend on threads, strides or concurrent calls") {
  const int m = 32, n = 256;
  const OmpEncoder encoder(random_dictionary(m, n, 13));
  const Eigen::MatrixXf x = random_vectors(m, 500, 14);
  OmpOptions options;
  options.sparsity = 6;
  options.threads = 1;
  const SparseCoefs reference = encoder.encode(x, options);
  options.threads = 0;
  const SparseCoefs all_threads = encoder.encode(x, options);
  CHECK(all_threads.indices == reference.indices);
  CHECK(all_threads.values == reference.values);

  // Vectors interleaved as the heads of a row-major [tokens, 2, m] array.
  Eigen::MatrixXf interleaved(2 * m, 500);
  interleaved.topRows(m) = random_vectors(m, 500, 15);
  interleaved.bottomRows(m) = x;
  const SparseCoefs strided = encoder.encode(interleaved.data() + m, 500, 2 * m, options);
  CHECK(strided.indices == reference.indices);
  CHECK(strided.values == reference.values);

  std::vector<SparseCoefs> results(4);
  std::vector<std::thread> callers;
  for (auto& result : results) callers.emplace_back([&] { result = encoder.encode(x, options); });
  for (auto& caller : callers) caller.join();
  for (const auto& result : results) CHECK(result.values == reference.values);
}

TEST_CASE("encode_fp8 quantizes; fp8_refit gives FP8-exact values and a lower error") {
  const int m = 64, n = 1024;
  const OmpEncoder encoder(random_dictionary(m, n, 16));
  const Eigen::MatrixXf x = random_vectors(m, 400, 17);
  OmpOptions options;
  options.sparsity = 16;
  const SparseCoefs plain = encoder.encode(x, options);
  const SparseCodes codes = encoder.encode_fp8(x, options);
  CHECK(codes.values == quantize_fp8(plain).values);

  options.fp8_refit = true;
  const SparseCoefs refit = encoder.encode(x, options);
  CHECK(refit.indices == plain.indices);  // the support is OMP's
  for (float v : refit.values) CHECK(fp8_e4m3_decode(fp8_e4m3_encode(v)) == v);
  const double rounded = rre_stats(relative_errors(x, reconstruct(encoder.dictionary(), codes))).mean;
  const double refitted = rre_stats(errors_of(encoder, x, refit)).mean;
  const double unquantized = rre_stats(errors_of(encoder, x, plain)).mean;
  MESSAGE("mean RRE: float " << unquantized << ", FP8 rounded " << rounded << ", FP8 refit " << refitted);
  CHECK(refitted < rounded);
  CHECK(refitted >= unquantized);
}

TEST_CASE("invalid options and dictionaries are rejected") {
  const OmpEncoder encoder(random_dictionary(8, 16, 18));
  const Eigen::MatrixXf x = random_vectors(8, 3, 19);
  auto encode_with = [&](int s, float delta, int threads) {
    return [&encoder, &x, s, delta, threads] {
      OmpOptions options;
      options.sparsity = s;
      options.tolerance = delta;
      options.threads = threads;
      encoder.encode(x, options);
    };
  };
  CHECK(kind_of(encode_with(0, 0, 0)) == ErrorKind::Usage);
  CHECK(kind_of(encode_with(9, 0, 0)) == ErrorKind::Usage);  // s > m
  CHECK(kind_of(encode_with(2, 1.0f, 0)) == ErrorKind::Usage);
  CHECK(kind_of(encode_with(2, -0.1f, 0)) == ErrorKind::Usage);
  CHECK(kind_of(encode_with(2, NAN, 0)) == ErrorKind::Usage);
  CHECK(kind_of(encode_with(2, 0, -1)) == ErrorKind::Usage);
  CHECK_NOTHROW(encode_with(8, 0.9f, 2)());

  const OmpOptions options;
  CHECK(kind_of([&] { encoder.encode(random_vectors(7, 3, 1), options); }) == ErrorKind::BadInput);
  Eigen::MatrixXf with_nan = x;
  with_nan(2, 1) = NAN;
  CHECK(kind_of([&] { encoder.encode(with_nan, options); }) == ErrorKind::BadInput);
  Eigen::MatrixXf with_inf = x;
  with_inf(0, 2) = INFINITY;
  CHECK(kind_of([&] { encoder.encode(with_inf, options); }) == ErrorKind::BadInput);

  Eigen::MatrixXf not_unit = random_dictionary(8, 16, 20);
  not_unit.col(5) *= 1.01f;
  CHECK(kind_of([&] { OmpEncoder{not_unit}; }) == ErrorKind::BadInput);
  CHECK(kind_of([&] { OmpEncoder{Eigen::MatrixXf::Ones(1, 65537)}; }) == ErrorKind::BadInput);
  CHECK(kind_of([&] { OmpEncoder{Eigen::MatrixXf(4, 0)}; }) == ErrorKind::BadInput);
}
