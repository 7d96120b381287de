// Choosing the next token from logits: greedy (temperature 0), or sampling
// with temperature, top-k and top-p (nucleus), seeded so runs repeat.
#pragma once
#include <cstdint>
#include <random>
#include <vector>

namespace lexico {

struct SamplerOptions {
  float temperature = 0;  // 0: greedy (argmax)
  int top_k = 0;          // 0: no limit
  float top_p = 1;        // 1: no limit
  uint64_t seed = 1;
};

class Sampler {
 public:
  explicit Sampler(const SamplerOptions& options);  // validates: usage_error on bad values
  int sample(const float* logits, int n);

 private:
  SamplerOptions options_;
  std::mt19937_64 rng_;
  std::vector<std::pair<float, int>> candidates_;
};

}  // namespace lexico
