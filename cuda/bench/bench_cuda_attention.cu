// Decode attention over the compressed cache vs dense FP16 attention over the
// same context, at Llama-3.1-8B shapes (32 query heads, 8 KV heads, head_dim
// 128, N = 4096): context 4k–128k, batch 1–32. Then short contexts (512 to
// 4,096 tokens, batch 1) at the 1B and 8B shapes: the one-launch cluster
// kernel against the three kernels and dense FP16. Then a prefill step (2,048
// queries of one sequence) at three model shapes: the tensor-core prefill
// kernel against flash-decoding over the same rows.
//
//   bench_cuda_attention [--quick]
//
// Dense references, both measured in the same run: the flash-decoding kernel
// of this library and cuBLAS (strided-batched GEMMs + a softmax kernel); the
// faster is the reference of the ratio. Inputs rotate over several copies
// (layers) so that no timing runs out of L2. Per row: times (ms), speed-up,
// the bytes the compressed layer takes (measured allocation = accounted
// bytes) against the dense layer, and the peak GPU memory.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <random>
#include <vector>

#include <cublas_v2.h>
#include <cuda_fp16.h>

#include "../src/common.cuh"
#include "lexico/cuda/attention.h"
#include "lexico/cuda/device.h"

using namespace lexico;
using namespace lexico::cuda;

