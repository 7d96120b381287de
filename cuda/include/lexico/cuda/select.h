// Device selection for the library's batch jobs (`--device auto|cpu|cuda`):
// an OMP encoder that runs on the GPU when asked for (or, with auto, when a
// usable GPU is present) and otherwise — or when the GPU cannot take the job
// (no GPU, an old one, a shape the kernels do not handle, out of GPU memory) —
// on the CPU's OmpEncoder, saying why in note(). Bad input and bad options
// raise the same errors on either device.
#pragma once
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include <Eigen/Core>

#include "lexico/dictionary_learner.h"
#include "lexico/omp.h"
#include "lexico/sparse_codes.h"
#include "lexico/sparse_encoder.h"

namespace lexico::cuda {

class OmpBackend final : public SparseEncoder {
 public:
  // Builds the GPU encoder when `device` is Auto or Cuda and a usable GPU
  // takes this dictionary; the CPU's (its Gram matrix costs 4·N² bytes and
  // O(m·N²) time) only when the CPU is asked for or first needed.
  OmpBackend(Eigen::Ref<const Eigen::MatrixXf> dictionary, Device device);
  ~OmpBackend() override;

  // As OmpEncoder::encode. On the GPU when it can take these options; a GPU
  // failure (e.g. out of memory) falls back to the CPU and records why.
  SparseCoefs encode(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                     const OmpOptions& options) const override;

  // Whether the last encode ran on the GPU (before any call: whether it would).
  bool on_gpu() const { return last_on_gpu_; }
  // Why the CPU was used (empty when on the GPU or when the CPU was asked for).
  const std::string& note() const { return note_; }
  const OmpEncoder& cpu() const;

 private:
  struct Gpu;
  Eigen::MatrixXf dictionary_;  // kept for the CPU encoder, built on first use
  mutable std::once_flag cpu_once_;
  mutable std::unique_ptr<OmpEncoder> cpu_;
  std::unique_ptr<Gpu> gpu_;
  mutable bool last_on_gpu_ = false;
  mutable std::string note_;
};

// The factory the library's jobs take (encode_dump, training): OmpBackends on
// `device`. `notice` hears one line each time where the coding runs changes
// — "OMP runs on NVIDIA H100 …", or why it runs on the CPU after asking for
// a GPU — so an app can log it once instead of once per dictionary. With
// Device::Cpu it returns an empty factory (OmpEncoder).
EncoderFactory encoder_factory(Device device, std::function<void(const std::string&)> notice = {});

// The factory of lexico-train's dictionary learners: with Auto or Cuda, a
// GpuDictionaryLearner (cuda/dictionary_learner.h: the whole step on the GPU)
// when a usable GPU takes the shape and its state fits; otherwise — saying
// why when a GPU was usable — a CpuDictionaryLearner that codes with
// encoder_factory(device, notice). With Device::Cpu, an empty factory.
LearnerFactory learner_factory(Device device, std::function<void(const std::string&)> notice = {});

}  // namespace lexico::cuda
