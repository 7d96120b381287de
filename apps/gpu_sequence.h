// `--device auto|cpu|cuda` of the apps that run the model (lexico-generate,
// lexico-eval perplexity, kl, longbench and niah; lexico-harvest through
// GpuWindows): the forward pass and its cache on the GPU
// (GpuModel with GpuFullCache or GpuLexicoCache) when asked for and possible.
// Otherwise the CPU runs it, after one line on stderr saying why whenever a
// GPU was asked for or is present but cannot take this run (a cache with no
// GPU twin, a shape the kernels do not take, too little GPU memory).
#pragma once
#include <algorithm>
#include <cstdio>
#include <memory>
#include <string>

#include <fmt/core.h>

#include "lexico/cache_factory.h"
#include "lexico/error.h"
#include "lexico/runtime.h"
#include "lexico/sequence.h"
#include "lexico/sparse_encoder.h"
#ifdef LEXICO_HAVE_CUDA
#include "lexico/cuda/device.h"
#include "lexico/cuda/full_cache.h"
#include "lexico/cuda/lexico_cache.h"
#include "lexico/cuda/model.h"
#endif

namespace lexico {

inline constexpr const char* kModelDeviceHelp =
    "where the model runs: auto (the GPU when one is usable and takes the cache), cpu, or cuda (falls back to the "
    "CPU, saying why); on the GPU, caches full* and lexico (the full cache stores FP16)";

#ifdef LEXICO_HAVE_CUDA

// The checks every GPU path starts with: --device, a usable GPU, a model
// shape the GPU forward takes. `reason` is empty when the GPU may run it;
// else say_cpu() prints it when worth saying (a GPU was asked for or is
// present) — auto on a machine without a GPU is the plain CPU case.
struct GpuChoice {
  Device device;
  // Probed unless --device cpu: the probe creates a CUDA context on the GPU.
  const cuda::DeviceInfo* info = nullptr;
  std::string reason;
  GpuChoice(const std::string& device_name, const ModelConfig& config) : device(parse_device(device_name)) {
    if (device == Device::Cpu) {
      reason = "--device cpu";
      return;
    }
    info = &cuda::device_info();
    if (!info->usable) reason = "no usable CUDA GPU (" + info->reason + ")";
    else if (const std::string why = cuda::GpuModel::unsupported_reason(config); !why.empty())
      reason = "the GPU model does not take this model: " + why;
  }
  void say_cpu(const char* app, const std::string& why) const {
    if (device == Device::Cuda || (device == Device::Auto && info->usable))
      fmt::print(stderr, "{}: runs on the CPU: {}\n", app, why);
  }
};

// One sequence on the GPU: the shared GpuModel (kept alive by its sequences:
// the runner that made it may be dropped while they run) and a cache of its own.
class GpuSequence : public Sequence {
 public:
  GpuSequence(std::shared_ptr<cuda::GpuModel> model, std::unique_ptr<cuda::GpuKvCache> cache, size_t table_bytes)
      : model_(std::move(model)), cache_(std::move(cache)), tables_(table_bytes) {}
  Matrix forward(std::span<const int> tokens, int64_t pos, Logits which = Logits::Last) override {
    return model_->forward(tokens, pos, *cache_, which);
  }
  int vocab_size() const override { return model_->config().vocab_size; }
  size_t payload_bytes() const override { return cache_->used_bytes(); }
  size_t fp16_bytes() const override {
    const CacheShape& s = cache_->shape();
    return size_t(cache_->length(0)) * s.n_layers * s.n_kv_heads * s.head_dim * 2 * 2;
  }
  size_t bytes() const override { return payload_bytes() + tables_; }
  std::string cache_name() const override { return cache_->name(); }

 private:
  std::shared_ptr<cuda::GpuModel> model_;
  std::unique_ptr<cuda::GpuKvCache> cache_;
  size_t tables_;
};

// lexico-harvest's window runner on the GPU: FP32 weights (the dump holds
// the CPU's keys and values to float rounding), a fresh full cache a window.
class GpuWindows {
 public:
  // Null when the CPU is to run it (after a line on stderr, as GpuRunner::make).
  static std::unique_ptr<GpuWindows> make(const Model& model, const std::string& device_name, int ctx,
                                          const char* app) {
    const GpuChoice choice(device_name, model.config());
    if (!choice.reason.empty()) {
      choice.say_cpu(app, choice.reason);
      return nullptr;
    }
    try {
      auto windows = std::unique_ptr<GpuWindows>(new GpuWindows(model, ctx));
      fmt::print(stderr, "{}: model on {}\n", app, choice.info->summary());
      return windows;
    } catch (const Error& e) {
      if (!cuda::is_gpu_error(e)) throw;
      choice.say_cpu(app, e.what());  // the weights do not fit
      return nullptr;
    }
  }
  // Runs one window from position 0, reporting keys and values to the observer.
  void run(std::span<const int> window, const KvObserver& observer) {
    cuda::GpuFullCache cache(model_.config().cache_shape(), ctx_, ctx_);
    model_.forward(window, 0, cache, Logits::Last, observer);
  }

