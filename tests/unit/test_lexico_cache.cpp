#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "lexico/error.h"
#include "lexico/fp8.h"
#include "lexico/full_cache.h"
#include "lexico/lexico_cache.h"
#include "test_cache_helpers.h"

using namespace lexico;
using namespace lexico::test;

namespace {

// Vectors that are 2-sparse in the layer's dictionary (coefficients 1..2 in
// magnitude) plus a little noise: OMP recovers them, so a compressed token's
// code must reconstruct its own input (catches tokens or heads mixed up).
std::vector<float> sparse_vectors(const Eigen::MatrixXf& d, int n_vectors, std::mt19937& rng) {
  std::uniform_int_distribution<int> atom(0, int(d.cols()) - 1);
  std::uniform_real_distribution<float> mag(1.0f, 2.0f);
  std::normal_distribution<float> noise(0.0f, 0.01f);
  std::vector<float> out(size_t(n_vectors) * d.rows());
  for (int i = 0; i < n_vectors; ++i) {
    Eigen::VectorXf x = Eigen::VectorXf::Zero(d.rows());
    for (int j = 0; j < 2; ++j) x += (rng() % 2 ? 1.0f : -1.0f) * mag(rng) * d.col(atom(rng));
    for (int c = 0; c < d.rows(); ++c) out[size_t(i) * d.rows() + c] = x[c] + noise(rng);
  }
  return out;
}

// The keys/values attention must see: compressed tokens densified from their
// stored FP8 codes, buffered ones as FP16-rounded inputs.
KvHistory densified(const LexicoCache& cache, const Dictionary& dict, int layer, const KvHistory& fed) {
  const CacheShape& s = cache.shape();
  KvHistory h = fed;
  std::vector<uint16_t> idx;
  std::vector<uint8_t> coef;
  for (int g = 0; g < s.n_kv_heads; ++g)
    for (KvKind kind : {KvKind::Keys, KvKind::Values}) {
      const Eigen::MatrixXf& d = dict.at(layer, kind);
      auto& dst = kind == KvKind::Keys ? h.keys[g] : h.values[g];
      for (int64_t t = 0; t < cache.compressed_length(layer); ++t) {
        cache.code(layer, g, kind, t, idx, coef);
        Eigen::VectorXf x = Eigen::VectorXf::Zero(s.head_dim);
        for (size_t j = 0; j < idx.size(); ++j) x += fp8_e4m3_decode(coef[j]) * d.col(idx[j]);
        for (int c = 0; c < s.head_dim; ++c) dst[size_t(t) * s.head_dim + c] = x[c];
      }
    }
  return h;
}

struct Scenario {
  LexicoOptions options;
  std::vector<int> steps;  // tokens per step: the first is the prefill
};

// Runs the steps through a LexicoCache and checks every step's output against
// the reference over the densified cache, the buffer policy and the codes.
void run_against_densified(const Scenario& sc, uint32_t seed) {
  const CacheShape shape{2, 4, 2, 16};  // GQA: two query heads per KV head
  const Dictionary dict = random_dictionary(shape.n_layers, shape.head_dim, 48, seed);
  LexicoCache cache(shape, dict, sc.options);
  std::mt19937 rng(seed);
  std::vector<KvHistory> fed(shape.n_layers, KvHistory(shape.n_kv_heads));
  const int nb = sc.options.buffer;
  int64_t len = 0;
  for (size_t step = 0; step < sc.steps.size(); ++step) {
    const int n = sc.steps[step];
    len += n;
    for (int l = 0; l < shape.n_layers; ++l) {
      CAPTURE(step);
      CAPTURE(l);
      const std::vector<float> k = sparse_vectors(dict.at(l, KvKind::Keys), n * shape.n_kv_heads, rng);
      const std::vector<float> v = sparse_vectors(dict.at(l, KvKind::Values), n * shape.n_kv_heads, rng);
      const std::vector<float> q = gaussian(size_t(n) * shape.n_heads * shape.head_dim, rng);
      cache.append(l, k.data(), v.data(), n);
      fed[l].add(shape, k.data(), v.data(), n, true);
      // What attention sees: the compressed part is older than every query.
      const int64_t tc = cache.compressed_length(l);
      CHECK(tc <= len - n);
      const KvHistory h = densified(cache, dict, l, fed[l]);
      std::vector<float> out(q.size());
      cache.attend(l, q.data(), n, out.data());
      const std::vector<float> ref = reference_attention(shape, h, q.data(), n, causal);
      CHECK(max_abs_diff(out, ref) <= 2e-5 * (1.0 + max_abs(ref)));
      // Policy: after a step, all but the newest n_b are compressed.
      CHECK(cache.length(l) == len);
      CHECK(cache.compressed_length(l) == std::max<int64_t>(len - nb, 0));
      CHECK(cache.buffer_length(l) == std::min<int64_t>(len, nb));
      // The codes reconstruct their own tokens (on average: OMP misses the
      // hidden support now and then), not their neighbours'.
      const KvHistory after = densified(cache, dict, l, fed[l]);
      const int64_t tc_after = cache.compressed_length(l);
      if (tc_after >= 2) {
        double own = 0, shifted = 0;
        int count = 0;
        for (int g = 0; g < shape.n_kv_heads; ++g)
          for (auto kind : {&KvHistory::keys, &KvHistory::values})
            for (int64_t t = 0; t + 1 < tc_after; ++t) {
              const size_t at = size_t(t) * shape.head_dim;
              const Eigen::Map<const Eigen::VectorXf> x((fed[l].*kind)[g].data() + at, shape.head_dim);
              const Eigen::Map<const Eigen::VectorXf> next((fed[l].*kind)[g].data() + at + shape.head_dim,
                                                          shape.head_dim);
              const Eigen::Map<const Eigen::VectorXf> y((after.*kind)[g].data() + at, shape.head_dim);
              own += (x - y).norm() / x.norm();
              shifted += (next - y).norm() / next.norm();
              ++count;
            }
        CHECK(own / count < std::max(0.1, 1.2 * sc.options.tolerance));
        CHECK(shifted / count > 0.8);
      }
    }
  }
}

}  // namespace

