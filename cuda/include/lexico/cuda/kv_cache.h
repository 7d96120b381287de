// The KV cache seen by the GPU forward pass (GpuModel): the device twin of
// lexico::KvCache. Keys, values, queries and outputs are float32 device
// arrays; every call is asynchronous on the given stream.
//
// A step is what one GpuModel::forward call runs for every layer: append the
// step's n tokens, attend with their n queries (query i sees every position up
// to its own), then finish_step() once after the last layer. The Lexico cache
// compresses there, all layers in one OMP launch, which gives the CPU
// LexicoCache's result (it compresses at the end of each layer's attend; a
// layer's codes only matter to that layer's later steps).
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include <cuda_runtime_api.h>

#include "lexico/kv_cache.h"

namespace lexico::cuda {

class GpuKvCache {
 public:
  virtual ~GpuKvCache() = default;

  // k, v: [n_tokens][n_kv_heads][head_dim], keys after RoPE. Throws
  // usage_error when n_tokens exceeds max_step_tokens() or the context
  // capacity would be exceeded.
  virtual void append(int layer, const float* k, const float* v, int n_tokens, cudaStream_t stream) = 0;
  // q, out: [n_tokens][n_heads][head_dim]: the queries of the n_tokens this
  // layer's last append() added (their causal lengths were set there).
  virtual void attend(int layer, const float* q, int n_tokens, float* out, cudaStream_t stream) = 0;
  // After the step's last layer.
  virtual void finish_step(cudaStream_t stream) = 0;
  // Before a forward call of n_tokens positions that runs in steps of at most
  // step_tokens: a cache whose steps are not independent of their split (the
  // Lexico cache codes after each step) keeps the whole call exact.
  virtual void begin_forward(int64_t /*n_tokens*/, int /*step_tokens*/, cudaStream_t) {}

  virtual int64_t length(int layer) const = 0;
  int max_step_tokens() const { return max_step_; }
  // Bytes the cache's current positions take in its storage (what the CPU
  // twin's payload_bytes() counts for the same positions); the device holds
  // the whole capacity's worth from the start.
  virtual size_t used_bytes() const = 0;
  virtual std::string name() const = 0;
  const CacheShape& shape() const { return shape_; }

 protected:
  GpuKvCache(CacheShape shape, int64_t capacity, int max_step);
  CacheShape shape_;
  int64_t capacity_;
  int max_step_;
  int last_append_ = 0;  // tokens of the latest append(), which attend() must match
};

}  // namespace lexico::cuda
