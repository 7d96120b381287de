#include "lexico/cuda/model.h"

#include <algorithm>
#include <vector>

#include <cublas_v2.h>
#include <fmt/format.h>

#include "lexico/cuda/device.h"
#include "lexico/error.h"
#include "lexico/half.h"
#include "blas.h"
#include "model_kernels.cuh"

namespace lexico::cuda {

namespace md = model_detail;

namespace {

// A weight matrix [rows, cols] row-major (y = W x), in the model's precision.
struct DeviceMatrix {
  DeviceBuffer<float> f32;
  DeviceBuffer<uint16_t> f16;
  int rows = 0, cols = 0;
  size_t bytes() const { return f32.bytes() + f16.bytes(); }
};

DeviceMatrix upload(const Matrix& w, WeightPrecision precision, const char* what) {
  DeviceMatrix d;
  d.rows = int(w.rows());
  d.cols = int(w.cols());
  const size_t n = size_t(w.size());
  if (precision == WeightPrecision::F32) {
    d.f32.resize(n, what);
    LEXICO_CUDA_CHECK(cudaMemcpy(d.f32.data(), w.data(), n * sizeof(float), cudaMemcpyHostToDevice));
  } else {
    std::vector<uint16_t> h(n);
    const float* src = w.data();
#pragma omp parallel for schedule(static)
    for (int64_t i = 0; i < int64_t(n); ++i) h[i] = float_to_half(src[i]);
    d.f16.resize(n, what);
    LEXICO_CUDA_CHECK(cudaMemcpy(d.f16.data(), h.data(), n * sizeof(uint16_t), cudaMemcpyHostToDevice));
  }
  return d;
}

DeviceBuffer<float> upload(const Vector& v, const char* what) {
  DeviceBuffer<float> d(size_t(v.size()), what);
  LEXICO_CUDA_CHECK(cudaMemcpy(d.data(), v.data(), size_t(v.size()) * sizeof(float), cudaMemcpyHostToDevice));
  return d;
}

// The parts' rows one after the other, as float32 (quantized weights dequantized).
Matrix stack(std::initializer_list<const WeightMatrix*> parts) {
  Eigen::Index rows = 0;
  for (const WeightMatrix* p : parts) rows += p->rows();
  Matrix m(rows, (*parts.begin())->cols());
  Eigen::Index r = 0;
  for (const WeightMatrix* p : parts) {
    p->rows_to_float(0, p->rows(), m.row(r).data());
    r += p->rows();
  }
  return m;
}

struct DeviceLayer {
  DeviceBuffer<float> attn_norm, ffn_norm, qkv_bias;
  DeviceMatrix qkv, wo, gate_up, down;  // Q, K, V stacked; gate and up stacked
  size_t matrix_bytes() const { return qkv.bytes() + wo.bytes() + gate_up.bytes() + down.bytes(); }
};

}  // namespace

struct GpuModel::Impl {
  WeightPrecision precision;
  cudaStream_t stream = nullptr;
  cublasHandle_t blas = nullptr;
  std::vector<DeviceLayer> layers;
  DeviceMatrix embedding, output;  // output empty when tied to the embedding
  DeviceBuffer<float> final_norm;
  // Activations of one step, rows = tokens.
  DeviceBuffer<int32_t> tokens;
  DeviceBuffer<float> x, normed, qkv, q, k, v, att, gate_up, act, logits, cos, sin;
  DeviceBuffer<uint16_t> normed16, att16, act16;  // GEMM inputs in FP16
  DeviceBuffer<float> k_pre;                       // keys before RoPE, for an observer
  std::vector<float> host_k, host_v, host_k_pre;   // what an observer sees

  ~Impl() {
    if (blas) cublasDestroy(blas);
    if (stream) cudaStreamDestroy(stream);
  }

  const DeviceMatrix& classifier() const { return output.rows ? output : embedding; }

