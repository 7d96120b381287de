// Device selection for the library interfaces (`--device auto|cpu|cuda`):
// an OMP encoder that runs on the GPU when asked for (or, with auto, when a
// usable GPU is present) and otherwise — or when the GPU cannot take the job
// (no GPU, an old one, a shape the kernels do not handle, out of GPU memory) —
// on the CPU's OmpEncoder, saying why in note(). Bad input and bad options
// raise the same errors on either device.
#pragma once
#include <memory>
#include <string>
#include <string_view>

#include <Eigen/Core>

#include "lexico/omp.h"
#include "lexico/sparse_codes.h"

namespace lexico::cuda {

enum class Device { Auto, Cpu, Cuda };

// "auto", "cpu" or "cuda"; anything else is a usage_error naming `option`.
Device parse_device(std::string_view text, const std::string& option = "--device");
const char* device_name(Device device);

class OmpBackend {
 public:
  // Builds the CPU encoder always (it is the fallback) and the GPU one when
  // `device` is Auto or Cuda and a usable GPU takes this dictionary.
  OmpBackend(Eigen::Ref<const Eigen::MatrixXf> dictionary, Device device);
  ~OmpBackend();

  // As OmpEncoder::encode. On the GPU when it can take these options; a GPU
  // failure (e.g. out of memory) falls back to the CPU and records why.
  SparseCoefs encode(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                     const OmpOptions& options) const;
  SparseCodes encode_fp8(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                         const OmpOptions& options) const;

  // Whether the last encode ran on the GPU (before any call: whether it would).
  bool on_gpu() const { return last_on_gpu_; }
  // Why the CPU was used (empty when on the GPU or when the CPU was asked for).
  const std::string& note() const { return note_; }
  const OmpEncoder& cpu() const { return *cpu_; }

 private:
  struct Gpu;
  std::unique_ptr<OmpEncoder> cpu_;
  std::unique_ptr<Gpu> gpu_;
  Device requested_;
  mutable bool last_on_gpu_ = false;
  mutable std::string note_;
};

}  // namespace lexico::cuda
