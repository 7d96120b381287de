// The KV cache seen by the model's forward pass. A cache attends over its own
// representation: the forward never sees how keys and values are stored, so
// "never densify" is a property of a cache's attend(), baselines are one class
// each, and a GPU twin is one more implementation of this interface.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

namespace lexico {

struct CacheShape {
  int n_layers = 0;
  int n_heads = 0;     // query heads
  int n_kv_heads = 0;  // key/value heads (grouped-query attention: n_heads % n_kv_heads == 0)
  int head_dim = 0;
};

class KvCache {
 public:
  virtual ~KvCache() = default;

  // Adds n_tokens new positions to one layer. k and v are [n_tokens, n_kv_heads,
  // head_dim] row-major; keys have RoPE applied.
  virtual void append(int layer, const float* k, const float* v, int n_tokens) = 0;

  // Causal attention for the n_tokens most recently appended positions of this
  // layer: q is [n_tokens, n_heads, head_dim] (RoPE applied), out receives
  // [n_tokens, n_heads, head_dim]. Query i sees every position up to its own.
  // Scores are scaled by 1/sqrt(head_dim).
  virtual void attend(int layer, const float* q, int n_tokens, float* out) = 0;

  // Positions held by one layer.
  virtual int64_t length(int layer) const = 0;
  // Bytes actually held (payload, buffers and per-cache shared tables).
  virtual size_t bytes() const = 0;
  // bytes() less the tables a cache shares with every other request (Lexico's
  // dictionaries and Gram matrices): what one more sequence costs.
  virtual size_t payload_bytes() const { return bytes(); }
  // Bytes the same positions would take as FP16 keys and values.
  size_t fp16_bytes() const;
  virtual void clear() = 0;
  virtual std::string name() const = 0;
  const CacheShape& shape() const { return shape_; }

 protected:
  explicit KvCache(CacheShape shape) : shape_(shape) {}
  CacheShape shape_;
};

}  // namespace lexico