  // Activations for steps of up to T tokens: grown on demand (a long
  // prompt's step allocates once), never shrunk.
  void reserve_rows(const ModelConfig& c, size_t T) {
    const size_t qkv_width = size_t(c.n_heads + 2 * c.n_kv_heads) * c.head_dim;
    tokens.reserve(T, "tokens");
    x.reserve(T * c.dim, "activations");
    qkv.reserve(T * qkv_width, "Q/K/V activations");
    q.reserve(T * c.n_heads * c.head_dim, "queries");
    k.reserve(T * c.n_kv_heads * c.head_dim, "keys");
    v.reserve(T * c.n_kv_heads * c.head_dim, "values");
    att.reserve(T * c.n_heads * c.head_dim, "attention output");
    gate_up.reserve(T * 2 * c.hidden_dim, "MLP activations");
    cos.reserve(T * c.head_dim / 2, "RoPE cos");
    sin.reserve(T * c.head_dim / 2, "RoPE sin");
    if (precision == WeightPrecision::F32) {
      normed.reserve(T * c.dim, "normed activations");
      act.reserve(T * c.hidden_dim, "MLP activations");
    } else {
      normed16.reserve(T * c.dim, "normed activations");
      att16.reserve(T * c.n_heads * c.head_dim, "attention output");
      act16.reserve(T * c.hidden_dim, "MLP activations");
    }
  }

  // out[n, w.rows] = in[n, w.cols] · wᵀ + beta · out (beta 0 or 1). in is float (F32) or FP16 (F16).
  void linear(const DeviceMatrix& w, const void* in, int n, float* out, float beta) {
    if (precision == WeightPrecision::F16 && n == 1 && w.cols % 8 == 0) {  // a decode step
      md::gemv(w.f16.data(), w.rows, w.cols, static_cast<const uint16_t*>(in), out, beta != 0.0f, stream);
      return;
    }
    const float alpha = 1.0f;
    if (precision == WeightPrecision::F32)
      check_blas(cublasSgemm(blas, CUBLAS_OP_T, CUBLAS_OP_N, w.rows, n, w.cols, &alpha, w.f32.data(), w.cols,
                             static_cast<const float*>(in), w.cols, &beta, out, w.rows),
                 "cublasSgemm");
    else
      check_blas(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, w.rows, n, w.cols, &alpha, w.f16.data(), CUDA_R_16F,
                              w.cols, in, CUDA_R_16F, w.cols, &beta, out, CUDA_R_32F, w.rows, CUBLAS_COMPUTE_32F,
                              CUBLAS_GEMM_DEFAULT),
                 "cublasGemmEx");
  }
  // Copies the step's keys (before and after RoPE) and values to the host for an observer.
  void observe(int layer, int64_t pos, int n, int kv_size, const KvObserver& observer) {
    const size_t count = size_t(n) * kv_size;
    for (auto [dst, src] : {std::pair{&host_k, k.data()}, {&host_v, v.data()}, {&host_k_pre, k_pre.data()}}) {
      dst->resize(count);
      LEXICO_CUDA_CHECK(cudaMemcpyAsync(dst->data(), src, count * sizeof(float), cudaMemcpyDeviceToHost, stream));
    }
    LEXICO_CUDA_CHECK(cudaStreamSynchronize(stream));
    observer(layer, pos, n, host_k_pre.data(), host_k.data(), host_v.data());
  }

  // RMSNorm into the next GEMM's input type; returns that input.
  const void* norm(const float* x_rows, const float* weight, float eps, int rows, int dim) {
    if (precision == WeightPrecision::F32) {
      md::rms_norm(x_rows, weight, eps, rows, dim, normed.data(), stream);
      return normed.data();
    }
    md::rms_norm(x_rows, weight, eps, rows, dim, normed16.data(), stream);
    return normed16.data();
  }
};

std::string GpuModel::unsupported_reason(const ModelConfig& c) {
  if (c.head_dim != 64 && c.head_dim != 128)
    return fmt::format("head dimension {} is not handled by the GPU attention kernels (64 or 128)", c.head_dim);
  const DeviceInfo& info = device_info();
  if (!info.usable) return "no usable GPU: " + info.reason;
  return {};
}

