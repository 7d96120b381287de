#include "lexico/synthetic_model.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "lexico/dictionary_training_step.h"

namespace lexico {

Model synthetic_model(const ModelConfig& c, uint32_t seed) {
  c.validate("synthetic model");
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  auto mat = [&](int rows, int cols, float gain = 1.0f) {
    const float scale = gain / std::sqrt(float(cols));
    return Matrix(Matrix::NullaryExpr(rows, cols, [&] { return scale * normal(rng); }));
  };
  auto vec = [&](int n, float base, float spread) {
    return Vector(Vector::NullaryExpr(n, [&] { return base + spread * normal(rng); }));
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
