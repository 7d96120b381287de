// WeightMatrix keeps GGUF blocks and dequantizes them where used: the values
// must be dequantize_row's, and a model on block weights must compute what
// the same model on their float32 dequantization computes: bit for bit in
// matrix products (prefill), to float rounding in the direct dot products of
// a decoding step.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <vector>

#include "lexico/error.h"
#include "lexico/full_cache.h"
#include "lexico/half.h"
#include "lexico/model.h"
#include "lexico/synthetic_model.h"
#include "lexico/weight_matrix.h"

using namespace lexico;

namespace {

// Q8_0 blocks of a float row (cols a multiple of 32): d = max|x|/127 in FP16, q = round(x/d).
std::vector<uint8_t> q8_0_blocks(const Matrix& m) {
  std::vector<uint8_t> out;
  for (Eigen::Index r = 0; r < m.rows(); ++r)
    for (Eigen::Index b = 0; b < m.cols(); b += 32) {
      float amax = 0;
      for (int i = 0; i < 32; ++i) amax = std::max(amax, std::abs(m(r, b + i)));
      const uint16_t d16 = float_to_half(amax / 127.0f);
      const float d = half_to_float(d16);
      uint8_t block[34];
      std::memcpy(block, &d16, 2);
      for (int i = 0; i < 32; ++i)
        block[2 + i] = uint8_t(int8_t(d > 0 ? std::clamp(std::lround(m(r, b + i) / d), -127L, 127L) : 0));
      out.insert(out.end(), block, block + 34);
    }
  return out;
}

WeightMatrix as_q8_0(const WeightMatrix& w) {
  const Matrix m = w.dense();
  return WeightMatrix(GgmlType::Q8_0, m.rows(), m.cols(), q8_0_blocks(m));
}

}  // namespace

TEST_CASE("weight matrix: block rows dequantize as dequantize_row; views, permutations, bytes") {
  std::mt19937 rng(3);
  const int rows = 5, cols = 64;  // two Q4_1 blocks a row
  std::vector<uint8_t> blocks(size_t(rows) * 2 * 20);
  for (uint8_t& b : blocks) b = uint8_t(rng());
  for (size_t at = 0; at < blocks.size(); at += 20) {  // finite scales and minima
    const uint16_t d = float_to_half(0.01f * float(at % 7 + 1)), m = float_to_half(-0.05f * float(at % 3));
    std::memcpy(&blocks[at], &d, 2);
    std::memcpy(&blocks[at + 2], &m, 2);
  }
  const WeightMatrix w(GgmlType::Q4_1, rows, cols, blocks);
  CHECK(w.rows() == rows);
  CHECK(w.cols() == cols);
  CHECK(w.bytes() == blocks.size());
  std::vector<float> expected(size_t(rows) * cols);
  for (int r = 0; r < rows; ++r)
    dequantize_row(GgmlType::Q4_1, &blocks[size_t(r) * 40], &expected[size_t(r) * cols], cols);
  std::vector<float> got(size_t(3) * cols);
  w.rows_to_float(1, 3, got.data());
  CHECK(std::equal(got.begin(), got.end(), expected.begin() + cols));
  std::vector<float> scratch;
  const ConstMatrixMap view = w.rows_view(2, 2, scratch);
  CHECK(view.data() == scratch.data());
  CHECK(std::equal(view.data(), view.data() + 2 * cols, expected.begin() + 2 * cols));
  const Matrix dense = w.dense();
  CHECK(std::equal(dense.data(), dense.data() + dense.size(), expected.begin()));
  WeightMatrix p = w;
  p.permute_rows(std::vector<int64_t>{4, 3, 2, 1, 0});
  CHECK(p.dense() == dense.colwise().reverse());

  // float32: views are in place, permutations move rows.
  WeightMatrix f(dense);
  CHECK(f.type() == GgmlType::F32);
  CHECK(f.bytes() == size_t(rows) * cols * sizeof(float));
  std::vector<float> unused;
  CHECK(f.rows_view(1, 2, unused)(0, 5) == dense(1, 5));
  CHECK(unused.empty());
  f.permute_rows(std::vector<int64_t>{1, 0, 2, 3, 4});
  CHECK(f.dense().row(0) == dense.row(1));

  CHECK_THROWS_AS(WeightMatrix(GgmlType::Q4_1, rows, 48, blocks), Error);  // 48 is not whole blocks of 32
  CHECK_THROWS_AS(WeightMatrix(GgmlType::Q4_1, rows + 1, cols, blocks), Error);  // too few bytes
  CHECK_THROWS_AS(w.rows_to_float(4, 2, got.data()), Error);
}

