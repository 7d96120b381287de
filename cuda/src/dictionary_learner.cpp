#include "lexico/cuda/dictionary_learner.h"

#include <algorithm>
#include <numeric>
#include <vector>

#include <cublas_v2.h>

#include "blas.h"
#include "learner_kernels.cuh"
#include "lexico/cuda/device.h"
#include "lexico/cuda/omp.h"
#include "lexico/error.h"

namespace lexico::cuda {

namespace ld = learner_detail;

namespace {

// The gradient GEMM's codes are scattered into a dense N×(slice) block of at
// most this many bytes, so large batches (or N) run in slices of vectors.
constexpr int64_t kDenseCodeBytes = int64_t(128) << 20;
constexpr int64_t kMaxSliceVectors = 8192;
constexpr int64_t kValidationBlock = 65536;  // vectors coded at once by mean_rre, as the CPU learner

OmpOptions omp_options(const LearnerOptions& o) {
  OmpOptions omp;
  omp.sparsity = o.sparsity;
  return omp;
}

template <typename T>
void download(std::vector<T>& out, const DeviceBuffer<T>& from, size_t count, cudaStream_t stream) {
  out.resize(count);
  if (count > 0)
    LEXICO_CUDA_CHECK(cudaMemcpyAsync(out.data(), from.data(), count * sizeof(T), cudaMemcpyDeviceToHost, stream));
}

template <typename T>
void upload(DeviceBuffer<T>& to, const T* from, size_t count, cudaStream_t stream) {
  if (count > 0)
    LEXICO_CUDA_CHECK(cudaMemcpyAsync(to.data(), from, count * sizeof(T), cudaMemcpyHostToDevice, stream));
}

// Owners of the learner's stream and cuBLAS handle, so that a constructor
// that throws halfway (e.g. out of memory) leaks neither.
struct Stream {
  cudaStream_t handle = nullptr;
  Stream() { LEXICO_CUDA_CHECK(cudaStreamCreateWithFlags(&handle, cudaStreamNonBlocking)); }
  ~Stream() { cudaStreamDestroy(handle); }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
};
struct Blas {
  cublasHandle_t handle = nullptr;
  explicit Blas(cudaStream_t stream) {
    check_blas(cublasCreate(&handle), "cublasCreate");
    try {
      check_blas(cublasSetStream(handle, stream), "cublasSetStream");
      check_blas(cublasSetMathMode(handle, CUBLAS_PEDANTIC_MATH), "cublasSetMathMode");  // FP32, no TF32
    } catch (...) {
      cublasDestroy(handle);
      throw;
    }
  }
  ~Blas() { cublasDestroy(handle); }
  Blas(const Blas&) = delete;
  Blas& operator=(const Blas&) = delete;
};

}  // namespace

struct GpuDictionaryLearner::Impl {
  int dim = 0, n_atoms = 0;
  Stream owned_stream;
  cudaStream_t stream = owned_stream.handle;
  Blas owned_blas{stream};
  cublasHandle_t blas = owned_blas.handle;
  GpuOmpEncoder encoder;
  DeviceBuffer<float> dict, first, second, grad;  // m×N each
  DeviceBuffer<int64_t> adam_steps, idle;        // N each
  DeviceBuffer<int32_t> used;                    // N: atoms the step's codes use
  // Per call, grown as needed.
  mutable DeviceBuffer<float> x, residual, dense_codes;
  mutable DeviceBuffer<int32_t> counts;
  mutable DeviceBuffer<uint16_t> indices;
  mutable DeviceBuffer<float> values;
  mutable DeviceBuffer<double> errors;
  DeviceBuffer<float> float_norms2;  // ‖r‖² in float: the CPU's test for a residual to restart from
  DeviceBuffer<int32_t> restarts;  // [atoms | vectors] of the step's restarts

