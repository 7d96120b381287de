#include "lexico/cuda/kv_cache.h"

#include "lexico/error.h"

namespace lexico::cuda {

GpuKvCache::GpuKvCache(CacheShape shape, int64_t capacity, int max_step)
    : shape_(shape), capacity_(capacity), max_step_(max_step) {
  if (shape.n_layers < 1 || shape.n_heads < 1 || shape.n_kv_heads < 1 || shape.head_dim < 1 ||
      shape.n_heads % shape.n_kv_heads != 0)
    usage_error("GPU cache", "{} layers, {} query heads, {} KV heads, head_dim {} is not a grouped-query shape",
                shape.n_layers, shape.n_heads, shape.n_kv_heads, shape.head_dim);
  if (capacity < 1 || capacity > INT32_MAX)
    usage_error("GPU cache", "a capacity of {} positions is outside 1..{}", capacity, INT32_MAX);
  if (max_step < 1) usage_error("GPU cache", "a step of {} tokens is not positive", max_step);
}

}  // namespace lexico::cuda
