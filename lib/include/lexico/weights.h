// A Llama-family model's weights: the linear layers as the file stores them
// (WeightMatrix: float32 or GGUF blocks, dequantized where used), norms and
// biases as float32. Matrices are [out, in] row-major (a linear layer is
// y = W x), and Wq/Wk rows are in the half-split RoPE layout whatever the
// file used.
#pragma once
#include <vector>

#include <Eigen/Core>

#include "lexico/model_config.h"
#include "lexico/weight_matrix.h"

namespace lexico {

class GgufFile;
class Safetensors;
class Llama2cFile;

using Vector = Eigen::VectorXf;

struct LayerWeights {
  Vector attn_norm, ffn_norm;
  WeightMatrix wq, wk, wv, wo;  // [n_heads*head_dim, dim], [n_kv*head_dim, dim] x2, [dim, n_heads*head_dim]
  Vector bq, bk, bv;      // empty unless the config has qkv_bias
  WeightMatrix w_gate, w_up, w_down;  // [hidden, dim] x2, [dim, hidden]
};

struct Weights {
  WeightMatrix token_embedding;  // [vocab, dim]
  std::vector<LayerWeights> layers;
  Vector final_norm;
  WeightMatrix output;  // [vocab, dim]; empty when tied to the token embedding
  const WeightMatrix& classifier() const { return output.size() ? output : token_embedding; }
  // Bytes the linear layers and embeddings hold.
  size_t matrix_bytes() const;
};

// GGUF llama-arch files (llama.cpp's converter) and llama2.c checkpoints keep
// Wq/Wk rows in the interleaved layout; they are permuted to half-split.
Weights weights_from_gguf(const GgufFile& file, const ModelConfig& config);
Weights weights_from_safetensors(const Safetensors& file, const ModelConfig& config);
Weights weights_from_llama2c(const Llama2cFile& file, const ModelConfig& config);

// Reorders the rows of each head of w ([n_heads*head_dim, in]) from the
// interleaved RoPE layout to half-split: new row i is old row 2i and new row
// head_dim/2 + i is old row 2i+1. Half-split RoPE on the permuted rows equals
// interleaved RoPE on the originals, and q.k is unchanged since queries and
// keys get the same permutation.
void interleaved_to_half_split(Matrix& w, int n_heads, int head_dim);
void interleaved_to_half_split(WeightMatrix& w, int n_heads, int head_dim);
void interleaved_to_half_split(Vector& bias, int n_heads, int head_dim);

}  // namespace lexico