TEST_CASE("weight matrix: direct dot products of Q4_0, Q4_1 and Q8_0 rows equal the dequantized rows' (double)") {
  std::mt19937 rng(11);
  std::normal_distribution<float> normal;
  const int rows = 70, cols = 96;  // three blocks a row
  std::vector<float> x(cols);
  for (float& v : x) v = normal(rng);
  for (GgmlType type : {GgmlType::Q4_0, GgmlType::Q4_1, GgmlType::Q8_0}) {
    CAPTURE(int(type));
    const int block_bytes = ggml_block_bytes(type);
    std::vector<uint8_t> blocks(size_t(rows) * 3 * block_bytes);
    for (uint8_t& b : blocks) b = uint8_t(rng());
    for (size_t at = 0; at < blocks.size(); at += block_bytes) {  // finite scales (and minima)
      const uint16_t d = float_to_half(0.02f * normal(rng)), m = float_to_half(0.1f * normal(rng));
      std::memcpy(&blocks[at], &d, 2);
      if (type == GgmlType::Q4_1) std::memcpy(&blocks[at + 2], &m, 2);
    }
    const WeightMatrix w(type, rows, cols, blocks);
    REQUIRE(w.direct_dot());
    std::vector<float> y(rows - 5);
    w.dot_rows(5, rows - 5, x.data(), y.data());
    const Matrix dense = w.dense();
    double worst = 0;
    for (int r = 5; r < rows; ++r) {
      double exact = 0, scale = 0;
      for (int c = 0; c < cols; ++c) {
        exact += double(dense(r, c)) * x[size_t(c)];
        scale += std::abs(double(dense(r, c)) * x[size_t(c)]);
      }
      worst = std::max(worst, std::abs(y[size_t(r - 5)] - exact) / scale);
    }
    MESSAGE("worst |direct − exact| / Σ|w·x|: " << worst);
    CHECK(worst < 1e-6);
  }
  const WeightMatrix k(GgmlType::Q4_K, 1, 256, std::vector<uint8_t>(144, 0));
  CHECK_FALSE(k.direct_dot());  // K-quants are dequantized a slice at a time
  float y0 = 0;
  CHECK_THROWS_AS(k.dot_rows(0, 1, x.data(), &y0), Error);
}

TEST_CASE("weight matrix: a model on Q8_0 blocks computes its float32 dequantization's logits") {
  ModelConfig c;
  c.dim = 64;
  c.n_layers = 2;
  c.n_heads = 4;
  c.n_kv_heads = 2;
  c.head_dim = 16;
  c.hidden_dim = 96;
  c.vocab_size = 300;  // the classifier spans several 64-row slices
  c.max_context = 64;
  const Model base = synthetic_model(c, 5);
  Weights blocks = base.weights(), dense = base.weights();
  for (size_t l = 0; l < blocks.layers.size(); ++l) {
    LayerWeights& b = blocks.layers[l];
    LayerWeights& d = dense.layers[l];
    for (auto member : {&LayerWeights::wq, &LayerWeights::wk, &LayerWeights::wv, &LayerWeights::wo,
                        &LayerWeights::w_gate, &LayerWeights::w_up, &LayerWeights::w_down}) {
      b.*member = as_q8_0(b.*member);
      d.*member = WeightMatrix((b.*member).dense());
    }
  }
  blocks.token_embedding = as_q8_0(blocks.token_embedding);
  dense.token_embedding = WeightMatrix(blocks.token_embedding.dense());
  blocks.output = as_q8_0(blocks.output);
  dense.output = WeightMatrix(blocks.output.dense());
  CHECK(blocks.matrix_bytes() * 3 < dense.matrix_bytes());  // 34 bytes per 32 values against 128
  const Model a(c, std::move(blocks)), b(c, std::move(dense));
  const std::vector<int> tokens = synthetic_tokens(24, c.vocab_size, 6);
  FullCache ca(c.cache_shape()), cb(c.cache_shape()), cbase(c.cache_shape());
  const std::span<const int> prompt(tokens.data(), 20);
  const Matrix la = a.forward(prompt, 0, ca, Logits::All), lb = b.forward(prompt, 0, cb, Logits::All);
  CHECK(la == lb);  // a prefill: the same float32 values through the same products
  CHECK(la != base.forward(prompt, 0, cbase, Logits::All));  // Q8_0 did round
  for (int t = 20; t < 24; ++t) {  // decoding: direct dot products on the blocks
    const std::span<const int> one(tokens.data() + t, 1);
    const Matrix da = a.forward(one, t, ca), db = b.forward(one, t, cb);
    CHECK((da - db).cwiseAbs().maxCoeff() <= 1e-5f * db.cwiseAbs().maxCoeff());
  }
}