TEST_CASE("lexico attention equals attention over the densified cache (fixed s)") {
  LexicoOptions o;
  o.sparsity = 4;
  o.buffer = 8;
  SUBCASE("prefill shorter than the buffer, then decode across the boundary") {
    run_against_densified({o, {5, 1, 1, 1, 1, 1, 1}}, 1);
  }
  SUBCASE("prefill of exactly n_b") { run_against_densified({o, {8, 1, 1, 1}}, 2); }
  SUBCASE("prefill of n_b + 1") { run_against_densified({o, {9, 1, 1}}, 3); }
  SUBCASE("long prefill, decode, then a multi-token chunk over compressed tokens") {
    run_against_densified({o, {30, 1, 1, 5, 1, 70, 1}}, 4);
  }
  SUBCASE("token by token from the start (teacher forcing)") {
    run_against_densified({o, std::vector<int>(14, 1)}, 5);
  }
  SUBCASE("no buffer") {
    LexicoOptions z = o;
    z.buffer = 0;
    run_against_densified({z, {6, 1, 3, 1}}, 6);
  }
}

TEST_CASE("lexico attention equals attention over the densified cache (tolerance, CSR)") {
  LexicoOptions o;
  o.sparsity = 6;
  o.tolerance = 0.2f;
  o.buffer = 8;
  run_against_densified({o, {20, 1, 1, 4, 1}}, 7);
  o.fp8_refit = true;
  run_against_densified({o, {9, 1, 1}}, 8);
}

TEST_CASE("with s = m and the identity dictionary, lexico equals the full cache up to FP8 rounding") {
  const CacheShape shape{1, 4, 2, 16};
  const Dictionary dict = identity_dictionary(1, 16);
  LexicoOptions o;
  o.sparsity = 16;
  o.buffer = 4;
  std::mt19937 rng(9);

  SUBCASE("values on the FP8 grid: equal to float tolerance") {
    LexicoCache lexico(shape, dict, o);
    FullCache full(shape);
    std::uniform_int_distribution<int> half_steps(-12, 12);  // x = k/2, exact in FP8 and FP16
    for (int n : {10, 1, 1, 3, 1}) {
      std::vector<float> k(size_t(n) * 2 * 16), v(k.size());
      for (float& x : k) x = 0.5f * float(half_steps(rng));
      for (float& x : v) x = 0.5f * float(half_steps(rng));
      const std::vector<float> q = gaussian(size_t(n) * 4 * 16, rng, 0.3f);
      std::vector<float> a(q.size()), b(q.size());
      lexico.append(0, k.data(), v.data(), n);
      lexico.attend(0, q.data(), n, a.data());
      full.append(0, k.data(), v.data(), n);
      full.attend(0, q.data(), n, b.data());
      CHECK(max_abs_diff(a, b) <= 1e-5 * (1.0 + max_abs(b)));
    }
    CHECK(lexico.compressed_length(0) == 12);
  }
  SUBCASE("Gaussian values: within the FP8 relative error (2^-4)") {
    LexicoCache lexico(shape, dict, o);
    FullCache full(shape);
    double worst = 0;
    for (int n : {40, 1, 1}) {
      const std::vector<float> k = gaussian(size_t(n) * 2 * 16, rng), v = gaussian(k.size(), rng);
      const std::vector<float> q = gaussian(size_t(n) * 4 * 16, rng, 0.3f);
      std::vector<float> a(q.size()), b(q.size());
      lexico.append(0, k.data(), v.data(), n);
      lexico.attend(0, q.data(), n, a.data());
      full.append(0, k.data(), v.data(), n);
      full.attend(0, q.data(), n, b.data());
      if (n == 1) worst = std::max(worst, max_abs_diff(a, b));  // decode steps see 40 compressed tokens
    }
    CHECK(worst > 0.0);    // FP8 did round something
    CHECK(worst < 0.06);   // values ~N(0,1): 1/16 relative, averaged by attention
  }
}

