// Per-token integer quantization, the simplest quantized baseline: each key
// and each value vector (one token, one KV head) is quantized on its own to
// 8 or 4 bits with one FP16 scale: symmetric (x ≈ code·scale, code in
// [−(2^(b−1)−1), 2^(b−1)−1], scale = max|x|/that rounded up to FP16) or
// asymmetric (x ≈ code·scale + min, code in [0, 2^b−1], FP16 min and scale).
// 4-bit codes are packed two per byte. Every element dequantizes within
// scale/2.
//
// Policy as the other caches: the current step's tokens are attended exactly
// (FP16), and quantized between steps, except the newest `residual` tokens
// (default 0). Attention dequantizes into float.
// bytes(): codes + FP16 scales (and mins) + FP16 residual.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lexico/kv_cache.h"
#include "lexico/kv_dump.h"

namespace lexico {

struct TokenQuantOptions {
  int bits = 8;  // 8 or 4
  bool symmetric = true;
  int residual = 0;  // newest tokens kept in FP16 between steps
};

class TokenQuantCache : public KvCache {
 public:
  // Throws usage_error for bits other than 4 or 8, or a negative residual.
  TokenQuantCache(CacheShape shape, TokenQuantOptions options);
  ~TokenQuantCache() override;

  void append(int layer, const float* k, const float* v, int n_tokens) override;
  void attend(int layer, const float* q, int n_tokens, float* out) override;
  int64_t length(int layer) const override;
  size_t bytes() const override;
  void clear() override;
  std::string name() const override;

  const TokenQuantOptions& options() const { return options_; }
  int64_t quantized_length(int layer) const;
  // One head's keys or values as attention sees them, [length, head_dim].
  std::vector<float> dequantized(int layer, int kv_head, KvKind kind) const;
  // The FP16 scale of quantized token `token` of one head, as a float.
  float scale(int layer, int kv_head, KvKind kind, int64_t token) const;

 private:
  struct Layer;
  void settle(int layer);
  void fill(const Layer& l, int kv_head, KvKind kind, float* dst) const;

  TokenQuantOptions options_;
  std::vector<Layer> layers_;
};

}  // namespace lexico
