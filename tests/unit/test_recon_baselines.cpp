#include <doctest/doctest.h>

#include <algorithm>
#include <random>

#include "lexico/dictionary_training_step.h"
#include "lexico/error.h"
#include "lexico/kivi_cache.h"
#include "lexico/recon_baselines.h"
#include "temp_dir.h"

using namespace lexico;

namespace {

Eigen::MatrixXf gaussian(int rows, int cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  return Eigen::MatrixXf::NullaryExpr(rows, cols, [&] { return normal(rng); });
}

double max_of(const std::vector<double>& v) { return *std::max_element(v.begin(), v.end()); }
double mean_of(const std::vector<double>& v) { return rre_stats(v).mean; }

}  // namespace

TEST_CASE("bytes per vector of each method") {
  CHECK(lexico_bytes_per_vector(4) == 14);
  CHECK(lexico_bytes_per_vector(16) == 50);
  CHECK(pca_rank_for_bytes(14, 64) == 7);
  CHECK(pca_rank_for_bytes(50, 64) == 25);
  CHECK(pca_rank_for_bytes(98, 64) == 49);
  CHECK(pca_rank_for_bytes(200, 64) == 64);  // capped at head_dim
  // m = 64, G = 32: 2-bit keys 64·(8 + 4)/32, values 16 + 2·4; 4-bit 64·(16 + 4)/32, 32 + 2·4.
  CHECK(kivi_bytes_per_vector(KvKind::Keys, 64, 2, 32) == 24);
  CHECK(kivi_bytes_per_vector(KvKind::Values, 64, 2, 32) == 24);
  CHECK(kivi_bytes_per_vector(KvKind::Keys, 64, 4, 32) == 40);
  CHECK(kivi_bytes_per_vector(KvKind::Values, 64, 4, 32) == 40);
  CHECK(kivi_bytes_per_vector(KvKind::Values, 40, 2, 32) == 10 + 2 * 4);  // a partial channel group has its own scale

  // The formulas are what KiviCache holds once every token is quantized.
  for (int bits : {2, 4}) {
    const int tokens = 64, heads = 2, m = 64;
    KiviCache cache({1, heads, heads, m}, {bits, 32, 0});
    const Eigen::MatrixXf x = gaussian(m, tokens * heads, 3);
    cache.append(0, x.data(), x.data(), tokens);
    cache.append(0, nullptr, nullptr, 0);
    CHECK(double(cache.bytes()) == tokens * heads * (kivi_bytes_per_vector(KvKind::Keys, m, bits, 32) +
                                                     kivi_bytes_per_vector(KvKind::Values, m, bits, 32)));
  }

  // An s-sparse code takes 3s + 2 bytes.
  const Eigen::MatrixXf d = random_dictionary(16, 64, 5);
  OmpOptions omp;
  omp.sparsity = 4;
  const SparseCodeErrors coded = sparse_code_errors(OmpEncoder(d), gaussian(16, 10, 6), omp);
  CHECK(coded.csr_bytes == 10 * lexico_bytes_per_vector(4));
}

TEST_CASE("PCA: full rank and rank-k data reconstruct to FP16 precision, fewer components do not") {
  const int m = 16, n = 500;
  const Eigen::MatrixXf x = (gaussian(m, n, 1).array() + 3.0f).matrix();  // far from centred
  PcaFit full(m);
  full.add(x.leftCols(200));
  full.add(x.rightCols(n - 200));  // accumulates across blocks
  CHECK(full.count() == n);
  const PcaFit::Basis basis = full.basis("test");
  CHECK((basis.components.transpose() * basis.components).isIdentity(1e-4f));
  CHECK(max_of(relative_errors(x, basis.reconstruct(x, m))) < 1e-3);  // only the FP16 coefficients' rounding
  CHECK(mean_of(relative_errors(x, basis.reconstruct(x, m / 2))) > 0.05);

  // Rank 3 around an offset: 3 components suffice (the mean is not a component).
  const int k = 3;
  const Eigen::VectorXf offset = gaussian(m, 1, 2);
  const Eigen::MatrixXf low = (gaussian(m, k, 3) * gaussian(k, n, 4)).colwise() + offset;
  PcaFit fit(m);
  fit.add(low);
  const PcaFit::Basis b = fit.basis("test");
  CHECK(max_of(relative_errors(low, b.reconstruct(low, k))) < 1e-3);
  CHECK(max_of(relative_errors(low, b.reconstruct(low, k + 2))) < 1e-3);
  CHECK(mean_of(relative_errors(low, b.reconstruct(low, k - 1))) > 0.01);
  // Variance is sorted: the first component captures more than the last.
  CHECK(mean_of(relative_errors(low, b.reconstruct(low, 1))) < 1.0);

  CHECK_THROWS_AS(PcaFit(m).basis("empty.h5"), Error);
}

