// `--device auto|cpu|cuda` of lexico-generate: the model's forward pass and
// its cache on the GPU (GpuModel with GpuFullCache or GpuLexicoCache) when
// asked for and possible. Otherwise the CPU runs it, after one line on stderr
// saying why whenever a GPU was asked for or is present but cannot take this
// run (a cache with no GPU twin, a shape the kernels do not take).
#pragma once
#include <algorithm>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include <fmt/core.h>

#include "lexico/cache_factory.h"
#include "lexico/runtime.h"
#include "lexico/sparse_encoder.h"
#include "lexico/text_generation.h"
#ifdef LEXICO_HAVE_CUDA
#include "lexico/cuda/device.h"
#include "lexico/cuda/full_cache.h"
#include "lexico/cuda/lexico_cache.h"
#include "lexico/cuda/model.h"
#endif

namespace lexico {

inline constexpr const char* kGenerateDeviceHelp =
    "where the model runs: auto (the GPU when one is usable and takes the cache), cpu, or cuda (falls back to the "
    "CPU, saying why); on the GPU, caches full* and lexico (the full cache stores FP16)";

// What the summary line reports of the cache a generation used.
struct CacheReport {
  std::string spec;
  size_t payload = 0, fp16 = 0, with_tables = 0;
};

#ifdef LEXICO_HAVE_CUDA

class GpuGeneration {
 public:
  // Null when the CPU is to run it (after the line on stderr described above).
  static std::unique_ptr<GpuGeneration> make(const Runtime& runtime, const std::string& device_name,
                                             int64_t max_length, const char* app) {
    const Device device = parse_device(device_name);
    if (device == Device::Cpu) return nullptr;
    const cuda::DeviceInfo& info = cuda::device_info();
    auto cpu = [&](const std::string& why) -> std::unique_ptr<GpuGeneration> {
      if (device == Device::Cuda || info.usable) fmt::print(stderr, "{}: runs on the CPU: {}\n", app, why);
      return nullptr;
    };
    if (!info.usable) return cpu("no usable CUDA GPU (" + info.reason + ")");
    const std::string why = cuda::GpuModel::unsupported_reason(runtime.model().config());
    if (!why.empty()) return cpu("the GPU model does not take this model: " + why);
    const std::string spec = runtime.resolved_spec(max_length);
    const std::string name = split_cache_spec(spec).name;
    if (name == "lexico") {
      const LexicoOptions o = parse_lexico_spec(spec);
      const int n_atoms = runtime.dictionary()->n_atoms;
      const int step = std::min(kStep, n_atoms - o.buffer);
      const std::string reason =
          step < 1 ? fmt::format("a buffer of {} tokens leaves no room in {} atoms", o.buffer, n_atoms)
                   : cuda::GpuLexicoCache::unsupported_reason(runtime.model().config().cache_shape(), n_atoms, o, step);
      if (!reason.empty()) return cpu("the GPU cache does not take '" + spec + "': " + reason);
    } else if (name.rfind("full", 0) != 0) {
      return cpu("cache '" + name + "' has no GPU version (full and lexico have)");
    }
    try {
      auto g = std::unique_ptr<GpuGeneration>(new GpuGeneration(runtime));
      fmt::print(stderr, "{}: model and cache on {}\n", app, info.summary());
      return g;
    } catch (const Error& e) {
      if (!cuda::is_gpu_error(e)) throw;
      return cpu(e.what());  // out of GPU memory for the weights
    }
  }

  // Allocates the cache for a sequence of `length` tokens; false (after a line
  // on stderr) when the GPU cannot hold it: the CPU then runs this prompt and
  // the next ones.
  bool prepare(int64_t length, const char* app) {
    const CacheShape shape = runtime_.model().config().cache_shape();
    const std::string spec = runtime_.resolved_spec(length);
    cache_.reset();
    tables_ = 0;
    try {
      if (split_cache_spec(spec).name == "lexico") {
        const LexicoOptions o = parse_lexico_spec(spec);
        const int step = std::min(kStep, runtime_.dictionary()->n_atoms - o.buffer);
        auto lexico = std::make_unique<cuda::GpuLexicoCache>(shape, *runtime_.dictionary(), o, length, step);
        tables_ = lexico->table_bytes();
        cache_ = std::move(lexico);
      } else {
        cache_ = std::make_unique<cuda::GpuFullCache>(shape, length, kStep);
      }
      return true;
    } catch (const Error& e) {
      if (!cuda::is_gpu_error(e)) throw;
      fmt::print(stderr, "{}: runs on the CPU: {}\n", app, e.what());
      return false;
    }
  }

  // On the cache prepare() made.
  Generation generate(std::span<const int32_t> prompt, const GenerationOptions& options, Sampler& sampler,
                      const std::function<void(std::string_view)>& on_piece, CacheReport& report) {
    const CacheShape shape = runtime_.model().config().cache_shape();
    cuda::GpuKvCache& cache = *cache_;
    const StepForward forward = [&](std::span<const int> tokens, int64_t pos) {
      return model_.forward(tokens, pos, cache);
    };
    const Generation g =
        generate_text(forward, runtime_.model().config().vocab_size, runtime_.tokenizer(), prompt, options, sampler,
                      on_piece);
    report.spec = cache.name();
    report.payload = cache.used_bytes();
    report.fp16 = size_t(cache.length(0)) * shape.n_layers * shape.n_kv_heads * shape.head_dim * 2 * 2;
    report.with_tables = report.payload + tables_;
    return g;
  }

 private:
  static constexpr int kStep = 512;  // tokens a forward step holds at most (a longer prompt runs in steps)
  explicit GpuGeneration(const Runtime& runtime) : runtime_(runtime), model_(runtime.model()) {}
  const Runtime& runtime_;
  cuda::GpuModel model_;
  std::unique_ptr<cuda::GpuKvCache> cache_;
  size_t tables_ = 0;  // the cache's dictionaries on the GPU
};

#else

// A build without CUDA: the CPU runs it; --device cuda says so.
class GpuGeneration {
 public:
  static std::unique_ptr<GpuGeneration> make(const Runtime&, const std::string& device_name, int64_t,
                                             const char* app) {
    if (parse_device(device_name) == Device::Cuda)
      fmt::print(stderr, "{}: runs on the CPU: this lexico was built without CUDA (nvcc)\n", app);
    return nullptr;
  }
  bool prepare(int64_t, const char*) { return false; }
  Generation generate(std::span<const int32_t>, const GenerationOptions&, Sampler&,
                      const std::function<void(std::string_view)>&, CacheReport&) {
    internal_error("GpuGeneration", "no CUDA in this build");
  }
};

#endif

}  // namespace lexico
