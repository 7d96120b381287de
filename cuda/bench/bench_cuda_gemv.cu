// The decode step's weight products (one token: GEMVs) with lexico's kernel
// against cuBLAS (cublasGemmEx, FP16 weights, float accumulation: what
// GpuModel runs for steps of several tokens), in the same run.
//
//   bench_cuda_gemv [--quick] [--shape smollm2|llama1b|llama8b|all]
//
// Per shape, random FP16 weights of every layer (Q/K/V stacked, output
// projection, gate/up stacked, down) and the classifier, the products of one
// decode step in the model's order, 20 times (5 with --quick): ms per step
// for each, the
// weights' bytes over that time, the ratio, and the host time per call
// (the launches alone, without waiting for the GPU; where the GPU is the
// slower, the host waits for room in the launch queue and this is the GPU's
// pace). The outputs of the two are compared (largest difference over the
// largest |y|).
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include <cublas_v2.h>
#include <cuda_fp16.h>

#include "../src/blas.h"
#include "../src/model_kernels.cuh"
#include "lexico/cuda/device.h"

using namespace lexico::cuda;
using Clock = std::chrono::steady_clock;

namespace {

struct Shape {
  const char* name;
  int dim, layers, heads, kv_heads, head_dim, hidden, vocab;
};
constexpr Shape kShapes[] = {
    {"smollm2", 576, 30, 9, 3, 64, 1536, 49152},
    {"llama1b", 2048, 16, 32, 8, 64, 8192, 128256},
    {"llama8b", 4096, 32, 32, 8, 128, 14336, 128256},
};

struct Product {
  const uint16_t* w;
  int rows, cols;
  const uint16_t* x;
  float* y;
  bool accumulate;
};

__global__ void fill_half(uint16_t* p, size_t n, uint32_t seed, float scale) {
  for (size_t i = size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x) {
    uint32_t h = uint32_t(i) * 2654435761u ^ seed;
    h ^= h >> 15, h *= 2246822519u, h ^= h >> 13;
    p[i] = __half_as_ushort(__float2half((float(h & 0xffff) / 65536.0f - 0.5f) * scale));
  }
}

void run_cublas(cublasHandle_t blas, const std::vector<Product>& step) {
  const float one = 1.0f, zero = 0.0f;
  for (const Product& p : step)
    check_blas(cublasGemmEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, p.rows, 1, p.cols, &one, p.w, CUDA_R_16F, p.cols, p.x,
                            CUDA_R_16F, p.cols, p.accumulate ? &one : &zero, p.y, CUDA_R_32F, p.rows,
                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT),
               "cublasGemmEx");
}

void run_gemv(cudaStream_t stream, const std::vector<Product>& step) {
  for (const Product& p : step) model_detail::gemv(p.w, p.rows, p.cols, p.x, p.y, p.accumulate, stream);
}

struct Timing {
  double gpu_ms, host_us;  // per step; host: launches only, per call
};

template <typename Run>
Timing time_steps(cudaStream_t stream, size_t calls, int reps, Run run) {
  run();  // warm-up
  LEXICO_CUDA_CHECK(cudaStreamSynchronize(stream));
  cudaEvent_t t0, t1;
  LEXICO_CUDA_CHECK(cudaEventCreate(&t0));
  LEXICO_CUDA_CHECK(cudaEventCreate(&t1));
  LEXICO_CUDA_CHECK(cudaEventRecord(t0, stream));
  double host = 0;
  for (int r = 0; r < reps; ++r) {
    const auto h0 = Clock::now();
    run();
    host += std::chrono::duration<double>(Clock::now() - h0).count();
  }
  LEXICO_CUDA_CHECK(cudaEventRecord(t1, stream));
  LEXICO_CUDA_CHECK(cudaEventSynchronize(t1));
  float ms = 0;
  LEXICO_CUDA_CHECK(cudaEventElapsedTime(&ms, t0, t1));
  cudaEventDestroy(t0);
  cudaEventDestroy(t1);
  return {ms / reps, host * 1e6 / reps / double(calls)};
}