TEST_CASE("KIVI: a hand-worked example, and the error shrinks with bits") {
  // Keys, 2 bits, one group of 4 tokens, 2 channels: each channel spans [0, 3],
  // so min 0 and scale 3/3 = 1 (both exact in FP16), and codes round to the nearest integer.
  const float keys[] = {0.0f, 3.0f,  //
                        0.9f, 2.2f,  //
                        2.2f, 0.9f,  //
                        3.0f, 0.0f};
  KiviOptions two{2, 4, 0};
  const Eigen::MatrixXf k_hat = kivi_reconstruct(keys, 4, 1, 2, KvKind::Keys, two);
  Eigen::MatrixXf expected(2, 4);
  expected << 0, 1, 2, 3,  //
      3, 2, 1, 0;
  CHECK(k_hat.isApprox(expected));
  // Values: per token, channel groups of 4, each with its own min and scale.
  const float values[] = {0.0f, 0.9f, 2.2f, 3.0f, 10.0f, 10.9f, 12.2f, 13.0f};
  const Eigen::MatrixXf v_hat = kivi_reconstruct(values, 1, 1, 8, KvKind::Values, two);
  Eigen::VectorXf v_expected(8);
  v_expected << 0, 1, 2, 3, 10, 11, 12, 13;
  CHECK(v_hat.col(0).isApprox(v_expected));

  // Columns come back in the input's [token, head] order.
  const int tokens = 64, heads = 3, m = 32;
  const Eigen::MatrixXf x = gaussian(m, tokens * heads, 7);
  for (KvKind kind : {KvKind::Keys, KvKind::Values}) {
    const double e2 = mean_of(relative_errors(x, kivi_reconstruct(x.data(), tokens, heads, m, kind, {2, 32, 0})));
    const double e4 = mean_of(relative_errors(x, kivi_reconstruct(x.data(), tokens, heads, m, kind, {4, 32, 0})));
    CHECK(e4 < e2 / 2);
    CHECK(e2 < 0.6);  // a wrong column order would give errors around √2
  }
  CHECK_THROWS_AS(kivi_reconstruct(x.data(), 40, heads, m, KvKind::Keys, {2, 32, 0}), Error);
}

TEST_CASE("a random dictionary codes the data worse than the one that made it") {
  const int m = 32, n_atoms = 64, n = 400, k = 3;
  const Eigen::MatrixXf hidden = random_dictionary(m, n_atoms, 11);
  Eigen::MatrixXf x = 0.01f * gaussian(m, n, 12);
  std::mt19937 rng(13);
  for (int c = 0; c < n; ++c)
    for (int j = 0; j < k; ++j) x.col(c) += (1.0f + float(rng() % 100) / 50.0f) * hidden.col(rng() % n_atoms);
  OmpOptions omp;
  omp.sparsity = k;
  const double trained = mean_of(sparse_code_errors(OmpEncoder(hidden), x, omp).errors);
  const double random = mean_of(sparse_code_errors(OmpEncoder(random_dictionary(m, n_atoms, 99)), x, omp).errors);
  CHECK(trained < 0.05);
  CHECK(random > 3 * trained);
}

