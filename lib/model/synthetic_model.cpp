#include "lexico/synthetic_model.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>

#include "lexico/dictionary_training_step.h"

namespace lexico {

namespace {

// Fills n values with mean + scale·N(0, 1). Each block of kBlock values draws
// from its own generator, seeded by (seed, tensor, block), so the values do
// not depend on the thread count and an 8B-parameter model is made in seconds.
void fill_normal(float* data, size_t n, float mean, float scale, uint32_t seed, uint32_t tensor) {
  constexpr size_t kBlock = size_t(1) << 16;
  const int64_t blocks = int64_t((n + kBlock - 1) / kBlock);
#pragma omp parallel for schedule(static)
  for (int64_t b = 0; b < blocks; ++b) {
    std::seed_seq seq{seed, tensor, uint32_t(b), uint32_t(uint64_t(b) >> 32)};
    std::mt19937 rng(seq);
    std::normal_distribution<float> normal;
    const size_t end = std::min(n, size_t(b + 1) * kBlock);
    for (size_t i = size_t(b) * kBlock; i < end; ++i) data[i] = mean + scale * normal(rng);
  }
}

}  // namespace

Model synthetic_model(const ModelConfig& c, uint32_t seed) {
  c.validate("synthetic model");
  uint32_t tensor = 0;  // each tensor's own stream of blocks
  auto mat = [&](int rows, int cols, float gain = 1.0f) {
    Matrix m(rows, cols);
    fill_normal(m.data(), size_t(m.size()), 0.0f, gain / std::sqrt(float(cols)), seed, tensor++);
    return m;
  };
  auto vec = [&](int n, float base, float spread) {
    Vector v(n);
    fill_normal(v.data(), size_t(n), base, spread, seed, tensor++);
    return v;
  };
  const int q_rows = c.n_heads * c.head_dim, kv_rows = c.n_kv_heads * c.head_dim;
  Weights w;
  w.token_embedding = mat(c.vocab_size, c.dim, std::sqrt(float(c.dim)));  // unit-variance embeddings
  for (int l = 0; l < c.n_layers; ++l) {
    LayerWeights lw;
    lw.attn_norm = vec(c.dim, 1.0f, 0.1f);
    lw.ffn_norm = vec(c.dim, 1.0f, 0.1f);
    lw.wq = mat(q_rows, c.dim, 2.0f);  // gain 2: attention sharper than uniform
    lw.wk = mat(kv_rows, c.dim, 2.0f);
    lw.wv = mat(kv_rows, c.dim);
    lw.wo = mat(c.dim, q_rows);
    if (c.qkv_bias) {
      lw.bq = vec(q_rows, 0.0f, 0.5f);
      lw.bk = vec(kv_rows, 0.0f, 0.5f);
      lw.bv = vec(kv_rows, 0.0f, 0.5f);
    }
    lw.w_gate = mat(c.hidden_dim, c.dim);
    lw.w_up = mat(c.hidden_dim, c.dim);
    lw.w_down = mat(c.dim, c.hidden_dim);
    w.layers.push_back(std::move(lw));
  }
  w.final_norm = vec(c.dim, 1.0f, 0.1f);
  if (!c.tied_embeddings) w.output = mat(c.vocab_size, c.dim);
  return Model(c, std::move(w));
}

Dictionary synthetic_dictionary(const CacheShape& shape, int n_atoms, uint32_t seed) {
  Dictionary d;
  d.model = "synthetic";
  d.n_layers = shape.n_layers;
  d.head_dim = shape.head_dim;
  d.n_atoms = n_atoms;
  for (int l = 0; l < shape.n_layers; ++l) {
    d.layers[l].keys = random_dictionary(shape.head_dim, n_atoms, uint64_t(seed) + 2 * uint64_t(l));
    d.layers[l].values = random_dictionary(shape.head_dim, n_atoms, uint64_t(seed) + 2 * uint64_t(l) + 1);
  }
  return d;
}

std::vector<int> synthetic_tokens(int n, int vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> token(0, vocab - 1);
  std::vector<int> t(size_t(std::max(n, 0)));
  for (int& x : t) x = token(rng);
  return t;
}

}  // namespace lexico
