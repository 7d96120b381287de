#include "lexico/kv_cache.h"

namespace lexico {

size_t KvCache::fp16_bytes() const {
  size_t positions = 0;
  for (int l = 0; l < shape_.n_layers; ++l) positions += static_cast<size_t>(length(l));
  // A key and a value of head_dim half floats per KV head and position.
  return positions * static_cast<size_t>(shape_.n_kv_heads) * shape_.head_dim * 2 * sizeof(uint16_t);
}

}  // namespace lexico
