#include "lexico/cuda/select.h"

#include "lexico/cuda/device.h"
#include "lexico/cuda/omp.h"
#include "lexico/error.h"

namespace lexico::cuda {

Device parse_device(std::string_view text, const std::string& option) {
  if (text == "auto") return Device::Auto;
  if (text == "cpu") return Device::Cpu;
  if (text == "cuda" || text == "gpu") return Device::Cuda;
  usage_error(option, "'{}' is not a device (auto, cpu or cuda)", text);
}

const char* device_name(Device device) {
  switch (device) {
    case Device::Auto: return "auto";
    case Device::Cpu: return "cpu";
    case Device::Cuda: return "cuda";
  }
  return "?";
}

struct OmpBackend::Gpu {
  GpuOmpEncoder encoder;
};

OmpBackend::OmpBackend(Eigen::Ref<const Eigen::MatrixXf> dictionary, Device device)
    : cpu_(std::make_unique<OmpEncoder>(dictionary)), requested_(device) {
  if (device == Device::Cpu) return;
  if (!gpu_usable()) {
    note_ = "no usable GPU (" + device_info().reason + "): running on the CPU";
    return;
  }
  if (dictionary.rows() > kGpuOmpMaxDim) {
    note_ = GpuOmpEncoder::unsupported_reason(int(dictionary.rows()), int(dictionary.cols()), OmpOptions{}) +
            ": running on the CPU";
    return;
  }
  try {
    gpu_ = std::make_unique<Gpu>(Gpu{GpuOmpEncoder(dictionary)});
    last_on_gpu_ = true;
  } catch (const Error& e) {
    if (!is_gpu_error(e)) throw;
    note_ = std::string(e.what()) + ": running on the CPU";
  }
}

OmpBackend::~OmpBackend() = default;

SparseCoefs OmpBackend::encode(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                               const OmpOptions& options) const {
  if (gpu_) {
    const std::string why = GpuOmpEncoder::unsupported_reason(cpu_->dim(), cpu_->n_atoms(), options);
    if (why.empty()) {
      try {
        SparseCoefs coefs = gpu_->encoder.encode(vectors, options);
        last_on_gpu_ = true;
        note_.clear();
        return coefs;
      } catch (const Error& e) {
        if (!is_gpu_error(e)) throw;  // bad input or options: the CPU would say the same
        note_ = std::string(e.what()) + ": running on the CPU";
      }
    } else {
      note_ = why + ": running on the CPU";
    }
  }
  last_on_gpu_ = false;
  return cpu_->encode(vectors, options);
}

SparseCodes OmpBackend::encode_fp8(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                                   const OmpOptions& options) const {
  return quantize_fp8(encode(vectors, options));
}

}  // namespace lexico::cuda
