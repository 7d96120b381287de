// Sliding-window eviction (StreamingLLM-style with attention sinks): the
// query at position P attends exactly, in FP16, to the positions
// {p ≤ P : p > P − W} ∪ {p < S}: its last W positions (itself included) and
// the first S ("sink") tokens. The rule is per query, so a prefill and the
// same tokens fed one at a time give the same outputs. Between steps the
// cache holds the S sinks and the newest W tokens; older ones are dropped.
//
// length() counts every position appended, evicted ones included, so that
// fp16_bytes() is the size of the full FP16 cache for the same sequence;
// bytes() counts what is held.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lexico/kv_cache.h"

namespace lexico {

struct WindowOptions {
  int window = 256;  // W ≥ 1
  int sinks = 0;     // S ≥ 0
};

class WindowCache : public KvCache {
 public:
  // Throws usage_error for W < 1 or S < 0.
  WindowCache(CacheShape shape, WindowOptions options);
  ~WindowCache() override;

  void append(int layer, const float* k, const float* v, int n_tokens) override;
  void attend(int layer, const float* q, int n_tokens, float* out) override;
  int64_t length(int layer) const override;
  size_t bytes() const override;
  void clear() override;
  std::string name() const override;

  const WindowOptions& options() const { return options_; }
  int64_t held(int layer) const;  // positions held (sinks + window)

 private:
  struct Layer;
  void settle(int layer);

  WindowOptions options_;
  std::vector<Layer> layers_;
};

}  // namespace lexico
