#include "lexico/cuda/full_cache.h"

#include "cache_kernels.cuh"
#include "lexico/error.h"

namespace lexico::cuda {

GpuFullCache::GpuFullCache(CacheShape shape, int64_t capacity, int max_step)
    : GpuKvCache(shape, capacity, max_step), length_(shape.n_layers, 0),
      attention_(cache_detail::dense_shape(shape, capacity, max_step)) {
  const size_t n = size_t(shape.n_layers) * shape.n_kv_heads * capacity * shape.head_dim;
  keys_.resize(n, "full cache keys");
  values_.resize(n, "full cache values");
  lengths_.resize(max_step, "full cache lengths");
}

size_t GpuFullCache::used_bytes() const {
  size_t n = 0;
  for (int64_t len : length_) n += size_t(len) * shape_.n_kv_heads * shape_.head_dim * 2 * sizeof(uint16_t);
  return n;
}

void GpuFullCache::append(int layer, const float* k, const float* v, int n_tokens, cudaStream_t stream) {
  const int64_t len = length_.at(layer);
  if (n_tokens < 1 || n_tokens > max_step_)
    usage_error(name(), "a step of {} tokens is outside 1..{}", n_tokens, max_step_);
  if (len + n_tokens > capacity_)
    usage_error(name(), "{} positions exceed the cache's capacity of {}", len + n_tokens, capacity_);
  const size_t layer_rows = size_t(shape_.n_kv_heads) * capacity_ * shape_.head_dim;
  cache_detail::append_step(k, v, n_tokens, shape_.n_kv_heads, shape_.head_dim, keys_.data() + layer * layer_rows,
                            values_.data() + layer * layer_rows, capacity_, len, {lengths_.data()}, stream);
  length_[layer] = len + n_tokens;
  last_append_ = n_tokens;
}

void GpuFullCache::attend(int layer, const float* q, int n_tokens, float* out, cudaStream_t stream) {
  const int64_t len = length_.at(layer);
  if (n_tokens != last_append_)
    usage_error(name(), "attend for {} queries, but the step appended {} positions", n_tokens, last_append_);
  const size_t layer_rows = size_t(shape_.n_kv_heads) * capacity_ * shape_.head_dim;
  attention_.run(keys_.data() + layer * layer_rows, values_.data() + layer * layer_rows, capacity_, lengths_.data(),
                 q, out, n_tokens, len, stream, /*one_sequence=*/true);
}

}  // namespace lexico::cuda
