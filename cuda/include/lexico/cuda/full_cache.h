// The uncompressed cache on the GPU: keys and values in FP16 (the twin of
// FullCache with Storage::F16, the cache spec "full16"), attended by the
// flash-decoding kernel of attention.h with every query of a step reading the
// one sequence's rows up to its own position.
#pragma once
#include <vector>

#include "lexico/cuda/attention.h"
#include "lexico/cuda/kv_cache.h"

namespace lexico::cuda {

class GpuFullCache : public GpuKvCache {
 public:
  // Allocates `capacity` positions for every layer. Throws Error(Internal,
  // "cuda", ...) without a usable GPU, for a head dimension the kernel does
  // not take (64 or 128), or when the cache does not fit.
  GpuFullCache(CacheShape shape, int64_t capacity, int max_step = 512);

  void append(int layer, const float* k, const float* v, int n_tokens, cudaStream_t stream) override;
  void attend(int layer, const float* q, int n_tokens, float* out, cudaStream_t stream) override;
  void finish_step(cudaStream_t) override {}
  int64_t length(int layer) const override { return length_.at(layer); }
  size_t used_bytes() const override;
  std::string name() const override { return "full-fp16 (GPU)"; }

 private:
  DeviceBuffer<uint16_t> keys_, values_;  // FP16 bits, [layer][kv head][capacity][m]
  DeviceBuffer<int32_t> lengths_;         // [max_step]: query i's visible positions
  std::vector<int64_t> length_;
  DenseDecodeAttention attention_;
};

}  // namespace lexico::cuda
