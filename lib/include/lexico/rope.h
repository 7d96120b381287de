// Rotary position embedding, in the half-split layout of Hugging Face
// checkpoints: dimension i of a head rotates with dimension i + head_dim/2.
// Checkpoints in the interleaved layout (adjacent pairs) have their Wq and Wk
// rows permuted at load time (see weights.h), so this is the only layout the
// forward knows.
#pragma once
#include <cstdint>
#include <vector>

#include "lexico/model_config.h"

namespace lexico {

// cos and sin of every (position, frequency) of one forward call, shared by
// all layers and by queries and keys.
struct RopeAngles {
  int n_tokens = 0;
  int half = 0;  // head_dim / 2
  std::vector<float> cos, sin;  // [n_tokens, half]
};

class Rope {
 public:
  // Frequencies theta^(-2i/head_dim), rescaled as the config says (linear,
  // Llama 3, or per-frequency factors from a GGUF file).
  explicit Rope(const ModelConfig& config);

  const std::vector<double>& inv_freq() const { return inv_freq_; }
  RopeAngles angles(int64_t pos0, int n_tokens) const;
  // Rotates x [n_tokens, n_heads, head_dim] in place.
  static void rotate(const RopeAngles& a, float* x, int n_heads);

 private:
  std::vector<double> inv_freq_;
};

}  // namespace lexico
