// The Llama-family forward pass on the GPU: the twin of lexico::Model's
// forward (lib/model/forward.cpp), attending through a GpuKvCache so the
// full and the Lexico cache plug in alike. Weights are uploaded once from a
// loaded Model; GEMMs are cuBLAS (FP16 weights with FP32 accumulation, or
// FP32 throughout), the rest small fused kernels: RMSNorm, the Q/K/V split
// with bias and RoPE, SiLU·up, all on one stream.
#pragma once
#include <memory>
#include <span>
#include <string>

#include <cuda_runtime_api.h>

#include "lexico/cuda/kv_cache.h"
#include "lexico/model.h"

namespace lexico::cuda {

enum class WeightPrecision {
  F16,  // weights and GEMM inputs in FP16, FP32 accumulation and activations
  F32,  // FP32 throughout (the CPU's arithmetic, for checking)
};

class GpuModel {
 public:
  // Uploads the weights (the Q, K, V and the gate, up projections fused).
  // A step holds up to max_step tokens; activations for 512 are allocated
  // here and grow when a longer step comes (a long prompt). Throws
  // Error(Internal, "cuda", ...) without a usable GPU, when the weights do
  // not fit, or for a head dimension the attention kernels do not take.
  GpuModel(const Model& model, WeightPrecision precision = WeightPrecision::F16, int max_step = 512);
  ~GpuModel();
  // Empty when the GPU forward takes this model; else why not.
  static std::string unsupported_reason(const ModelConfig& config);

  // As Model::forward: tokens at positions [pos, pos + n) through the model,
  // appending their keys and values to the cache; logits [1, vocab] for the
  // last token or [n, vocab] for all. More than min(max_step, the cache's
  // step) tokens run as several steps, each ending with cache.finish_step()
  // (announced by cache.begin_forward: the Lexico cache keeps the call exact).
  // Synchronises the model's stream before returning. An observer sees each
  // layer's keys (before and after RoPE) and values on the host, as
  // Model::forward's does (a copy and a synchronisation per layer: harvesting).
  Matrix forward(std::span<const int> tokens, int64_t pos, GpuKvCache& cache, Logits which = Logits::Last,
                 const KvObserver& observer = {});

  const ModelConfig& config() const { return config_; }
  size_t weight_bytes() const;
  cudaStream_t stream() const;

 private:
  struct Impl;
  // One step of n ≤ max_step tokens, ending with cache.finish_step(); its
  // logits (every row, or the last) go to `logits` from row out_row on.
  void step(const int* tokens, int n, int64_t pos, GpuKvCache& cache, bool all_logits, Matrix& logits,
            int64_t out_row, const KvObserver& observer);

  ModelConfig config_;
  Rope rope_;
  int max_step_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lexico::cuda