 private:
  GpuWindows(const Model& model, int ctx) : model_(model, cuda::WeightPrecision::F32, ctx), ctx_(ctx) {}
  cuda::GpuModel model_;
  int ctx_;
};

class GpuRunner {
 public:
  // Null when the CPU is to run `spec` (after the line on stderr described above).
  static std::unique_ptr<GpuRunner> make(const Runtime& runtime, const std::string& device_name,
                                         const std::string& spec, const char* app) {
    const GpuChoice choice(device_name, runtime.model().config());
    auto cpu = [&](const std::string& why) -> std::unique_ptr<GpuRunner> {
      choice.say_cpu(app, why);
      return nullptr;
    };
    if (!choice.reason.empty()) return cpu(choice.reason);
    const std::string name = split_cache_spec(spec).name;
    if (name == "lexico") {
      const LexicoOptions o = parse_lexico_spec(spec);
      const std::string reason = cuda::GpuLexicoCache::unsupported_reason(
          runtime.model().config().cache_shape(), runtime.dictionary()->n_atoms, o, kLexicoStep);
      if (!reason.empty()) return cpu("the GPU cache does not take '" + spec + "': " + reason);
    } else if (name.rfind("full", 0) != 0) {
      return cpu("cache '" + name + "' has no GPU version (full and lexico have)");
    }
    try {
      auto runner = std::unique_ptr<GpuRunner>(new GpuRunner(runtime));
      fmt::print(stderr, "{}: model and cache on {}\n", app, choice.info->summary());
      return runner;
    } catch (const Error& e) {
      if (!cuda::is_gpu_error(e)) throw;
      return cpu(e.what());  // out of GPU memory for the weights
    }
  }

  // A sequence of up to `length` tokens with the cache of `spec` (a lexico
  // cache overlaps its encoding with the next step when `overlap`); null,
  // after a line on stderr, when the GPU cannot hold the cache.
  std::unique_ptr<Sequence> sequence(const std::string& spec, int64_t length, bool overlap, const char* app) {
    const CacheShape shape = runtime_.model().config().cache_shape();
    try {
      if (split_cache_spec(spec).name == "lexico") {
        const LexicoOptions o = parse_lexico_spec(spec);
        const Dictionary& dict = *runtime_.dictionary();
        auto cache = std::make_unique<cuda::GpuLexicoCache>(shape, dict, o, length,
                                                            int(std::min<int64_t>(length, kLexicoStep)), overlap);
        const size_t tables = cache->table_bytes();
        return std::make_unique<GpuSequence>(model_, std::move(cache), tables);
      }
      return std::make_unique<GpuSequence>(model_, std::make_unique<cuda::GpuFullCache>(shape, length, kStep), 0);
    } catch (const Error& e) {
      if (!cuda::is_gpu_error(e)) throw;
      fmt::print(stderr, "{}: runs on the CPU: {}\n", app, e.what());
      return nullptr;
    }
  }

 private:
  // Tokens a forward step holds at most with the full cache and with the
  // Lexico cache. Longer inputs run in steps, exact either way: the Lexico
  // cache keeps a whole forward call in its FP16 buffer and codes it after,
  // as the CPU's LexicoCache does (its buffer grows for a call of more than
  // one step).
  static constexpr int kStep = 512, kLexicoStep = 8192;
  explicit GpuRunner(const Runtime& runtime)
      : runtime_(runtime),
        model_(std::make_shared<cuda::GpuModel>(runtime.model(), cuda::WeightPrecision::F16, kLexicoStep)) {}
  const Runtime& runtime_;
  std::shared_ptr<cuda::GpuModel> model_;
};

#else

// A build without CUDA: the CPU runs it; --device cuda says so.
class GpuRunner {
 public:
  static std::unique_ptr<GpuRunner> make(const Runtime&, const std::string& device_name, const std::string&,
                                         const char* app) {
    if (parse_device(device_name) == Device::Cuda)
      fmt::print(stderr, "{}: runs on the CPU: this lexico was built without CUDA (nvcc)\n", app);
    return nullptr;
  }
  std::unique_ptr<Sequence> sequence(const std::string&, int64_t, bool, const char*) { return nullptr; }
};

class GpuWindows {
 public:
  static std::unique_ptr<GpuWindows> make(const Model&, const std::string& device_name, int, const char* app) {
    if (parse_device(device_name) == Device::Cuda)
      fmt::print(stderr, "{}: runs on the CPU: this lexico was built without CUDA (nvcc)\n", app);
    return nullptr;
  }
  void run(std::span<const int>, const KvObserver&) { internal_error("GpuWindows", "no CUDA in this build"); }
};

#endif

// The sequences an app runs, on the device chosen at the first one (as
// GpuRunner::make decides) and on the CPU from then on when the GPU cannot
// hold a cache. `overlap`: the GPU's lexico cache overlaps its encoding with
// the next step (generation) or codes serially, as the CPU's (evaluation).
class SequenceSource {
 public:
  SequenceSource(const Runtime& runtime, std::string device, const char* app, bool overlap)
      : runtime_(runtime), device_(std::move(device)), app_(app), overlap_(overlap) {}

  // A fresh sequence of up to `length` tokens with the runtime's cache (its
  // spec resolved for that length), or with `spec` when given.
  std::unique_ptr<Sequence> make(int64_t length, const std::string& spec = "") {
    const std::string cache = spec.empty() ? runtime_.resolved_spec(length) : spec;
    if (!decided_) {
      gpu_ = GpuRunner::make(runtime_, device_, cache, app_);
      decided_ = true;
    }
    if (gpu_) {
      if (auto s = gpu_->sequence(cache, length, overlap_, app_)) return s;
      gpu_.reset();
    }
    const Model& model = runtime_.model();
    return std::make_unique<CacheSequence>(
        model, spec.empty() ? runtime_.make_cache(length) : make_cache(spec, model.config().cache_shape()));
  }
  bool on_gpu() const { return gpu_ != nullptr; }

 private:
  const Runtime& runtime_;
  std::string device_;
  const char* app_;
  bool overlap_;
  bool decided_ = false;
  std::unique_ptr<GpuRunner> gpu_;
};

}  // namespace lexico
