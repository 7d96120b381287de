#include "lexico/sparse_encoder.h"

#include "lexico/error.h"

namespace lexico {

namespace {

class CpuOmp final : public SparseEncoder {
 public:
  explicit CpuOmp(Eigen::Ref<const Eigen::MatrixXf> dictionary) : omp_(dictionary) {}
  SparseCoefs encode(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                     const OmpOptions& options) const override {
    return omp_.encode(vectors, options);
  }

 private:
  OmpEncoder omp_;
};

}  // namespace

std::unique_ptr<SparseEncoder> make_encoder(const EncoderFactory& factory, Eigen::Ref<const Eigen::MatrixXf> dictionary) {
  if (factory) return factory(dictionary);
  return std::make_unique<CpuOmp>(dictionary);
}

Device parse_device(std::string_view text, std::string_view option) {
  if (text == "auto") return Device::Auto;
  if (text == "cpu") return Device::Cpu;
  if (text == "cuda" || text == "gpu") return Device::Cuda;
  usage_error(std::string(option), "'{}' is not a device (auto, cpu or cuda)", text);
}

}  // namespace lexico
