#include "lexico/weights.h"

#include <cstring>
#include <string>

#include <fmt/format.h>

#include "lexico/error.h"
#include "lexico/gguf.h"
#include "lexico/llama2c.h"
#include "lexico/safetensors.h"

namespace lexico {

namespace {

std::string shape_str(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void check_shape(const std::string& where, const std::string& name, const std::vector<int64_t>& got,
                 const std::vector<int64_t>& want) {
  if (got != want)
    bad_input(where, "tensor '{}': shape {} does not match the config, expected {}", name, shape_str(got),
              shape_str(want));
}

// GGUF lists dimensions fastest first: a [rows, cols] matrix is [cols, rows].
// Block types are kept as blocks (a copy of the mapped bytes); float32 is read.
WeightMatrix gguf_matrix(const GgufFile& g, const std::string& name, int64_t rows, int64_t cols) {
  const GgufTensor& t = g.tensor(name);
  check_shape(g.path(), name, t.shape, {cols, rows});
  if (t.type != GgmlType::F32) {
    const size_t bytes = size_t(rows) * size_t(cols / ggml_block_size(t.type)) * size_t(ggml_block_bytes(t.type));
    if (bytes > t.n_bytes) bad_input(g.path(), "tensor '{}' holds {} bytes, {} expected", name, t.n_bytes, bytes);
    return WeightMatrix(t.type, rows, cols, std::vector<uint8_t>(t.data, t.data + bytes));
  }
  Matrix m(rows, cols);
  constexpr int64_t kChunk = 64;  // rows per task: dequantization is the slow part of loading
#pragma omp parallel for schedule(dynamic)
  for (int64_t r = 0; r < rows; r += kChunk) g.read_rows(t, r, std::min(kChunk, rows - r), m.data() + r * cols);
  return m;
}

Vector gguf_vector(const GgufFile& g, const std::string& name, int64_t n) {
  const GgufTensor& t = g.tensor(name);
  check_shape(g.path(), name, t.shape, {n});
  Vector v(n);
  g.read_rows(t, 0, 1, v.data());
  return v;
}

Matrix st_matrix(const Safetensors& s, const std::string& name, int64_t rows, int64_t cols) {
  const SafetensorsTensor& t = s.tensor(name);
  check_shape(*t.file, name, t.shape, {rows, cols});
  Matrix m(rows, cols);
  s.read(t, m.data());
  return m;
}

Vector st_vector(const Safetensors& s, const std::string& name, int64_t n) {
  const SafetensorsTensor& t = s.tensor(name);
  check_shape(*t.file, name, t.shape, {n});
  Vector v(n);
  s.read(t, v.data());
  return v;
}

// One layer's slice of a stacked llama2.c weight.
Matrix l2c_matrix(const Llama2cFile& f, const std::string& name, int layer, int64_t rows, int64_t cols) {
  const Llama2cTensor& t = f.tensor(name);
  Matrix m(rows, cols);
  std::memcpy(m.data(), t.data + layer * rows * cols, static_cast<size_t>(rows * cols) * sizeof(float));
  return m;
}

Vector l2c_vector(const Llama2cFile& f, const std::string& name, int layer, int64_t n) {
  const Llama2cTensor& t = f.tensor(name);
  Vector v(n);
  std::memcpy(v.data(), t.data + layer * n, static_cast<size_t>(n) * sizeof(float));
  return v;
}

void permute_qk(LayerWeights& l, const ModelConfig& c) {
  interleaved_to_half_split(l.wq, c.n_heads, c.head_dim);
  interleaved_to_half_split(l.wk, c.n_kv_heads, c.head_dim);
  if (l.bq.size()) interleaved_to_half_split(l.bq, c.n_heads, c.head_dim);
  if (l.bk.size()) interleaved_to_half_split(l.bk, c.n_kv_heads, c.head_dim);
}

}  // namespace

namespace {

// Row i of the half-split layout is row half_split_order[i] of the interleaved one.
std::vector<int64_t> half_split_order(int n_heads, int head_dim) {
  const int half = head_dim / 2;
  std::vector<int64_t> order(size_t(n_heads) * head_dim);
  for (int h = 0; h < n_heads; ++h)
    for (int i = 0; i < half; ++i) {
      order[size_t(h) * head_dim + i] = int64_t(h) * head_dim + 2 * i;
      order[size_t(h) * head_dim + half + i] = int64_t(h) * head_dim + 2 * i + 1;
    }
  return order;
}

}  // namespace

void interleaved_to_half_split(Matrix& w, int n_heads, int head_dim) {
  const std::vector<int64_t> order = half_split_order(n_heads, head_dim);
  const Matrix old = w;
  for (size_t i = 0; i < order.size(); ++i) w.row(Eigen::Index(i)) = old.row(order[i]);
}

void interleaved_to_half_split(WeightMatrix& w, int n_heads, int head_dim) {
  w.permute_rows(half_split_order(n_heads, head_dim));
}

size_t Weights::matrix_bytes() const {
  size_t n = token_embedding.bytes() + output.bytes();
  for (const LayerWeights& l : layers)
    for (const WeightMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) n += m->bytes();
  return n;
}

void interleaved_to_half_split(Vector& bias, int n_heads, int head_dim) {
  Matrix m = Eigen::Map<Matrix>(bias.data(), bias.size(), 1);
  interleaved_to_half_split(m, n_heads, head_dim);
  bias = Eigen::Map<Vector>(m.data(), m.size());
}

Weights weights_from_gguf(const GgufFile& g, const ModelConfig& c) {
  const int64_t q_dim = int64_t{c.n_heads} * c.head_dim, kv_dim = int64_t{c.n_kv_heads} * c.head_dim;
  Weights w;
  w.token_embedding = gguf_matrix(g, "token_embd.weight", c.vocab_size, c.dim);
  for (int i = 0; i < c.n_layers; ++i) {
    const std::string p = fmt::format("blk.{}.", i);
    LayerWeights l;
    l.attn_norm = gguf_vector(g, p + "attn_norm.weight", c.dim);
    l.wq = gguf_matrix(g, p + "attn_q.weight", q_dim, c.dim);
    l.wk = gguf_matrix(g, p + "attn_k.weight", kv_dim, c.dim);
    l.wv = gguf_matrix(g, p + "attn_v.weight", kv_dim, c.dim);
    if (c.qkv_bias) {
      l.bq = gguf_vector(g, p + "attn_q.bias", q_dim);
      l.bk = gguf_vector(g, p + "attn_k.bias", kv_dim);
      l.bv = gguf_vector(g, p + "attn_v.bias", kv_dim);
    }
    l.wo = gguf_matrix(g, p + "attn_output.weight", c.dim, q_dim);
    l.ffn_norm = gguf_vector(g, p + "ffn_norm.weight", c.dim);
    l.w_gate = gguf_matrix(g, p + "ffn_gate.weight", c.hidden_dim, c.dim);
    l.w_up = gguf_matrix(g, p + "ffn_up.weight", c.hidden_dim, c.dim);
    l.w_down = gguf_matrix(g, p + "ffn_down.weight", c.dim, c.hidden_dim);
    // llama.cpp's converter interleaves Wq/Wk for the llama architecture only.
    if (c.arch == Arch::Llama) permute_qk(l, c);
    w.layers.push_back(std::move(l));
  }
  w.final_norm = gguf_vector(g, "output_norm.weight", c.dim);
  if (!c.tied_embeddings) w.output = gguf_matrix(g, "output.weight", c.vocab_size, c.dim);
  return w;
}

Weights weights_from_safetensors(const Safetensors& s, const ModelConfig& c) {
  const int64_t q_dim = int64_t{c.n_heads} * c.head_dim, kv_dim = int64_t{c.n_kv_heads} * c.head_dim;
  Weights w;
  w.token_embedding = st_matrix(s, "model.embed_tokens.weight", c.vocab_size, c.dim);
  for (int i = 0; i < c.n_layers; ++i) {
    const std::string p = fmt::format("model.layers.{}.", i);
    LayerWeights l;
    l.attn_norm = st_vector(s, p + "input_layernorm.weight", c.dim);
    l.wq = st_matrix(s, p + "self_attn.q_proj.weight", q_dim, c.dim);
    l.wk = st_matrix(s, p + "self_attn.k_proj.weight", kv_dim, c.dim);
    l.wv = st_matrix(s, p + "self_attn.v_proj.weight", kv_dim, c.dim);
    if (c.qkv_bias) {
      l.bq = st_vector(s, p + "self_attn.q_proj.bias", q_dim);
      l.bk = st_vector(s, p + "self_attn.k_proj.bias", kv_dim);
      l.bv = st_vector(s, p + "self_attn.v_proj.bias", kv_dim);
    }
    l.wo = st_matrix(s, p + "self_attn.o_proj.weight", c.dim, q_dim);
    l.ffn_norm = st_vector(s, p + "post_attention_layernorm.weight", c.dim);
    l.w_gate = st_matrix(s, p + "mlp.gate_proj.weight", c.hidden_dim, c.dim);
    l.w_up = st_matrix(s, p + "mlp.up_proj.weight", c.hidden_dim, c.dim);
    l.w_down = st_matrix(s, p + "mlp.down_proj.weight", c.dim, c.hidden_dim);
    w.layers.push_back(std::move(l));
  }
  w.final_norm = st_vector(s, "model.norm.weight", c.dim);
  if (!c.tied_embeddings) w.output = st_matrix(s, "lm_head.weight", c.vocab_size, c.dim);
  return w;
}

Weights weights_from_llama2c(const Llama2cFile& f, const ModelConfig& c) {
  const int64_t kv_dim = int64_t{c.n_kv_heads} * c.head_dim;
  Weights w;
  w.token_embedding = l2c_matrix(f, "token_embedding_table", 0, c.vocab_size, c.dim);
  for (int i = 0; i < c.n_layers; ++i) {
    LayerWeights l;
    l.attn_norm = l2c_vector(f, "rms_att_weight", i, c.dim);
    l.wq = l2c_matrix(f, "wq", i, c.dim, c.dim);
    l.wk = l2c_matrix(f, "wk", i, kv_dim, c.dim);
    l.wv = l2c_matrix(f, "wv", i, kv_dim, c.dim);
    l.wo = l2c_matrix(f, "wo", i, c.dim, c.dim);
    l.ffn_norm = l2c_vector(f, "rms_ffn_weight", i, c.dim);
    l.w_gate = l2c_matrix(f, "w1", i, c.hidden_dim, c.dim);
    l.w_down = l2c_matrix(f, "w2", i, c.dim, c.hidden_dim);
    l.w_up = l2c_matrix(f, "w3", i, c.hidden_dim, c.dim);
    permute_qk(l, c);  // llama2.c rotates adjacent pairs
    w.layers.push_back(std::move(l));
  }
  w.final_norm = l2c_vector(f, "rms_final_weight", 0, c.dim);
  if (!c.tied_embeddings) w.output = l2c_matrix(f, "wcls", 0, c.vocab_size, c.dim);
  return w;
}

}  // namespace lexico