GpuModel::GpuModel(const Model& model, WeightPrecision precision, int max_step)
    : config_(model.config()), rope_(model.config()), max_step_(max_step), impl_(std::make_unique<Impl>()) {
  require_gpu("the GPU model");
  const std::string why = unsupported_reason(config_);
  if (!why.empty()) throw Error(ErrorKind::Internal, "cuda", "GPU model: " + why);
  if (max_step < 1) usage_error("GPU model", "a step of {} tokens is not positive", max_step);
  Impl& g = *impl_;
  g.precision = precision;
  LEXICO_CUDA_CHECK(cudaStreamCreateWithFlags(&g.stream, cudaStreamNonBlocking));
  check_blas(cublasCreate(&g.blas), "cublasCreate");
  check_blas(cublasSetStream(g.blas, g.stream), "cublasSetStream");
  // FP32 mode is the CPU's arithmetic: no TF32 or reduced-precision shortcuts.
  if (precision == WeightPrecision::F32) check_blas(cublasSetMathMode(g.blas, CUBLAS_PEDANTIC_MATH), "cublasSetMathMode");

  const Weights& w = model.weights();
  for (const LayerWeights& lw : w.layers) {
    DeviceLayer d;
    d.attn_norm = upload(lw.attn_norm, "attention norm");
    d.ffn_norm = upload(lw.ffn_norm, "MLP norm");
    if (config_.qkv_bias) {
      Vector b(lw.bq.size() + lw.bk.size() + lw.bv.size());
      b << lw.bq, lw.bk, lw.bv;
      d.qkv_bias = upload(b, "Q/K/V bias");
    }
    d.qkv = upload(stack({&lw.wq, &lw.wk, &lw.wv}), precision, "Q/K/V weights");
    d.wo = upload(lw.wo.dense(), precision, "output projection");
    d.gate_up = upload(stack({&lw.w_gate, &lw.w_up}), precision, "gate/up weights");
    d.down = upload(lw.w_down.dense(), precision, "down projection");
    g.layers.push_back(std::move(d));
  }
  g.embedding = upload(w.token_embedding.dense(), precision, "token embedding");
  if (w.output.size()) g.output = upload(w.output.dense(), precision, "output weights");
  g.final_norm = upload(w.final_norm, "final norm");

  // Steps of up to 512 tokens allocate here, so that running out of memory
  // shows before the first step; longer ones grow the activations then.
  g.reserve_rows(config_, size_t(std::min(max_step, 512)));
  LEXICO_CUDA_CHECK(cudaStreamSynchronize(g.stream));
}

GpuModel::~GpuModel() = default;

cudaStream_t GpuModel::stream() const { return impl_->stream; }

size_t GpuModel::weight_bytes() const {
  const Impl& g = *impl_;
  size_t n = g.embedding.bytes() + g.output.bytes() + g.final_norm.bytes();
  for (const DeviceLayer& l : g.layers)
    n += l.matrix_bytes() + l.attn_norm.bytes() + l.ffn_norm.bytes() + l.qkv_bias.bytes();
  return n;
}

Matrix GpuModel::forward(std::span<const int> tokens, int64_t pos, GpuKvCache& cache, Logits which,
                         const KvObserver& observer) {
  const ModelConfig& c = config_;
  const CacheShape& cs = cache.shape();
  if (cs.n_layers != c.n_layers || cs.n_heads != c.n_heads || cs.n_kv_heads != c.n_kv_heads ||
      cs.head_dim != c.head_dim)
    internal_error(cache.name(), "cache shape does not match the model");
  const int n = int(tokens.size());
  if (n == 0) internal_error("forward", "no tokens");
  for (int t : tokens)
    if (t < 0 || t >= c.vocab_size)
      bad_input("tokens", "token id {} is out of range (vocabulary of {})", t, c.vocab_size);
  const bool all = which == Logits::All;
  Matrix logits(all ? n : 1, c.vocab_size);
  const int step_max = std::min(max_step_, cache.max_step_tokens());
  cache.begin_forward(n, step_max, impl_->stream);
  for (int first = 0; first < n; first += step_max)  // with Logits::Last every step writes row 0; the last one stays
    step(tokens.data() + first, std::min(step_max, n - first), pos + first, cache, all, logits, all ? first : 0,
         observer);
  LEXICO_CUDA_CHECK(cudaStreamSynchronize(impl_->stream));
  return logits;
}

