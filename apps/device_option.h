// `--device auto|cpu|cuda` of the apps that sparse-code (lexico-encode,
// lexico-train, lexico-eval recon): the encoder (or, for lexico-train,
// learner) factory for the chosen device, and one line on
// stderr whenever where the work runs is worth knowing — the GPU it runs on, or why
// it runs on the CPU after a GPU was asked for (auto on a machine without a
// GPU stays quiet: that is the plain CPU case).
#pragma once
#include <cstdio>
#include <string>

#include <fmt/core.h>

#include "lexico/dictionary_learner.h"
#include "lexico/sparse_encoder.h"
#ifdef LEXICO_HAVE_CUDA
#include "lexico/cuda/device.h"
#include "lexico/cuda/select.h"
#endif

namespace lexico {

inline constexpr const char* kDeviceHelp =  // lexico-encode, lexico-eval recon
    "where OMP runs: auto (the GPU when one is usable), cpu, or cuda (falls back to the CPU, saying why)";

inline EncoderFactory device_encoders(const std::string& name, const char* app) {
  const Device device = parse_device(name);
#ifdef LEXICO_HAVE_CUDA
  if (device == Device::Auto && !cuda::gpu_usable()) return {};
  return cuda::encoder_factory(device, [app](const std::string& line) { fmt::print(stderr, "{}: {}\n", app, line); });
#else
  if (device == Device::Cuda)
    fmt::print(stderr, "{}: --device cuda: this lexico was built without CUDA (nvcc): OMP runs on the CPU\n", app);
  return {};
#endif
}

// lexico-train's learners for the chosen device: the whole training step on
// the GPU where it can run there (else the CPU's step with device_encoders).
inline LearnerFactory device_learners(const std::string& name, const char* app) {
  const Device device = parse_device(name);
#ifdef LEXICO_HAVE_CUDA
  if (device == Device::Auto && !cuda::gpu_usable()) return {};
  return cuda::learner_factory(device, [app](const std::string& line) { fmt::print(stderr, "{}: {}\n", app, line); });
#else
  if (device == Device::Cuda)
    fmt::print(stderr, "{}: --device cuda: this lexico was built without CUDA (nvcc): training runs on the CPU\n", app);
  return {};
#endif
}

}  // namespace lexico
