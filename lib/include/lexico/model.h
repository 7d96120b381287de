// A Llama-family model (Llama, Mistral, Qwen2, SmolLM) on the CPU: weights in
// fp32, a forward pass over a batch of tokens whose attention is done by a
// KvCache, so any cache implementation plugs in.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>

#include "lexico/kv_cache.h"
#include "lexico/model_config.h"
#include "lexico/rope.h"
#include "lexico/weights.h"

namespace lexico {

// Sees each layer's new keys and values as they are produced, before they
// reach the cache: [n_tokens, n_kv_heads, head_dim] each, for positions
// [pos0, pos0 + n_tokens). Keys are given before and after RoPE.
using KvObserver = std::function<void(int layer, int64_t pos0, int n_tokens, const float* keys_pre_rope,
                                      const float* keys, const float* values)>;

enum class Logits { Last, All };

class Model {
 public:
  Model(ModelConfig config, Weights weights);

  // A .gguf file, a llama2.c .bin checkpoint, or a Hugging Face folder with
  // config.json and *.safetensors (or one of its files). Throws BadInput.
  static Model load(const std::string& path);

  const ModelConfig& config() const { return config_; }
  const Weights& weights() const { return weights_; }

  // Runs tokens at positions [pos, pos + n) through the model, appending their
  // keys and values to cache (whose shape must be config().cache_shape()).
  // Returns logits [1, vocab] for the last token, or [n, vocab] for all.
  Matrix forward(std::span<const int> tokens, int64_t pos, KvCache& cache, Logits which = Logits::Last,
                 const KvObserver& observer = {}) const;

 private:
  ModelConfig config_;
  Weights weights_;
  Rope rope_;
};

}  // namespace lexico