  explicit Impl(const Eigen::MatrixXf& init)
      : dim(int(init.rows())), n_atoms(int(init.cols())), encoder(init) {
    const size_t size = init.size();
    dict.resize(size, "GPU learner dictionary");
    first.resize(size, "GPU learner Adam first moments");
    second.resize(size, "GPU learner Adam second moments");
    grad.resize(size, "GPU learner gradient");
    adam_steps.resize(n_atoms, "GPU learner Adam step counts");
    idle.resize(n_atoms, "GPU learner idle counts");
    used.resize(n_atoms, "GPU learner used atoms");
    restarts.resize(2 * size_t(n_atoms), "GPU learner restarts");
    upload(dict, init.data(), size, stream);
    LEXICO_CUDA_CHECK(cudaMemsetAsync(first.data(), 0, first.bytes(), stream));
    LEXICO_CUDA_CHECK(cudaMemsetAsync(second.data(), 0, second.bytes(), stream));
    LEXICO_CUDA_CHECK(cudaMemsetAsync(adam_steps.data(), 0, adam_steps.bytes(), stream));
    LEXICO_CUDA_CHECK(cudaMemsetAsync(idle.data(), 0, idle.bytes(), stream));
    LEXICO_CUDA_CHECK(cudaMemsetAsync(used.data(), 0, used.bytes(), stream));
    LEXICO_CUDA_CHECK(cudaStreamSynchronize(stream));
  }
  // Copies columns [from, from + n) of `vectors` to x.
  void upload_vectors(const Eigen::Ref<const Eigen::MatrixXf>& vectors, int64_t from, int64_t n) const {
    x.reserve(std::max<size_t>(size_t(n) * dim, 1), "GPU learner vectors");
    if (n > 0)
      LEXICO_CUDA_CHECK(cudaMemcpy2DAsync(x.data(), dim * sizeof(float), vectors.data() + from * vectors.outerStride(),
                                          vectors.outerStride() * sizeof(float), dim * sizeof(float), size_t(n),
                                          cudaMemcpyHostToDevice, stream));
  }

  // Codes the n vectors in x (column `from` of the caller's matrix first, for
  // the message about a non-finite one).
  ld::Codes encode(int64_t n, int64_t from, const OmpOptions& options) const {
    const size_t slots = std::max<size_t>(size_t(n) * options.sparsity, 1);
    counts.reserve(std::max<int64_t>(n, 1), "GPU learner code counts");
    indices.reserve(slots, "GPU learner code indices");
    values.reserve(slots, "GPU learner code values");
    encoder.encode_device(x.data(), n, dim, {0, n}, options,
                          DeviceSlots{counts.data(), indices.data(), values.data(), nullptr}, stream);
    const int64_t bad = n > 0 ? encoder.encode_device_errors(stream) : -1;  // no launch: nothing to report
    if (bad >= 0) bad_input("omp", "vector {} holds a non-finite value", from + bad);
    return {counts.data(), indices.data(), values.data(), options.sparsity};
  }

  // grad = −(2/b) R Yᵀ, the codes Y scattered into dense N-row blocks.
  void gradient(const ld::Codes& codes, int64_t b) {
    if (b == 0) {
      LEXICO_CUDA_CHECK(cudaMemsetAsync(grad.data(), 0, grad.bytes(), stream));
      return;
    }
    const float alpha = -2.0f / float(b);
    const int64_t slice = std::clamp<int64_t>(kDenseCodeBytes / (int64_t(n_atoms) * 4), 1, kMaxSliceVectors);
    dense_codes.reserve(size_t(n_atoms) * std::min(b, slice), "GPU learner dense codes");
    for (int64_t from = 0; from < b; from += slice) {
      const int64_t count = std::min(slice, b - from);
      const float beta = from == 0 ? 0.0f : 1.0f;
      LEXICO_CUDA_CHECK(cudaMemsetAsync(dense_codes.data(), 0, size_t(n_atoms) * count * sizeof(float), stream));
      ld::launch_scatter_codes(codes, from, count, n_atoms, dense_codes.data(), stream);
      check_blas(cublasSgemm(blas, CUBLAS_OP_N, CUBLAS_OP_T, dim, n_atoms, int(count), &alpha,
                             residual.data() + from * dim, dim, dense_codes.data(), n_atoms, &beta, grad.data(), dim),
                 "cublasSgemm");
    }
  }