void bench(const Shape& s, int reps, cudaStream_t stream, cublasHandle_t blas) {
  const int qkv = (s.heads + 2 * s.kv_heads) * s.head_dim, att = s.heads * s.head_dim;
  struct Part {
    int rows, cols;
    bool accumulate;
  };
  std::vector<Part> parts;
  for (int l = 0; l < s.layers; ++l) {
    parts.push_back({qkv, s.dim, false});
    parts.push_back({s.dim, att, true});
    parts.push_back({2 * s.hidden, s.dim, false});
    parts.push_back({s.dim, s.hidden, true});
  }
  parts.push_back({s.vocab, s.dim, false});
  size_t weights = 0, in_max = 0, out_max = 0;
  for (const Part& p : parts) {
    weights += size_t(p.rows) * p.cols;
    in_max = std::max(in_max, size_t(p.cols));
    out_max = std::max(out_max, size_t(p.rows));
  }
  DeviceBuffer<uint16_t> w(weights, "weights"), x(in_max, "input");
  DeviceBuffer<float> y_ref(out_max * 2, "cuBLAS outputs"), y(out_max * 2, "GEMV outputs");
  fill_half<<<1024, 256, 0, stream>>>(w.data(), weights, 1, 2.0f / std::sqrt(float(s.dim)));
  fill_half<<<16, 256, 0, stream>>>(x.data(), in_max, 2, 2.0f);
  LEXICO_CUDA_CHECK(cudaMemsetAsync(y_ref.data(), 0, y_ref.bytes(), stream));
  LEXICO_CUDA_CHECK(cudaMemsetAsync(y.data(), 0, y.bytes(), stream));
  // Products alternate between two output halves, as the model's write
  // different activations; accumulating ones add into their half.
  std::vector<Product> ref_step, step;
  size_t off = 0;
  for (size_t i = 0; i < parts.size(); ++i) {
    const Part& p = parts[i];
    const size_t half = (i % 2) * out_max;
    ref_step.push_back({w.data() + off, p.rows, p.cols, x.data(), y_ref.data() + half, p.accumulate});
    step.push_back({w.data() + off, p.rows, p.cols, x.data(), y.data() + half, p.accumulate});
    off += size_t(p.rows) * p.cols;
  }
  // One step each from zeroed outputs, for the comparison.
  run_cublas(blas, ref_step);
  run_gemv(stream, step);
  std::vector<float> a(out_max * 2), b(out_max * 2);
  LEXICO_CUDA_CHECK(cudaMemcpyAsync(a.data(), y_ref.data(), y_ref.bytes(), cudaMemcpyDeviceToHost, stream));
  LEXICO_CUDA_CHECK(cudaMemcpyAsync(b.data(), y.data(), y.bytes(), cudaMemcpyDeviceToHost, stream));
  LEXICO_CUDA_CHECK(cudaStreamSynchronize(stream));
  double diff = 0, mag = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    diff = std::max(diff, double(std::fabs(a[i] - b[i])));
    mag = std::max(mag, double(std::fabs(a[i])));
  }

  const Timing ref = time_steps(stream, parts.size(), reps, [&] { run_cublas(blas, ref_step); });
  const Timing own = time_steps(stream, parts.size(), reps, [&] { run_gemv(stream, step); });
  const double gb = weights * 2.0 / 1e9;
  std::printf("| %s | %zu | %.1f | %.3f (%.0f GB/s, %.1f us/call) | %.3f (%.0f GB/s, %.1f us/call) | **%.2fx** | %.1e |\n",
              s.name, parts.size(), gb * 1e3, ref.gpu_ms, gb / ref.gpu_ms * 1e3, ref.host_us, own.gpu_ms,
              gb / own.gpu_ms * 1e3, own.host_us, ref.gpu_ms / own.gpu_ms, diff / mag);
  std::printf("SUMMARY gemv shape=%s cublas_ms=%.4f gemv_ms=%.4f ratio=%.3f cublas_host_us=%.2f gemv_host_us=%.2f "
              "rel_diff=%.2e\n",
              s.name, ref.gpu_ms, own.gpu_ms, ref.gpu_ms / own.gpu_ms, ref.host_us, own.host_us, diff / mag);
  std::fflush(stdout);
}

}  // namespace

int main(int argc, char** argv) {
  std::string which = "all";
  int reps = 20;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) reps = 5;
    else if (!std::strcmp(argv[i], "--shape") && i + 1 < argc) which = argv[++i];
    else {
      std::fprintf(stderr, "usage: bench_cuda_gemv [--quick] [--shape smollm2|llama1b|llama8b|all]\n");
      return 2;
    }
  }
  if (which != "all" && std::none_of(std::begin(kShapes), std::end(kShapes), [&](const Shape& s) { return which == s.name; })) {
    std::fprintf(stderr, "bench_cuda_gemv: unknown shape '%s' (smollm2, llama1b, llama8b, all)\n", which.c_str());
    return 2;
  }
  const DeviceInfo& info = device_info();
  if (!info.usable) {
    std::printf("skipped: no usable CUDA GPU (%s)\n", info.reason.c_str());
    return 0;
  }
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));
  std::printf("bench_cuda_gemv  %s  %s\n", date, info.summary().c_str());
  std::printf("one decode step's weight products (every layer, then the classifier), %d steps, GPU ms per step:\n", reps);
  std::printf("| shape | products | MB of weights | cuBLAS GemmEx | lexico gemv | ratio | max diff / max |y| |\n");
  std::printf("| --- | --- | --- | --- | --- | --- | --- |\n");
  try {
    cudaStream_t stream;
    LEXICO_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));
    cublasHandle_t blas;
    check_blas(cublasCreate(&blas), "cublasCreate");
    check_blas(cublasSetStream(blas, stream), "cublasSetStream");
    for (const Shape& s : kShapes)
      if (which == "all" || which == s.name) bench(s, reps, stream, blas);
    cublasDestroy(blas);
    cudaStreamDestroy(stream);
  } catch (const std::exception& e) {  // out of GPU memory for a shape's weights, a cuBLAS failure
    std::fprintf(stderr, "bench_cuda_gemv: %s\n", e.what());
    return 1;
  }
  return 0;
}