namespace {

#define CUBLAS_CHECK(call)                                                         \
  do {                                                                             \
    const cublasStatus_t st_ = (call);                                             \
    if (st_ != CUBLAS_STATUS_SUCCESS) {                                            \
      std::fprintf(stderr, "%s failed: status %d\n", #call, int(st_));             \
      std::exit(1);                                                                \
    }                                                                              \
  } while (0)

__device__ __forceinline__ uint32_t hash(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  x ^= x >> 33;
  return uint32_t(x);
}
__device__ __forceinline__ float uniform(uint64_t key) { return (hash(key) >> 8) * (1.0f / 16777216.0f) * 2.0f - 1.0f; }

__global__ void fill_half(__half* p, size_t n, uint64_t seed, float scale) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    p[i] = __float2half_rn(scale * uniform(seed * 0x9E3779B97F4A7C15ull + i));
}
__global__ void fill_codes(uint16_t* idx, uint8_t* code, size_t rows, int s, int n_atoms, uint64_t seed) {
  for (size_t r = blockIdx.x * size_t(blockDim.x) + threadIdx.x; r < rows; r += size_t(gridDim.x) * blockDim.x) {
    const uint32_t start = hash(seed * 31 + r);
    for (int i = 0; i < s; ++i) {
      idx[r * s + i] = uint16_t((start + uint32_t(i) * 2654435761u) % uint32_t(n_atoms));  // distinct for s ≤ N
      code[r * s + i] = dev::fp8_encode(0.5f * uniform(seed * 77 + r * s + i));
    }
  }
}
__global__ void to_half(const float* in, __half* out, size_t n) {
  for (size_t i = blockIdx.x * size_t(blockDim.x) + threadIdx.x; i < n; i += size_t(gridDim.x) * blockDim.x)
    out[i] = __float2half_rn(in[i]);
}
// Row-wise softmax of [rows][T] scores into FP16 probabilities.
__global__ void softmax_rows(const float* scores, __half* probs, int64_t t) {
  __shared__ float red[32];
  const float* row = scores + size_t(blockIdx.x) * t;
  __half* out = probs + size_t(blockIdx.x) * t;
  float mx = -INFINITY;
  for (int64_t i = threadIdx.x; i < t; i += blockDim.x) mx = fmaxf(mx, row[i]);
  mx = dev::warp_max(mx);
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = mx;
  __syncthreads();
  mx = -INFINITY;
  for (int w = 0; w < int(blockDim.x >> 5); ++w) mx = fmaxf(mx, red[w]);
  __syncthreads();
  float sum = 0.0f;
  for (int64_t i = threadIdx.x; i < t; i += blockDim.x) sum += __expf(row[i] - mx);
  sum = dev::warp_sum(sum);
  if ((threadIdx.x & 31) == 0) red[threadIdx.x >> 5] = sum;
  __syncthreads();
  sum = 0.0f;
  for (int w = 0; w < int(blockDim.x >> 5); ++w) sum += red[w];
  const float inv = 1.0f / sum;
  for (int64_t i = threadIdx.x; i < t; i += blockDim.x) out[i] = __float2half_rn(__expf(row[i] - mx) * inv);
}

unsigned grid_for(size_t n) { return unsigned(std::min<size_t>((n + 255) / 256, 65535)); }

size_t peak_process_bytes = 0;
void sample_memory() {
  size_t free_b = 0, total_b = 0;
  if (cudaMemGetInfo(&free_b, &total_b) == cudaSuccess) peak_process_bytes = std::max(peak_process_bytes, total_b - free_b);
}

// Mean ms per call over `reps` calls of f(i) (i cycles through the sets),
// median of 5 such rounds.
bool g_profile = false;  // --profile: each path runs twice, untimed (for ncu)

template <typename F>
double time_calls(F&& f, int reps) {
  if (g_profile) {
    f(0);
    f(0);
    LEXICO_CUDA_CHECK(cudaDeviceSynchronize());
    return 0.0;
  }
  cudaEvent_t a, b;
  LEXICO_CUDA_CHECK(cudaEventCreate(&a));
  LEXICO_CUDA_CHECK(cudaEventCreate(&b));
  for (int i = 0; i < 3; ++i) f(i);
  std::vector<double> rounds;
  int call = 0;
  for (int r = 0; r < 5; ++r) {
    LEXICO_CUDA_CHECK(cudaEventRecord(a));
    for (int i = 0; i < reps; ++i) f(call++);
    LEXICO_CUDA_CHECK(cudaEventRecord(b));
    LEXICO_CUDA_CHECK(cudaEventSynchronize(b));
    float ms = 0;
    LEXICO_CUDA_CHECK(cudaEventElapsedTime(&ms, a, b));
    rounds.push_back(ms / reps);
  }
  sample_memory();
  cudaEventDestroy(a);
  cudaEventDestroy(b);
  std::sort(rounds.begin(), rounds.end());
  return rounds[2];
}

struct SparseSet {
  DeviceBuffer<uint16_t> ki, vi, kb, vb;
  DeviceBuffer<uint8_t> kc, vc;
  DeviceBuffer<uint16_t> dk, dv;
  CompressedKv view;
};

struct DenseSet {
  DeviceBuffer<uint16_t> k, v;
};

int n_sets_for(size_t bytes) {
  const size_t want = size_t(256) << 20;
  return int(std::clamp<size_t>((want + bytes - 1) / bytes, 1, 64));
}

struct Row {
  int64_t context;
  int batch, s;
  double sparse_ms, flash_ms, cublas_ms;
  double cluster_ms, three_ms;  // with compare_kernels: each sparse path forced (0: the cluster kernel does not fit)
  double sparse_mib, dense_mib, check;
};

// The attention shape both sections start from.
DecodeShape attention_shape(int batch, int n_heads, int n_kv, int m, int64_t capacity) {
  DecodeShape shape;
  shape.batch = batch;
  shape.n_heads = n_heads;
  shape.n_kv_heads = n_kv;
  shape.head_dim = m;
  shape.compressed_capacity = capacity;
  return shape;
}

// dict_host: unit-norm key then value dictionaries, FP16 [N][m] each. sparse_ms
// is SparseKernel::Auto's; compare_kernels also times the two paths forced.
Row bench_one(int64_t context, int batch, int s, cublasHandle_t blas, const std::vector<uint16_t>& dict_host, int H = 32,
              int KV = 8, int m = 128, bool compare_kernels = false) {
  const int G = H / KV, N = 4096, B = 128;
  Row row{context, batch, s, 0, 0, 0, 0, 0, 0, 0, 0};
  DecodeShape shape = attention_shape(batch, H, KV, m, context - B);
  shape.n_atoms = N;
  shape.sparsity = s;
  shape.buffer_capacity = B;
  const size_t rows = size_t(batch) * KV * shape.compressed_capacity;
  const size_t brows = size_t(batch) * KV * B;
  const size_t layer_bytes = compressed_kv_bytes(shape);
  const size_t dict_bytes = size_t(2) * N * m * sizeof(uint16_t);
  const int sets = n_sets_for(layer_bytes + dict_bytes);
  // q and out.
  DeviceBuffer<float> q(size_t(batch) * H * m), out(size_t(batch) * H * m), out2(size_t(batch) * H * m);
  {
    std::vector<float> hq(q.size());
    std::mt19937 rng(context + batch);
    std::normal_distribution<float> normal;
    for (auto& v : hq) v = normal(rng);
    LEXICO_CUDA_CHECK(cudaMemcpy(q.data(), hq.data(), q.bytes(), cudaMemcpyHostToDevice));
  }
  std::vector<int32_t> tc(batch, int32_t(shape.compressed_capacity)), tb(batch, B), td(batch, int32_t(context));
  DeviceBuffer<int32_t> tcd(batch), tbd(batch), tdd(batch);
  LEXICO_CUDA_CHECK(cudaMemcpy(tcd.data(), tc.data(), batch * 4, cudaMemcpyHostToDevice));
  LEXICO_CUDA_CHECK(cudaMemcpy(tbd.data(), tb.data(), batch * 4, cudaMemcpyHostToDevice));
  LEXICO_CUDA_CHECK(cudaMemcpy(tdd.data(), td.data(), batch * 4, cudaMemcpyHostToDevice));

  // ---- compressed ----
  {
    const size_t before = device_bytes_in_use();
    std::vector<SparseSet> ss(sets);
    for (int i = 0; i < sets; ++i) {
      SparseSet& st = ss[i];
      st.ki.resize(rows * s, "key indices");
      st.vi.resize(rows * s, "value indices");
      st.kc.resize(rows * s, "key codes");
      st.vc.resize(rows * s, "value codes");
      st.kb.resize(brows * m, "key buffer");
      st.vb.resize(brows * m, "value buffer");
      if (i == 0) {
        const size_t measured = device_bytes_in_use() - before;
        row.sparse_mib = measured / 1048576.0;
        if (measured != layer_bytes)
          std::printf("WARNING: compressed layer allocation %zu bytes != accounted %zu\n", measured, layer_bytes);
      }
      st.dk.resize(size_t(N) * m, "key dictionary");
      st.dv.resize(size_t(N) * m, "value dictionary");
      LEXICO_CUDA_CHECK(cudaMemcpy(st.dk.data(), dict_host.data(), st.dk.bytes(), cudaMemcpyHostToDevice));
      LEXICO_CUDA_CHECK(cudaMemcpy(st.dv.data(), dict_host.data() + size_t(N) * m, st.dv.bytes(), cudaMemcpyHostToDevice));
      fill_codes<<<grid_for(rows), 256>>>(st.ki.data(), st.kc.data(), rows, s, N, 11 + i);
      fill_codes<<<grid_for(rows), 256>>>(st.vi.data(), st.vc.data(), rows, s, N, 23 + i);
      fill_half<<<grid_for(brows * m), 256>>>(reinterpret_cast<__half*>(st.kb.data()), brows * m, 5 + i, 0.5f);
      fill_half<<<grid_for(brows * m), 256>>>(reinterpret_cast<__half*>(st.vb.data()), brows * m, 7 + i, 0.5f);
      LEXICO_CUDA_CHECK_LAUNCH();
      st.view = CompressedKv{st.ki.data(), st.kc.data(), st.vi.data(), st.vc.data(), st.kb.data(), st.vb.data(),
                             tcd.data(),   tbd.data(),   st.dk.data(), st.dv.data()};
    }
    SparseDecodeAttention attention(shape);
    const auto sparse_call = [&](int i) {
      attention.run(ss[i % sets].view, q.data(), out.data(), batch, shape.compressed_capacity);
    };
    row.sparse_ms = time_calls(sparse_call, std::max(10, 2 * sets));
    if (compare_kernels) {
      attention.set_kernel(SparseKernel::Cluster);
      if (attention.takes_cluster_kernel(ss[0].view, shape.compressed_capacity))
        row.cluster_ms = time_calls(sparse_call, std::max(10, 2 * sets));
      attention.set_kernel(SparseKernel::ThreeKernels);
      row.three_ms = time_calls(sparse_call, std::max(10, 2 * sets));
    }
  }
  // ---- dense FP16 ----
  {
    const size_t elems = size_t(batch) * KV * context * m;
    row.dense_mib = 2.0 * elems * 2 / 1048576.0;
    const int dsets = n_sets_for(2 * elems * 2);
    std::vector<DenseSet> ds(dsets);
    for (int i = 0; i < dsets; ++i) {
      ds[i].k.resize(elems, "dense keys");
      ds[i].v.resize(elems, "dense values");
      fill_half<<<grid_for(elems), 256>>>(reinterpret_cast<__half*>(ds[i].k.data()), elems, 100 + i, 1.0f);
      fill_half<<<grid_for(elems), 256>>>(reinterpret_cast<__half*>(ds[i].v.data()), elems, 200 + i, 1.0f);
      LEXICO_CUDA_CHECK_LAUNCH();
    }
    DecodeShape dshape = shape;
    dshape.compressed_capacity = context;
    DenseDecodeAttention flash(dshape);
    row.flash_ms = time_calls(
        [&](int i) {
          flash.run(ds[i % dsets].k.data(), ds[i % dsets].v.data(), context, tdd.data(), q.data(), out.data(), batch,
                    context);
        },
        std::max(10, 2 * dsets));
    // cuBLAS: scores = Kᵀq per (b, kv) → softmax → V·p.
    DeviceBuffer<__half> q16(q.size());
    DeviceBuffer<float> scores(size_t(batch) * KV * G * context);
    DeviceBuffer<__half> probs(scores.size());
    const float alpha = 1.0f / std::sqrt(float(m)), one = 1.0f, zero = 0.0f;
    auto cublas_call = [&](int i) {
      const DenseSet& d = ds[i % dsets];
      to_half<<<grid_for(q.size()), 256>>>(q.data(), q16.data(), q.size());
      CUBLAS_CHECK(cublasGemmStridedBatchedEx(blas, CUBLAS_OP_T, CUBLAS_OP_N, int(context), G, m, &alpha, d.k.data(),
                                              CUDA_R_16F, m, context * m, q16.data(), CUDA_R_16F, m, G * m, &zero,
                                              scores.data(), CUDA_R_32F, int(context), G * context, batch * KV,
                                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
      softmax_rows<<<batch * KV * G, 1024>>>(scores.data(), probs.data(), context);
      CUBLAS_CHECK(cublasGemmStridedBatchedEx(blas, CUBLAS_OP_N, CUBLAS_OP_N, m, G, int(context), &one, d.v.data(),
                                              CUDA_R_16F, m, context * m, probs.data(), CUDA_R_16F, int(context),
                                              G * context, &zero, out2.data(), CUDA_R_32F, m, G * m, batch * KV,
                                              CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
    };
    row.cublas_ms = time_calls(cublas_call, std::max(10, 2 * dsets));
    // Same inputs through both dense paths: they must agree (FP16 probabilities in the cuBLAS path).
    flash.run(ds[0].k.data(), ds[0].v.data(), context, tdd.data(), q.data(), out.data(), batch, context);
    cublas_call(0);
    LEXICO_CUDA_CHECK(cudaDeviceSynchronize());
    std::vector<float> a(out.size()), b(out.size());
    LEXICO_CUDA_CHECK(cudaMemcpy(a.data(), out.data(), out.bytes(), cudaMemcpyDeviceToHost));
    LEXICO_CUDA_CHECK(cudaMemcpy(b.data(), out2.data(), out2.bytes(), cudaMemcpyDeviceToHost));
    double diff = 0, norm = 0;
    for (size_t i = 0; i < a.size(); ++i) {
      diff += double(a[i] - b[i]) * (a[i] - b[i]);
      norm += double(b[i]) * b[i];
    }
    row.check = std::sqrt(diff / std::max(norm, 1e-30));
  }
  return row;
}

// One sequence's step of n queries after `start` rows (a prompt's chunk):
// the tensor-core prefill kernel against flash-decoding (the same class with
// the prefill kernel off), FP16 K and V of the whole context.
struct PrefillRow {
  double prefill_ms, flash_ms, diff;
};

PrefillRow bench_prefill(int n_heads, int n_kv, int m, int n, int64_t start) {
  const int64_t cap = start + n;
  const DecodeShape shape = attention_shape(n, n_heads, n_kv, m, cap);
  DeviceBuffer<__half> k(size_t(n_kv) * cap * m), v(k.size());
  fill_half<<<grid_for(k.size()), 256>>>(k.data(), k.size(), 11, 1.0f);
  fill_half<<<grid_for(v.size()), 256>>>(v.data(), v.size(), 12, 1.0f);
  DeviceBuffer<float> q(size_t(n) * n_heads * m), out(q.size()), out2(q.size());
  {
    std::vector<float> hq(q.size());
    std::mt19937 rng(uint32_t(start + m));
    std::normal_distribution<float> normal;
    for (auto& x : hq) x = normal(rng);
    LEXICO_CUDA_CHECK(cudaMemcpy(q.data(), hq.data(), q.bytes(), cudaMemcpyHostToDevice));
  }
  std::vector<int32_t> lens(n);
  for (int i = 0; i < n; ++i) lens[i] = int32_t(start + i + 1);
  DeviceBuffer<int32_t> lend(n);
  LEXICO_CUDA_CHECK(cudaMemcpy(lend.data(), lens.data(), n * sizeof(int32_t), cudaMemcpyHostToDevice));
  const auto* kb = reinterpret_cast<const uint16_t*>(k.data());
  const auto* vb = reinterpret_cast<const uint16_t*>(v.data());
  DenseDecodeAttention attention(shape);
  PrefillRow row{};
  row.prefill_ms = time_calls(
      [&](int) { attention.run(kb, vb, cap, lend.data(), q.data(), out.data(), n, cap, nullptr, true); }, 5);
  attention.set_prefill_kernel(false);
  row.flash_ms = time_calls(
      [&](int) { attention.run(kb, vb, cap, lend.data(), q.data(), out2.data(), n, cap, nullptr, true); }, 2);
  std::vector<float> a(out.size()), b(out.size());
  LEXICO_CUDA_CHECK(cudaMemcpy(a.data(), out.data(), out.bytes(), cudaMemcpyDeviceToHost));
  LEXICO_CUDA_CHECK(cudaMemcpy(b.data(), out2.data(), out2.bytes(), cudaMemcpyDeviceToHost));
  double d2 = 0, n2 = 0;
  for (size_t i = 0; i < a.size(); ++i) d2 += double(a[i] - b[i]) * (a[i] - b[i]), n2 += double(b[i]) * b[i];
  row.diff = std::sqrt(d2 / std::max(n2, 1e-30));
  return row;
}

// Random unit-norm dictionaries, keys then values, FP16 [N = 4096][m] each.
std::vector<uint16_t> random_dictionaries(int m) {
  const int N = 4096;
  std::vector<uint16_t> dict(size_t(2) * N * m);
  std::vector<float> atom(m);
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  for (size_t a = 0; a < size_t(2) * N; ++a) {
    double n2 = 0;
    for (int e = 0; e < m; ++e) n2 += std::pow(atom[e] = normal(rng), 2);
    for (int e = 0; e < m; ++e) {
      const __half h = __float2half_rn(atom[e] / float(std::sqrt(n2)));
      std::memcpy(&dict[a * m + e], &h, sizeof h);
    }
  }
  return dict;
}

}  // namespace

int main(int argc, char** argv) {
  const bool quick = argc > 1 && std::strcmp(argv[1], "--quick") == 0;
  g_profile = argc > 1 && std::strcmp(argv[1], "--profile") == 0;
  const DeviceInfo& info = device_info();
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d %H:%M UTC", std::gmtime(&now));
  std::printf("bench_cuda_attention  %s\nGPU: %s\n", date, info.summary().c_str());
  if (!info.usable) {
    std::printf("no usable GPU: nothing to measure\n");
    return 0;
  }
  try {
    cublasHandle_t blas;
    CUBLAS_CHECK(cublasCreate(&blas));
    const std::vector<uint16_t> dict = random_dictionaries(128), dict64 = random_dictionaries(64);
    std::printf("shapes: 32 query heads, 8 KV heads, head_dim 128, N = 4096, buffer 128 tokens FP16; one layer, "
                "one new token per sequence\n");
    std::printf("%8s %5s %3s %10s %10s %10s %8s %10s %10s %7s\n", "context", "batch", "s", "sparse_ms", "flash_ms",
                "cublas_ms", "speedup", "sparse_MiB", "dense_MiB", "check");
    std::vector<int64_t> contexts = {4096, 16384, 32768, 65536, 131072};
    std::vector<int> batches = {1, 8, 32};
    if (quick || g_profile) {
      contexts = {4096, 32768};
      batches = {1, 8};
    }
    if (g_profile) contexts = {32768};
    std::vector<Row> rows;
    for (int s : {16, 8}) {
      if (g_profile && s == 8) break;
      for (int64_t ctx : contexts)
        for (int b : batches) {
          if (s == 8 && (b == 32 || ctx < 32768)) continue;  // s = 8: a few points only
          const Row r = bench_one(ctx, b, s, blas, dict);
          const double best = std::min(r.flash_ms, r.cublas_ms);
          std::printf("%8lld %5d %3d %10.4f %10.4f %10.4f %7.2fx %10.1f %10.1f %7.1e\n", (long long)r.context, r.batch,
                      r.s, r.sparse_ms, r.flash_ms, r.cublas_ms, best / r.sparse_ms, r.sparse_mib, r.dense_mib, r.check);
          std::fflush(stdout);
          rows.push_back(r);
        }
    }
    std::printf("speedup = min(flash, cuBLAS) / sparse; sparse_MiB = measured allocation of the compressed layer "
                "(= accounted bytes: 3·s per vector + FP16 buffer); check = flash vs cuBLAS relative difference\n");

    std::printf("\nshort context, batch 1: the one-launch cluster kernel against the three kernels and dense "
                "FP16\n");
    std::printf("%-13s %8s %3s %11s %9s %9s %9s %9s %10s %9s\n", "shape", "context", "s", "cluster_ms", "three_ms",
                "auto_ms", "flash_ms", "cublas_ms", "vs_three", "vs_dense");
    struct ShortShape {
      const char* name;
      int m;
    };
    for (const ShortShape& sh : {ShortShape{"Llama-3.2-1B", 64}, ShortShape{"Llama-3.1-8B", 128}})
      for (int s : {16, 8})
        for (int64_t ctx : {512, 1024, 2048, 3072, 4096}) {
          const Row r = bench_one(ctx, 1, s, blas, sh.m == 64 ? dict64 : dict, 32, 8, sh.m, true);
          const double dense = std::min(r.flash_ms, r.cublas_ms);
          std::printf("%-13s %8lld %3d %11.4f %9.4f %9.4f %9.4f %9.4f %9.2fx %8.2fx\n", sh.name, (long long)ctx, s,
                      r.cluster_ms, r.three_ms, r.sparse_ms, r.flash_ms, r.cublas_ms, r.three_ms / r.cluster_ms,
                      dense / r.sparse_ms);
          std::fflush(stdout);
        }
    std::printf("vs_three = three kernels / cluster kernel; auto_ms = SparseKernel::Auto's choice; vs_dense = "
                "min(flash, cuBLAS) / auto (the same context: 128 buffer rows, the rest compressed)\n");
    cublasDestroy(blas);

    std::printf("\nprefill step of one sequence: n queries after `start` rows, query i sees start + i + 1 rows\n");
    std::printf("%-16s %6s %6s %11s %11s %8s %8s %8s\n", "shape", "n", "start", "prefill_ms", "flash_ms", "speedup",
                "TFLOP/s", "diff");
    struct PrefillShape {
      const char* name;
      int heads, kv, m;
    };
    for (const PrefillShape& ps : {PrefillShape{"Llama-3.1-8B", 32, 8, 128}, PrefillShape{"Llama-3.2-1B", 32, 8, 64},
                                   PrefillShape{"SmolLM2-135M", 9, 3, 64}})
      for (int64_t start : {int64_t(0), int64_t(6144)}) {
        if (g_profile && start == 0) continue;
        const int n = 2048;
        const PrefillRow r = bench_prefill(ps.heads, ps.kv, ps.m, n, start);
        // Useful work: Q·Kᵀ and P·V over the rows each query sees.
        const double flops = 4.0 * ps.heads * ps.m * (double(n) * start + double(n) * (n + 1) / 2);
        std::printf("%-16s %6d %6lld %11.3f %11.3f %7.2fx %8.1f %8.1e\n", ps.name, n, (long long)start, r.prefill_ms,
                    r.flash_ms, r.flash_ms / r.prefill_ms, flops / (r.prefill_ms * 1e9), r.diff);
        std::fflush(stdout);
      }
    std::printf("speedup = flash-decoding / prefill kernel; TFLOP/s counts the prefill kernel's useful work; diff = "
                "relative difference of the two outputs\n");
    sample_memory();
    std::printf("peak GPU memory: %.1f MiB allocated by lexico buffers at most; %.1f MiB in use on the device at "
                "most\n",
                device_bytes_peak() / 1048576.0, peak_process_bytes / 1048576.0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_cuda_attention: %s\n", e.what());
    return 1;
  }
  return 0;
}