TEST_CASE("compare_baselines on synthetic dumps") {
  test::TempDir dir;
  SyntheticDumpSpec spec;
  spec.n_layers = 2;
  spec.n_kv_heads = 2;
  spec.head_dim = 16;
  spec.hidden_atoms = 64;
  spec.hidden_sparsity = 3;
  spec.n_tokens = 512;
  write_synthetic_dump(dir / "train.h5", spec);
  spec.n_tokens = 100;
  spec.seed = 2;
  write_synthetic_dump(dir / "eval.h5", spec);
  const KvDumpReader eval(dir / "eval.h5");

  Dictionary dict;
  dict.n_layers = 2;
  dict.head_dim = 16;
  dict.n_atoms = 64;
  for (int l : {0, 1}) dict.layers[l] = {random_dictionary(16, 64, 20 + l), random_dictionary(16, 64, 30 + l), {}};

  BaselineOptions opt;
  opt.sparsities = {2, 4};
  opt.threads = 1;
  const BaselineReport r = compare_baselines(eval, {dir / "train.h5"}, dict, "dict.h5", opt);
  CHECK(r.tokens == 96);  // cut to whole groups of 32
  CHECK(r.train_vectors == 1024);
  REQUIRE(r.rows.size() == 3 * 2 + 2);
  CHECK(r.rows[0].method == "lexico");
  CHECK(r.rows[1].method == "random");
  CHECK(r.rows[2].method == "pca");
  CHECK(r.rows[2].rank == 4);  // ⌊(3·2 + 2)/2⌋
  CHECK(r.rows[5].rank == 7);
  CHECK(r.rows[6].method == "kivi2");
  CHECK(r.rows[7].method == "kivi4");
  CHECK(r.rows[3].keys_bytes == 14);
  CHECK(r.rows[6].keys_bytes == kivi_bytes_per_vector(KvKind::Keys, 16, 2, 32));
  for (const BaselineRow& row : r.rows) {
    CHECK(row.keys.count == 2 * 96 * 2);
    CHECK(row.layer_values.size() == 2);
    CHECK(row.values.mean > 0);
    CHECK(row.values.mean < 1.5);
  }
  CHECK(r.rows[3].keys.mean < r.rows[0].keys.mean);  // more atoms, less error
  CHECK(r.rows[5].keys.mean < r.rows[2].keys.mean);
  CHECK(r.rows[7].values.mean < r.rows[6].values.mean);

  // A layer scores the same alone as with others.
  opt.layers = {1};
  const BaselineReport one = compare_baselines(eval, {dir / "train.h5"}, dict, "dict.h5", opt);
  CHECK(one.layers == std::vector<int>{1});
  CHECK(one.rows[0].keys.mean == doctest::Approx(r.rows[0].layer_keys[1].mean));
  CHECK(one.rows[1].values.mean == doctest::Approx(r.rows[1].layer_values[1].mean));
  CHECK(one.rows[2].keys.mean == doctest::Approx(r.rows[2].layer_keys[1].mean));

  // Bad input and options, before any work.
  BaselineOptions bad = opt;
  bad.sparsities = {17};
  CHECK_THROWS_AS(compare_baselines(eval, {dir / "train.h5"}, dict, "dict.h5", bad), Error);
  Dictionary wide = dict;
  wide.head_dim = 32;
  CHECK_THROWS_WITH_AS(compare_baselines(eval, {dir / "train.h5"}, wide, "wide.h5", opt),
                       doctest::Contains("wide.h5: head_dim 32"), Error);
  spec.head_dim = 8;
  write_synthetic_dump(dir / "narrow.h5", spec);
  CHECK_THROWS_WITH_AS(compare_baselines(eval, {dir / "narrow.h5"}, dict, "dict.h5", opt),
                       doctest::Contains("narrow.h5: head_dim 8 does not match"), Error);
  bad = opt;
  bad.layers = {5};
  CHECK_THROWS_WITH_AS(compare_baselines(eval, {dir / "train.h5"}, dict, "dict.h5", bad),
                       doctest::Contains("has no layer 5"), Error);
}
