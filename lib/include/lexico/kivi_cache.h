// KIVI-style quantized KV cache (Liu et al., 2024), the 2- and 4-bit
// baseline. Keys are quantized per channel over groups of G tokens (one
// min/scale per channel and group), values per token over groups of G
// channels (one min/scale per token and channel group); asymmetric:
// x ≈ code·scale + min, codes bit-packed, scale and min in FP16 (min rounded
// down and scale rounded up, so every element dequantizes within scale/2).
//
// The newest tokens stay in an FP16 residual. As in LexicoCache, the tokens
// of the current step are always attended exactly and quantization happens
// between steps (end of attend()): values keep exactly the newest R tokens in
// the residual (older ones are quantized one token at a time); keys keep at
// least R and fewer than R + G (the oldest G are quantized as one group once
// R + G are buffered). Original KIVI flushes the whole key residual at R,
// keeping 0..R−1; here at least R of both are always exact.
//
// Attention dequantizes on the fly into float (the baseline, as KIVI).
// bytes(): packed codes + FP16 scales and mins + FP16 residual.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lexico/kv_cache.h"
#include "lexico/kv_dump.h"

namespace lexico {

struct KiviOptions {
  int bits = 2;        // 2 or 4
  int group = 32;      // G: tokens per key group, channels per value group
  int residual = 128;  // R: newest tokens kept in FP16
};

class KiviCache : public KvCache {
 public:
  // Throws usage_error for bits other than 2 or 4, group < 1, residual < 0.
  KiviCache(CacheShape shape, KiviOptions options);
  ~KiviCache() override;

  void append(int layer, const float* k, const float* v, int n_tokens) override;
  void attend(int layer, const float* q, int n_tokens, float* out) override;
  int64_t length(int layer) const override;
  size_t bytes() const override;
  void clear() override;
  std::string name() const override;

  const KiviOptions& options() const { return options_; }
  int64_t quantized_keys(int layer) const;    // tokens in key groups (a multiple of G)
  int64_t quantized_values(int layer) const;  // tokens quantized per token
  // One head's keys or values as attention sees them, [length, head_dim]
  // row-major: dequantized, then the FP16 residual.
  std::vector<float> dequantized(int layer, int kv_head, KvKind kind) const;

 private:
  struct Layer;
  void settle(int layer);
  void fill(const Layer& l, int kv_head, KvKind kind, float* dst) const;

  KiviOptions options_;
  std::vector<Layer> layers_;
};

}  // namespace lexico
