// A model reading one sequence through its own KV cache: what text generation
// and teacher-forced scoring drive. CacheSequence is the CPU's (a Model and a
// KvCache); the GPU runtime's twin lives with the apps (apps/gpu_sequence.h),
// since the library includes no CUDA header.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "lexico/kv_cache.h"
#include "lexico/model.h"

namespace lexico {

class Sequence {
 public:
  virtual ~Sequence() = default;
  // Tokens at positions [pos, pos + n), appended to the cache: logits [1, vocab]
  // for the last token or [n, vocab] for all (Model::forward's contract).
  virtual Matrix forward(std::span<const int> tokens, int64_t pos, Logits which = Logits::Last) = 0;
  virtual int vocab_size() const = 0;
  // The cache: bytes stored (KvCache::payload_bytes), the same positions as
  // FP16 keys and values, bytes with the shared tables; and its name.
  virtual size_t payload_bytes() const = 0;
  virtual size_t fp16_bytes() const = 0;
  virtual size_t bytes() const = 0;
  virtual std::string cache_name() const = 0;
};

class CacheSequence : public Sequence {
 public:
  CacheSequence(const Model& model, KvCache& cache) : model_(model), cache_(cache) {}
  CacheSequence(const Model& model, std::unique_ptr<KvCache> cache)
      : model_(model), owned_(std::move(cache)), cache_(*owned_) {}
  Matrix forward(std::span<const int> tokens, int64_t pos, Logits which = Logits::Last) override {
    return model_.forward(tokens, pos, cache_, which);
  }
  int vocab_size() const override { return model_.config().vocab_size; }
  size_t payload_bytes() const override { return cache_.payload_bytes(); }
  size_t fp16_bytes() const override { return cache_.fp16_bytes(); }
  size_t bytes() const override { return cache_.bytes(); }
  std::string cache_name() const override { return cache_.name(); }

 private:
  const Model& model_;
  std::unique_ptr<KvCache> owned_;
  KvCache& cache_;
};

}  // namespace lexico
