// The sparse coder of one dictionary as the library's batch jobs see it
// (lexico-encode's encode_dump, lexico-train's learner): OMP on the CPU
// (OmpEncoder) or its GPU twin (lexico::cuda::OmpBackend, cuda/select.h)
// behind one interface, so a job takes a factory and never knows which device
// it runs on. Every implementation gives OmpEncoder's results, to float
// tolerance, and the same errors for bad input and options.
#pragma once
#include <functional>
#include <memory>
#include <string_view>

#include <Eigen/Core>

#include "lexico/omp.h"
#include "lexico/sparse_codes.h"

namespace lexico {

class SparseEncoder {
 public:
  virtual ~SparseEncoder() = default;
  // As OmpEncoder::encode: each column of `vectors` (m×B) to one CSR row.
  virtual SparseCoefs encode(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                             const OmpOptions& options) const = 0;
  SparseCodes encode_fp8(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                         const OmpOptions& options) const {
    return quantize_fp8(encode(vectors, options));
  }
};

// Makes the encoder of one dictionary (m×N, unit-norm columns). An empty
// factory means the CPU's OmpEncoder.
using EncoderFactory = std::function<std::unique_ptr<SparseEncoder>(Eigen::Ref<const Eigen::MatrixXf> dictionary)>;

// factory(dictionary), or an OmpEncoder when the factory is empty.
std::unique_ptr<SparseEncoder> make_encoder(const EncoderFactory& factory, Eigen::Ref<const Eigen::MatrixXf> dictionary);

// Where the apps' `--device` option sends the sparse coding.
enum class Device { Auto, Cpu, Cuda };
// "auto", "cpu" or "cuda" ("gpu" is taken for "cuda"); anything else is a
// usage_error naming `option`.
Device parse_device(std::string_view text, std::string_view option = "--device");

}  // namespace lexico
