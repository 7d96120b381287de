// The uncompressed baseline: every key and value kept, in FP32 or FP16, and
// exact causal attention (softmax with max subtraction) over all of them.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lexico/kv_cache.h"

namespace lexico {

class FullCache : public KvCache {
 public:
  enum class Storage { F32, F16 };
  explicit FullCache(CacheShape shape, Storage storage = Storage::F32);

  void append(int layer, const float* k, const float* v, int n_tokens) override;
  void attend(int layer, const float* q, int n_tokens, float* out) override;
  int64_t length(int layer) const override { return length_.at(layer); }
  size_t bytes() const override;
  void clear() override;
  std::string name() const override { return storage_ == Storage::F32 ? "full" : "full-fp16"; }

 private:
  // One (layer, KV head)'s positions, contiguous: [length, head_dim].
  struct Head {
    std::vector<float> k32, v32;
    std::vector<uint16_t> k16, v16;
  };
  Head& head(int layer, int kv_head) { return heads_[static_cast<size_t>(layer) * shape_.n_kv_heads + kv_head]; }

  Storage storage_;
  std::vector<Head> heads_;
  std::vector<int64_t> length_;
};

}  // namespace lexico
