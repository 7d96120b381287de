// Batched OMP on the GPU: the twin of lexico::OmpEncoder (lexico/omp.h),
// same options, same stopping rules, same results to float tolerance.
//
// How (docs/cuda.md): a block pursues up to 64 vectors of one dictionary at once.
// Each step, the correlations of the 64 residuals with all N atoms come from
// one FP16 tensor-core product (D in FP16, streamed through shared memory)
// whose epilogue keeps, per vector, the top two |α| of every thread. FP16
// only short-lists: with a rigorous bound ε on the FP16 error of each
// correlation, every atom within 2ε of the approximate maximum is a
// candidate, and the candidates' correlations are recomputed exactly
// (float32, against the float residual) to pick the atom; when the short list cannot
// be proved complete, the vector's warp scans all N atoms exactly. The pick is
// therefore the CPU's argmax (ties to the lowest index) up to float rounding.
// The Cholesky factor is kept inverted (B = L⁻ᵀ, double), so each step is
// matrix–vector products with no serial chain; the Gram entries G_{I,j} are
// computed on the fly in float (the CPU's G is float too). No N×N Gram matrix
// is stored: a dictionary costs 6·m·N bytes on the GPU. Tiles of 64 vectors;
// launches of few vectors a dictionary (the per-token step) use tiles of 16
// with a deeper pipeline.
//
// Limits on the GPU: head dimension m ≤ 128, s ≤ 32, N ≤ 65536.
// unsupported_reason() says why a configuration cannot run here; the caller
// (see select.h) then uses the CPU encoder.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <Eigen/Core>
#include <cuda_runtime_api.h>

#include "lexico/omp.h"
#include "lexico/sparse_codes.h"

namespace lexico::cuda {

inline constexpr int kGpuOmpMaxDim = 128;
inline constexpr int kGpuOmpMaxSparsity = 32;

// Fixed-s output slots in device memory (not owned): vector v's atoms are
// slots [v·s, v·s + counts[v]) in selection order; the remaining slots hold
// index 0 and coefficient 0 (so a fixed-s cache can store them as they are).
// Any pointer may be null when that output is not wanted.
struct DeviceSlots {
  int32_t* counts = nullptr;    // [n]
  uint16_t* indices = nullptr;  // [n·s]
  float* values = nullptr;      // [n·s] least-squares coefficients (float)
  uint8_t* fp8 = nullptr;       // [n·s] the same, rounded to FP8 E4M3
};

// Work counters of the last call, for tests and benchmarks.
struct GpuOmpStats {
  int64_t vector_steps = 0;  // argmax searches made
  int64_t exact_scans = 0;   // of which fell back to an exact scan of all N atoms
  int64_t list_rescans = 0;  // short lists whose every atom was rescored (a near-tie inside one list)
  double kernel_ms = 0.0;    // device time of the pursuit kernel(s)
  // Blocks that shared each tile of vectors: 2 where few small tiles (such as
  // the per-token step's) left SMs idle and a cluster of two split the atoms.
  int blocks_per_tile = 1;
};

class GpuOmpEncoder {
 public:
  // One dictionary (m×N, unit-norm columns), or several of one shape (e.g.
  // every layer's key and value dictionaries, for the per-token path).
  // Validates like OmpEncoder (same bad_input messages), then uploads FP16 and
  // float32 copies. Throws Error(Internal, "cuda", ...) without a usable GPU
  // or when the upload does not fit.
  explicit GpuOmpEncoder(Eigen::Ref<const Eigen::MatrixXf> dictionary);
  explicit GpuOmpEncoder(const std::vector<Eigen::MatrixXf>& dictionaries);
  ~GpuOmpEncoder();
  GpuOmpEncoder(GpuOmpEncoder&&) noexcept;
  GpuOmpEncoder& operator=(GpuOmpEncoder&&) noexcept;

  int dim() const;
  int n_atoms() const;
  int n_dictionaries() const;
  size_t device_bytes() const;  // dictionaries held on the GPU
  // The FP16 copy of dictionary `dictionary` on the device (round to nearest),
  // atom-major: atom j at + j·atom_stride(), its dim() values, then zeros up
  // to atom_stride() (64 or 128). Valid while the encoder lives; the Lexico
  // cache's attention reads it rather than keep a copy of its own.
  const uint16_t* device_atoms_fp16(int dictionary) const;
  int atom_stride() const;

  // Empty when the GPU kernels handle this shape and these options; else why not.
  static std::string unsupported_reason(int dim, int n_atoms, const OmpOptions& options);

  // Host in, host out: the contract of OmpEncoder::encode, over dictionary
  // `dictionary` (default the first). Same usage_error / bad_input for bad
  // options or vectors (a non-finite vector is reported by index); GPU
  // trouble throws Error(Internal, "cuda", ...). options.threads is ignored.
  SparseCoefs encode(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors, const OmpOptions& options,
                     int dictionary = 0) const;
  SparseCoefs encode(const float* vectors, int64_t n_vectors, int64_t stride, const OmpOptions& options,
                     int dictionary = 0) const;
  SparseCodes encode_fp8(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                         const OmpOptions& options, int dictionary = 0) const;
  // Vector v (column v) uses dictionary dictionary_of[v].
  SparseCoefs encode_multi(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                           const std::vector<int>& dictionary_of, const OmpOptions& options) const;

  // Device in, device out, asynchronous on `stream` (one kernel launch, plus
  // one for fp8_refit). d_vectors: n vectors of length m, `stride` floats
  // apart, on the device, grouped by dictionary: vectors
  // [group_begin[d], group_begin[d+1]) use dictionary d (group_begin has
  // n_dictionaries()+1 entries, group_begin.back() = n). The per-token path
  // calls this once per decode step with every layer's keys and values.
  // A non-finite vector gets count −1 (check with encode_device_errors).
  void encode_device(const float* d_vectors, int64_t n_vectors, int64_t stride,
                     const std::vector<int64_t>& group_begin, const OmpOptions& options, DeviceSlots out,
                     cudaStream_t stream = nullptr) const;
  // Synchronises `stream`; the lowest index of a non-finite vector of the
  // last encode_device call, or −1.
  int64_t encode_device_errors(cudaStream_t stream = nullptr) const;

  // Replaces dictionary `dictionary` by m×N float32 columns already on the
  // device (column j at d_columns + j·m; unit norm, as the constructor
  // demands, is the caller's promise and not checked), on `stream`, which it
  // synchronises (the FP16 rounding bounds come back to the host). For a
  // learner whose dictionary lives on the GPU.
  void update_dictionary(const float* d_columns, cudaStream_t stream = nullptr, int dictionary = 0);

  // Few small tiles (one decode step's, say) may each take a cluster of two
  // blocks, two SMs, for the lowest latency (the default). An encoding that
  // runs beside other work, such as a cache's overlapped per-step encoding,
  // turns this off and leaves those SMs to that work.
  void set_split_tiles(bool allowed);

  const GpuOmpStats& last_stats() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lexico::cuda