  Eigen::MatrixXf matrix(const DeviceBuffer<float>& from) const {
    Eigen::MatrixXf out(dim, n_atoms);
    LEXICO_CUDA_CHECK(cudaMemcpyAsync(out.data(), from.data(), from.bytes(), cudaMemcpyDeviceToHost, stream));
    LEXICO_CUDA_CHECK(cudaStreamSynchronize(stream));
    return out;
  }
};

GpuDictionaryLearner::GpuDictionaryLearner(const Eigen::MatrixXf& init, const LearnerOptions& options)
    : options_(options) {
  require_gpu("GPU dictionary training");
  const std::string why = unsupported_reason(int(init.rows()), int(init.cols()), options);
  if (!why.empty()) throw Error(ErrorKind::Internal, "cuda", why);
  impl_ = std::make_unique<Impl>(init);
}

GpuDictionaryLearner::~GpuDictionaryLearner() = default;

std::string GpuDictionaryLearner::unsupported_reason(int dim, int n_atoms, const LearnerOptions& options) {
  return GpuOmpEncoder::unsupported_reason(dim, n_atoms, omp_options(options));
}

size_t GpuDictionaryLearner::device_bytes() const {
  const Impl& I = *impl_;
  return I.encoder.device_bytes() + I.dict.bytes() + I.first.bytes() + I.second.bytes() + I.grad.bytes() +
         I.adam_steps.bytes() + I.idle.bytes() + I.used.bytes() + I.restarts.bytes() + I.x.bytes() +
         I.residual.bytes() + I.dense_codes.bytes() + I.counts.bytes() + I.indices.bytes() + I.values.bytes() +
         I.errors.bytes();
}

Eigen::MatrixXf GpuDictionaryLearner::dictionary() const { return impl_->matrix(impl_->dict); }

double GpuDictionaryLearner::step(const Eigen::Ref<const Eigen::MatrixXf>& batch, double lr) {
  Impl& I = *impl_;
  if (batch.rows() != I.dim)
    bad_input("omp", "vectors have length {}, the dictionary's atoms {}", batch.rows(), I.dim);
  const int64_t b = batch.cols();
  I.upload_vectors(batch, 0, b);
  const ld::Codes codes = I.encode(b, 0, omp_options(options_));
  I.residual.reserve(std::max<size_t>(size_t(b) * I.dim, 1), "GPU learner residuals");
  I.errors.reserve(std::max<int64_t>(b, 1), "GPU learner squared errors");
  I.float_norms2.reserve(std::max<int64_t>(b, 1), "GPU learner residual norms");
  ld::launch_residuals(I.x.data(), I.dict.data(), I.dim, b, codes, I.residual.data(), I.errors.data(),
                       I.float_norms2.data(), I.used.data(), I.stream);
  I.gradient(codes, b);
  const AdamOptions& adam = options_.adam;
  ld::launch_adam_step({I.dict.data(), I.grad.data(), I.first.data(), I.second.data(), I.adam_steps.data(),
                        I.idle.data(), I.used.data(), I.dim, I.n_atoms, lr, adam.beta1, adam.beta2, adam.epsilon},
                       I.stream);
  ++steps_;

  std::vector<double> squared_errors;
  std::vector<int64_t> idle;
  download(squared_errors, I.errors, size_t(b), I.stream);
  if (options_.dead_after > 0) download(idle, I.idle, size_t(I.n_atoms), I.stream);
  LEXICO_CUDA_CHECK(cudaStreamSynchronize(I.stream));
  const double total = std::accumulate(squared_errors.begin(), squared_errors.end(), 0.0);

  // Dead atoms restart from the batch's worst residuals, chosen as the CPU
  // learner chooses them (largest ‖r‖², then lowest index), stopping at a
  // residual whose float norm is 0 (nothing to normalise).
  std::vector<int32_t> dead;
  for (int j = 0; j < int(idle.size()); ++j)
    if (idle[size_t(j)] >= options_.dead_after) dead.push_back(j);
  if (!dead.empty()) {
    std::vector<int32_t> worst(static_cast<size_t>(b));
    std::iota(worst.begin(), worst.end(), 0);
    const size_t n = std::min(dead.size(), worst.size());
    std::partial_sort(worst.begin(), worst.begin() + int64_t(n), worst.end(), [&](int32_t a, int32_t c) {
      const double ea = squared_errors[size_t(a)], ec = squared_errors[size_t(c)];
      return ea != ec ? ea > ec : a < c;
    });
    std::vector<float> float_norms2;
    download(float_norms2, I.float_norms2, size_t(b), I.stream);
    LEXICO_CUDA_CHECK(cudaStreamSynchronize(I.stream));
    size_t pairs = 0;
    while (pairs < n && float_norms2[size_t(worst[pairs])] > 0.0f) ++pairs;
    dead.resize(pairs);
    dead.insert(dead.end(), worst.begin(), worst.begin() + int64_t(pairs));
    upload(I.restarts, dead.data(), dead.size(), I.stream);
    ld::launch_restart(I.restarts.data(), I.restarts.data() + pairs, int(pairs), I.residual.data(), I.dim,
                       I.dict.data(), I.first.data(), I.second.data(), I.adam_steps.data(), I.idle.data(), I.stream);
    restarted_ += int64_t(pairs);
  }
  I.encoder.update_dictionary(I.dict.data(), I.stream);  // the next step's and validation's codes
  return total;
}

double GpuDictionaryLearner::mean_rre(const Eigen::MatrixXf& vectors) const {
  const Impl& I = *impl_;
  if (vectors.cols() == 0) return 0.0;
  if (vectors.rows() != I.dim)
    bad_input("omp", "vectors have length {}, the dictionary's atoms {}", vectors.rows(), I.dim);
  double sum = 0.0;
  std::vector<double> errors;
  for (int64_t from = 0; from < vectors.cols(); from += kValidationBlock) {
    const int64_t n = std::min(kValidationBlock, vectors.cols() - from);
    I.upload_vectors(vectors, from, n);
    const ld::Codes codes = I.encode(n, from, omp_options(options_));
    I.errors.reserve(size_t(n), "GPU learner relative errors");
    ld::launch_relative_errors(I.x.data(), I.dict.data(), I.dim, n, codes, I.errors.data(), I.stream);
    download(errors, I.errors, size_t(n), I.stream);
    LEXICO_CUDA_CHECK(cudaStreamSynchronize(I.stream));
    for (double e : errors) sum += e;
  }
  return sum / double(vectors.cols());
}

DictionaryLearner::State GpuDictionaryLearner::state() const {
  const Impl& I = *impl_;
  State s;
  s.dictionary = I.matrix(I.dict);
  s.adam_first = I.matrix(I.first);
  s.adam_second = I.matrix(I.second);
  download(s.adam_steps, I.adam_steps, size_t(I.n_atoms), I.stream);
  download(s.idle, I.idle, size_t(I.n_atoms), I.stream);
  LEXICO_CUDA_CHECK(cudaStreamSynchronize(I.stream));
  s.steps = steps_;
  s.restarted = restarted_;
  return s;
}

void GpuDictionaryLearner::restore(State s) {
  Impl& I = *impl_;
  const auto shaped = [&](const Eigen::MatrixXf& m) { return m.rows() == I.dim && m.cols() == I.n_atoms; };
  if (!shaped(s.dictionary) || !shaped(s.adam_first) || !shaped(s.adam_second) ||
      s.adam_steps.size() != size_t(I.n_atoms) || s.idle.size() != size_t(I.n_atoms))
    internal_error("training", "restored learner state has the wrong shape");
  check_unit_dictionary(s.dictionary);  // as the CPU learner's next step would
  upload(I.dict, s.dictionary.data(), size_t(s.dictionary.size()), I.stream);
  upload(I.first, s.adam_first.data(), size_t(s.adam_first.size()), I.stream);
  upload(I.second, s.adam_second.data(), size_t(s.adam_second.size()), I.stream);
  upload(I.adam_steps, s.adam_steps.data(), s.adam_steps.size(), I.stream);
  upload(I.idle, s.idle.data(), s.idle.size(), I.stream);
  I.encoder.update_dictionary(I.dict.data(), I.stream);  // synchronises: the host state may go
  steps_ = s.steps;
  restarted_ = s.restarted;
}

}  // namespace lexico::cuda
