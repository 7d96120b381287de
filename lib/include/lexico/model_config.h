// The shape and hyper-parameters of a Llama-family model, read from a GGUF
// file's metadata, a Hugging Face config.json, or a llama2.c header.
#pragma once
#include <string>
#include <vector>

#include "lexico/kv_cache.h"

namespace lexico {

class GgufFile;
struct Llama2cHeader;
namespace json {
class Value;
}

// Llama, Mistral and SmolLM share one forward; Qwen2 adds Q/K/V biases.
enum class Arch { Llama, Mistral, Qwen2 };

struct RopeScaling {
  enum class Type { None, Linear, Llama3 };
  Type type = Type::None;
  float factor = 1;                // Linear: positions / factor; Llama3: long wavelengths / factor
  float low_freq_factor = 1;       // Llama3 only
  float high_freq_factor = 4;      // Llama3 only
  int original_max_positions = 8192;  // Llama3 only
};

struct ModelConfig {
  Arch arch = Arch::Llama;
  int dim = 0;         // hidden size
  int n_layers = 0;
  int n_heads = 0;     // query heads
  int n_kv_heads = 0;  // key/value heads
  int head_dim = 0;
  int hidden_dim = 0;  // MLP intermediate size
  int vocab_size = 0;
  int max_context = 0;
  float rms_eps = 1e-5f;
  float rope_theta = 10000;
  RopeScaling rope_scaling;
  // Per-frequency divisors of the RoPE frequencies (head_dim / 2 of them), as
  // llama.cpp stores Llama 3 scaling in GGUF files (rope_freqs.weight); empty
  // when the scaling is given by rope_scaling instead.
  std::vector<float> rope_freq_factors;
  bool qkv_bias = false;
  bool tied_embeddings = false;

  CacheShape cache_shape() const { return {n_layers, n_heads, n_kv_heads, head_dim}; }
  // Throws BadInput naming `where` unless the dimensions are positive and consistent.
  void validate(const std::string& where) const;
};

std::string arch_name(Arch arch);

// From `<arch>.*` keys (llama, qwen2); tied embeddings when output.weight is
// absent; Llama 3 frequency factors from rope_freqs.weight when present.
ModelConfig config_from_gguf(const GgufFile& gguf);
// From a parsed config.json (model_type llama, mistral, qwen2 or smollm).
ModelConfig config_from_hf(const json::Value& config, const std::string& where);
ModelConfig config_from_llama2c(const Llama2cHeader& header);

}  // namespace lexico