TEST_CASE("lexico bytes: codes, FP16 buffer and dictionaries, counted by hand") {
  const CacheShape shape{2, 4, 2, 16};
  const int n_atoms = 48;
  const Dictionary dict = random_dictionary(2, 16, n_atoms, 11);
  std::mt19937 rng(12);
  const size_t dict_bytes = 2 * 2 * (16 * 48 + 64 * 48) * sizeof(float);  // G padded to 64 rows

  SUBCASE("fixed s") {
    LexicoOptions o;
    o.sparsity = 5;
    o.buffer = 8;
    LexicoCache cache(shape, dict, o);
    CHECK(cache.bytes() == dict_bytes);
    CHECK(cache.payload_bytes() == 0);
    for (int n : {20, 1, 1}) {
      for (int l = 0; l < 2; ++l) {
        const std::vector<float> k = gaussian(size_t(n) * 2 * 16, rng), v = gaussian(k.size(), rng);
        const std::vector<float> q = gaussian(size_t(n) * 4 * 16, rng);
        std::vector<float> out(q.size());
        cache.append(l, k.data(), v.data(), n);
        cache.attend(l, q.data(), n, out.data());
      }
    }
    // 22 positions: 14 compressed (3·5 bytes per vector), 8 buffered (2·16 bytes).
    const size_t per_layer = 2 * 2 * (14 * 15 + 8 * 32);  // KV heads × {keys, values} × ...
    CHECK(cache.payload_bytes() == 2 * per_layer);
    CHECK(cache.bytes() == 2 * per_layer + dict_bytes);
    CHECK(cache.fp16_bytes() == size_t(2 * 2 * 2 * 22 * 32));
    CHECK(cache.stored_nonzeros() == 2 * 2 * 2 * 14 * 5);
    cache.clear();
    CHECK(cache.payload_bytes() == 0);
    CHECK(cache.length(0) == 0);
  }
  SUBCASE("tolerance: CSR, 3 bytes per non-zero and 2 per token") {
    LexicoOptions o;
    o.sparsity = 8;
    o.tolerance = 0.5f;
    o.buffer = 3;
    LexicoCache cache(shape, dict, o);
    const std::vector<float> k = gaussian(size_t(12) * 2 * 16, rng), v = gaussian(k.size(), rng);
    const std::vector<float> q = gaussian(size_t(12) * 4 * 16, rng);
    std::vector<float> out(q.size());
    cache.append(0, k.data(), v.data(), 12);
    cache.attend(0, q.data(), 12, out.data());
    const int64_t nnz = cache.stored_nonzeros();
    CHECK(nnz < 2 * 2 * 9 * 8);  // δ = 0.5 stops early
    CHECK(cache.payload_bytes() == size_t(3 * nnz + 2 * (2 * 2 * 9) + 2 * 2 * 3 * 32));
  }
}

TEST_CASE("lexico rejects bad options and dictionaries of another model") {
  const CacheShape shape{2, 4, 2, 16};
  const Dictionary dict = random_dictionary(2, 16, 24, 13);
  auto kind_of = [](auto&& f) {
    try {
      f();
    } catch (const Error& e) {
      return e.kind();
    }
    return ErrorKind::Internal;
  };
  LexicoOptions o;
  o.sparsity = 17;  // > head_dim
  CHECK(kind_of([&] { LexicoCache(shape, dict, o); }) == ErrorKind::Usage);
  o.sparsity = 0;
  CHECK(kind_of([&] { LexicoCache(shape, dict, o); }) == ErrorKind::Usage);
  o.sparsity = 4;
  o.tolerance = 1.0f;
  CHECK(kind_of([&] { LexicoCache(shape, dict, o); }) == ErrorKind::Usage);
  o.tolerance = 0.0f;
  o.buffer = -1;
  CHECK(kind_of([&] { LexicoCache(shape, dict, o); }) == ErrorKind::Usage);
  o.buffer = 8;

  const Dictionary other_dim = random_dictionary(2, 32, 24, 14);
  CHECK(kind_of([&] { LexicoCache(shape, other_dim, o); }) == ErrorKind::BadInput);
  const Dictionary other_depth = random_dictionary(3, 16, 24, 15);
  CHECK(kind_of([&] { LexicoCache(shape, other_depth, o); }) == ErrorKind::BadInput);
  Dictionary missing = dict;
  missing.layers.erase(1);
  CHECK(kind_of([&] { LexicoCache(shape, missing, o); }) == ErrorKind::BadInput);
  Dictionary not_unit = dict;
  not_unit.layers[1].values.col(3) *= 2.0f;
  CHECK(kind_of([&] { LexicoCache(shape, not_unit, o); }) == ErrorKind::BadInput);
  try {
    LexicoCache(shape, other_dim, o);
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("head_dim 32") != std::string::npos);
  }

  // Shared dictionaries: one set of encoders, many caches.
  auto shared = std::make_shared<const LexicoDictionaries>(dict, shape);
  LexicoCache a(shape, shared, o), b(shape, shared, o);
  CHECK(a.bytes() == shared->bytes());
  CHECK(a.name() == "lexico:s=4,buffer=8");
}