void GpuModel::step(const int* tokens, int n, int64_t pos, GpuKvCache& cache, bool all_logits, Matrix& logits,
                    int64_t out_row, const KvObserver& observer) {
  Impl& g = *impl_;
  const ModelConfig& c = config_;
  cudaStream_t st = g.stream;
  g.reserve_rows(c, size_t(n));
  const RopeAngles angles = rope_.angles(pos, n);
  LEXICO_CUDA_CHECK(cudaMemcpyAsync(g.tokens.data(), tokens, size_t(n) * sizeof(int32_t), cudaMemcpyHostToDevice, st));
  LEXICO_CUDA_CHECK(cudaMemcpyAsync(g.cos.data(), angles.cos.data(), angles.cos.size() * sizeof(float),
                                    cudaMemcpyHostToDevice, st));
  LEXICO_CUDA_CHECK(cudaMemcpyAsync(g.sin.data(), angles.sin.data(), angles.sin.size() * sizeof(float),
                                    cudaMemcpyHostToDevice, st));
  if (g.precision == WeightPrecision::F32)
    md::embed(g.tokens.data(), n, g.embedding.f32.data(), c.dim, g.x.data(), st);
  else
    md::embed(g.tokens.data(), n, g.embedding.f16.data(), c.dim, g.x.data(), st);

  const size_t att_size = size_t(n) * c.n_heads * c.head_dim;
  for (int l = 0; l < c.n_layers; ++l) {
    const DeviceLayer& w = g.layers[l];
    g.linear(w.qkv, g.norm(g.x.data(), w.attn_norm.data(), c.rms_eps, n, c.dim), n, g.qkv.data(), 0.0f);
    if (observer) g.k_pre.reserve(g.k.size(), "keys before RoPE");
    md::split_qkv_rope(g.qkv.data(), c.qkv_bias ? w.qkv_bias.data() : nullptr, g.cos.data(), g.sin.data(), n,
                       c.n_heads, c.n_kv_heads, c.head_dim, g.q.data(), g.k.data(), g.v.data(),
                       observer ? g.k_pre.data() : nullptr, st);
    if (observer) g.observe(l, pos, n, c.n_kv_heads * c.head_dim, observer);
    cache.append(l, g.k.data(), g.v.data(), n, st);
    cache.attend(l, g.q.data(), n, g.att.data(), st);
    const void* att = g.att.data();
    if (g.precision == WeightPrecision::F16) {
      md::to_half(g.att.data(), att_size, g.att16.data(), st);
      att = g.att16.data();
    }
    g.linear(w.wo, att, n, g.x.data(), 1.0f);  // x += Wo·att

    g.linear(w.gate_up, g.norm(g.x.data(), w.ffn_norm.data(), c.rms_eps, n, c.dim), n, g.gate_up.data(), 0.0f);
    const void* act = nullptr;
    if (g.precision == WeightPrecision::F32) {
      md::silu_mul(g.gate_up.data(), n, c.hidden_dim, g.act.data(), st);
      act = g.act.data();
    } else {
      md::silu_mul(g.gate_up.data(), n, c.hidden_dim, g.act16.data(), st);
      act = g.act16.data();
    }
    g.linear(w.down, act, n, g.x.data(), 1.0f);  // x += Wdown·act
  }

  const int rows = all_logits ? n : 1;
  const float* x_rows = g.x.data() + size_t(n - rows) * c.dim;
  g.logits.reserve(size_t(rows) * c.vocab_size, "logits");
  g.linear(g.classifier(), g.norm(x_rows, g.final_norm.data(), c.rms_eps, rows, c.dim), rows, g.logits.data(), 0.0f);
  LEXICO_CUDA_CHECK(cudaMemcpyAsync(logits.data() + out_row * c.vocab_size, g.logits.data(),
                                    size_t(rows) * c.vocab_size * sizeof(float), cudaMemcpyDeviceToHost, st));
  // After the logits: an overlapped encoding starts behind them, so that its
  // blocks (a grid that loops over its tiles) cannot hold the SMs the
  // logits' kernels wait for.
  cache.finish_step(st);
}

}  // namespace lexico::cuda
