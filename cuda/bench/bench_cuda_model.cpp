// End-to-end prefill and decoding on the GPU with the Lexico cache against
// the full cache, and the CPU forward as the reference, in the same run.
//
//   bench_cuda_model [--quick] [--shape smollm2|llama1b|llama8b] [--atoms N] [--contexts a,b,...]
//                    [--densify-limit T] [--compare-plans] [--compare-batches] [--compare-kernels]
//                    [--gpu-time]
//
// A model of the named shape with random weights (lexico::synthetic_model:
// the real weights cannot reach the GPU machine), FP16 weights, one sequence.
// Caches: GpuFullCache (FP16) and GpuLexicoCache at s = 16 and s = 8 (buffer
// 128, random dictionaries of N atoms), with the encoding overlapped (the
// default) and, for s = 16, serial. --densify-limit sets the Lexico caches'
// GpuLexicoCache::set_densify_limit (decode steps over at most T compressed
// tokens that the cluster kernel does not take go to the dense plan;
// default 0, the cache's: always the sparse kernels); --compare-plans adds
// s = 16 and s = 8 caches that always take the sparse kernels, --compare-batches s = 16 and
// s = 8 caches that code every decode step (encode batch 1, not a full OMP
// tile's worth of steps), --compare-kernels s = 16 and s = 8 caches whose
// sparse steps take the three kernels rather than the one-launch cluster
// kernel where it is the faster (SparseKernel), decoded in the same rounds.
// --gpu-time adds rounds in which each token's work is queued behind a host
// function that holds the stream for 5 ms: the host's launches are then
// done before the GPU starts, and the time from the hold's end to the logits
// is the step's GPU time alone. Where it is well below the plain figure, the
// step is bound by the host's launches.
//   prefill: 2,048 tokens in one step and 8,192 in steps of 2,048, until the
//     first token and until every code is stored;
//   decode: per context length C, every cache is filled to C positions with
//     random keys and values in steps of 512 (the Lexico cache codes them:
//     "fill"), then each decodes 32 tokens through the model in turn, for 7
//     rounds (3 with --quick); ms per token (the median round) include the
//     logits' copy to the host;
//   CPU: the same model on the CPU (FullCache FP32, all cores) at the
//     shortest context, for the GPU/CPU ratio.
// Also the KV bytes in use and the peak GPU memory.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>
#include <omp.h>

#include "lexico/cuda/device.h"
#include "lexico/cuda/full_cache.h"
#include "lexico/cuda/lexico_cache.h"
#include "lexico/cuda/model.h"
#include "lexico/full_cache.h"
#include "lexico/synthetic_model.h"

using namespace lexico;
using namespace lexico::cuda;
using Clock = std::chrono::steady_clock;

namespace {

constexpr int kStep = 512;          // fill steps, and the decode caches' step limit
constexpr int kPrefillStep = 2048;  // the model's and the prefill caches' step limit
constexpr int kDecodeTokens = 32;

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

ModelConfig shape_config(const std::string& name) {
  ModelConfig c;
  if (name == "smollm2") {  // SmolLM2-135M
    c.dim = 576, c.n_layers = 30, c.n_heads = 9, c.n_kv_heads = 3, c.head_dim = 64, c.hidden_dim = 1536;
    c.vocab_size = 49152, c.rope_theta = 100000, c.tied_embeddings = true;
  } else if (name == "llama1b") {  // Llama-3.2-1B
    c.dim = 2048, c.n_layers = 16, c.n_heads = 32, c.n_kv_heads = 8, c.head_dim = 64, c.hidden_dim = 8192;
    c.vocab_size = 128256, c.rope_theta = 500000, c.tied_embeddings = true;
  } else if (name == "llama8b") {  // Llama-3.1-8B
    c.dim = 4096, c.n_layers = 32, c.n_heads = 32, c.n_kv_heads = 8, c.head_dim = 128, c.hidden_dim = 14336;
    c.vocab_size = 128256, c.rope_theta = 500000;
  } else {
    std::fprintf(stderr, "bench_cuda_model: unknown shape '%s' (smollm2, llama1b, llama8b)\n", name.c_str());
    std::exit(2);
  }
  c.max_context = 1 << 20;
  return c;
}

// Waits for codes still being computed on the side stream.
void settle(GpuKvCache& cache, cudaStream_t stream) {
  if (auto* lexico = dynamic_cast<GpuLexicoCache*>(&cache)) lexico->flush(stream);
  LEXICO_CUDA_CHECK(cudaStreamSynchronize(stream));
}

// Fills every layer to `context` positions with random keys and values (unit
// Gaussian, the scale of a head's entries), in steps of kStep. Seconds.
double fill(GpuKvCache& cache, int64_t context, cudaStream_t stream) {
  const CacheShape& s = cache.shape();
  const size_t n = size_t(kStep) * s.n_kv_heads * s.head_dim;
  std::mt19937 rng(5);
  std::normal_distribution<float> normal;
  std::vector<float> host(2 * n);
  for (float& x : host) x = normal(rng);
  DeviceBuffer<float> kv(2 * n, "fill vectors");
  LEXICO_CUDA_CHECK(cudaMemcpy(kv.data(), host.data(), host.size() * sizeof(float), cudaMemcpyHostToDevice));
  LEXICO_CUDA_CHECK(cudaDeviceSynchronize());
  const auto t0 = Clock::now();
  for (int64_t done = 0; done < context;) {
    const int count = int(std::min<int64_t>(kStep, context - done));
    for (int l = 0; l < s.n_layers; ++l) cache.append(l, kv.data(), kv.data() + n, count, stream);
    cache.finish_step(stream);
    done += count;
  }
  settle(cache, stream);
  return seconds_since(t0);
}

// Holds its stream for kHoldMs, then notes when it let go.
constexpr int kHoldMs = 5;
void CUDART_CB hold_stream(void* end) {
  std::this_thread::sleep_for(std::chrono::milliseconds(kHoldMs));
  *static_cast<Clock::time_point*>(end) = Clock::now();
}

// Milliseconds per decoded token over kDecodeTokens tokens from position
// `pos`, each token timed from its forward call to the logits. With
// `gpu_only`, each token's launches wait behind hold_stream and its time
// starts at the hold's end: the GPU's time alone.
double decode_ms(GpuModel& model, GpuKvCache& cache, int64_t pos, bool gpu_only = false) {
  const std::vector<int> tokens = synthetic_tokens(kDecodeTokens + 2, model.config().vocab_size, 9);
  model.forward(std::span<const int>(tokens.data(), 1), pos, cache);  // warm-up
  model.forward(std::span<const int>(tokens.data() + 1, 1), pos + 1, cache);
  double total = 0;
  for (int i = 0; i < kDecodeTokens; ++i) {
    Clock::time_point start = Clock::now();
    if (gpu_only) LEXICO_CUDA_CHECK(cudaLaunchHostFunc(model.stream(), hold_stream, &start));
    model.forward(std::span<const int>(tokens.data() + 2 + i, 1), pos + 2 + i, cache);
    total += seconds_since(start);
  }
  return total * 1e3 / kDecodeTokens;
}

struct CacheKind {
  std::string label;
  int sparsity = 0;  // 0: the full cache
  bool overlap = true;
  int64_t densify_limit = -1;  // -1: the run's --densify-limit
  int encode_batch = 0;        // GpuLexicoCache's encode_batch (0: a full OMP tile)
  SparseKernel sparse_kernel = SparseKernel::Auto;
};

int64_t densify_limit = 0;  // the cache's default

std::unique_ptr<GpuKvCache> make(const CacheKind& kind, const CacheShape& shape, const Dictionary& dict,
                                 int64_t capacity, int max_step) {
  if (kind.sparsity == 0) return std::make_unique<GpuFullCache>(shape, capacity, max_step);
  LexicoOptions o;
  o.sparsity = kind.sparsity;
  o.buffer = 128;
  auto cache = std::make_unique<GpuLexicoCache>(shape, dict, o, capacity, max_step, kind.overlap, kind.encode_batch);
  cache->set_densify_limit(kind.densify_limit >= 0 ? kind.densify_limit : densify_limit);
  cache->set_sparse_kernel(kind.sparse_kernel);
  return cache;
}

std::vector<int64_t> parse_list(const char* text) {
  std::vector<int64_t> v;
  for (const char* p = text; *p;) {
    v.push_back(std::strtoll(p, const_cast<char**>(&p), 10));
    if (*p == ',') ++p;
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  bool quick = false;
  std::string shape_name = "smollm2";
  int n_atoms = 4096;
  bool compare_plans = false, compare_batches = false, compare_kernels = false, gpu_time = false;
  std::vector<int64_t> contexts;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--quick")) quick = true;
    else if (!std::strcmp(argv[i], "--shape") && i + 1 < argc) shape_name = argv[++i];
    else if (!std::strcmp(argv[i], "--atoms") && i + 1 < argc) n_atoms = std::atoi(argv[++i]);
    else if (!std::strcmp(argv[i], "--contexts") && i + 1 < argc) contexts = parse_list(argv[++i]);
    else if (!std::strcmp(argv[i], "--densify-limit") && i + 1 < argc) densify_limit = std::atoll(argv[++i]);
    else if (!std::strcmp(argv[i], "--compare-plans")) compare_plans = true;
    else if (!std::strcmp(argv[i], "--compare-batches")) compare_batches = true;
    else if (!std::strcmp(argv[i], "--compare-kernels")) compare_kernels = true;
    else if (!std::strcmp(argv[i], "--gpu-time")) gpu_time = true;
    else {
      std::fprintf(stderr,
                   "usage: bench_cuda_model [--quick] [--shape smollm2|llama1b|llama8b] [--atoms N] "
                   "[--contexts a,b,...] [--densify-limit T] [--compare-plans] [--compare-batches] "
                   "[--compare-kernels] [--gpu-time]\n");
      return 2;
    }
  }
  const int rounds = quick ? 3 : 7;
  if (contexts.empty()) contexts = quick ? std::vector<int64_t>{512, 4096} : std::vector<int64_t>{512, 4096, 16384, 32768};
  const DeviceInfo& info = device_info();
  if (!info.usable) {
    std::printf("skipped: no usable CUDA GPU (%s)\n", info.reason.c_str());
    return 0;
  }
  const ModelConfig config = shape_config(shape_name);
  const CacheShape shape = config.cache_shape();
  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));
  std::printf("bench_cuda_model  %s  %s\n", date, info.summary().c_str());
  std::printf("shape %s: dim %d, %d layers, %d/%d heads, head_dim %d, hidden %d, vocab %d; random FP16 weights; "
              "dictionaries N = %d\n",
              shape_name.c_str(), config.dim, config.n_layers, config.n_heads, config.n_kv_heads, config.head_dim,
              config.hidden_dim, config.vocab_size, n_atoms);

  auto t0 = Clock::now();
  const Model model = synthetic_model(config, 1);
  const Dictionary dict = synthetic_dictionary(shape, n_atoms, 2);
  std::printf("synthetic weights and dictionaries made in %.1f s\n", seconds_since(t0));
  reset_device_bytes_peak();
  GpuModel gpu(model, WeightPrecision::F16, kPrefillStep);
  std::printf("GPU weights: %.1f MiB; densify limit %lld; encode batch %d tokens\n\n", gpu.weight_bytes() / 1048576.0,
              (long long)densify_limit, GpuLexicoCache::auto_encode_batch(shape));

  std::vector<CacheKind> kinds = {
      {"full FP16", 0}, {"lexico s=16", 16}, {"lexico s=8", 8}, {"s=16 serial", 16, false}};
  if (compare_plans) {  // the sparse kernels on every decode step, in the same rounds
    kinds.push_back({"s=16 sparse", 16, true, 0});
    kinds.push_back({"s=8 sparse", 8, true, 0});
  }
  if (compare_batches) {  // every decode step coded, in the same rounds
    kinds.push_back({"s=16 batch 1", 16, true, -1, 1});
    kinds.push_back({"s=8 batch 1", 8, true, -1, 1});
  }
  if (compare_kernels) {  // the sparse steps on the three kernels, in the same rounds
    kinds.push_back({"s=16 3-kernel", 16, true, -1, 0, SparseKernel::ThreeKernels});
    kinds.push_back({"s=8 3-kernel", 8, true, -1, 0, SparseKernel::ThreeKernels});
  }

  // Prefill through the model: one step of 2,048 tokens, and 8,192 tokens in
  // steps of 2,048 (the Lexico cache holds them all exact and codes them
  // after the last). "first token" is when forward() returns the logits; "all
  // coded" waits for the codes the side stream is still computing.
  std::printf("prefill through the model, ms until the first token / until all is coded:\n");
  for (int length : {2048, 8192}) {
    const std::vector<int> prompt = synthetic_tokens(length, config.vocab_size, 3);
    double full_ms = 0;
    for (const CacheKind& kind : kinds) {
      {
        auto warm = make(kind, shape, dict, 2048 + 8, kPrefillStep);
        gpu.forward(std::span<const int>(prompt.data(), 2048), 0, *warm);
        settle(*warm, gpu.stream());
      }
      auto cache = make(kind, shape, dict, length + 8, kPrefillStep);
      t0 = Clock::now();
      gpu.forward(prompt, 0, *cache);
      const double first = seconds_since(t0) * 1e3;
      settle(*cache, gpu.stream());
      const double coded = seconds_since(t0) * 1e3;
      if (kind.sparsity == 0) full_ms = coded;
      std::printf("  %5d tokens  %-12s %8.1f / %8.1f ms  (%.0f tokens/s)  x%.2f of the full cache\n", length,
                  kind.label.c_str(), first, coded, length / coded * 1e3, coded / full_ms);
      std::printf("SUMMARY prefill tokens=%d cache=%s first_ms=%.2f coded_ms=%.2f\n", length, kind.label.c_str(),
                  first, coded);
    }
  }

  std::printf("\ndecode, one token at a time: ms per token (x = full cache's time / this cache's):\n| context |");
  for (const CacheKind& kind : kinds) std::printf(" %s |", kind.label.c_str());
  std::printf(" KV MiB used | fill s (random KVs, steps of %d) |\n|", kStep);
  for (size_t i = 0; i < kinds.size() + 3; ++i) std::printf(" --- |");
  std::printf("\n");
  double short_full_ms = 0;
  std::string gpu_table;  // --gpu-time
  const int all_rounds = rounds * (gpu_time ? 2 : 1);
  for (int64_t context : contexts) {
    // Every cache is filled first, then decoded in interleaved rounds, so a
    // slow spell of the host (the step is launch-bound) hits all caches alike;
    // each cache's figure is its median round.
    std::vector<std::unique_ptr<GpuKvCache>> caches;
    std::vector<double> ms, mib, fill_s;
    for (const CacheKind& kind : kinds) {
      caches.push_back(make(kind, shape, dict, context + all_rounds * (kDecodeTokens + 2), kStep));
      fill_s.push_back(fill(*caches.back(), context, gpu.stream()));
      settle(*caches.back(), gpu.stream());
    }
    std::vector<std::vector<double>> round_ms(kinds.size());
    for (int r = 0; r < rounds; ++r)
      for (size_t k = 0; k < kinds.size(); ++k)
        round_ms[k].push_back(decode_ms(gpu, *caches[k], context + r * (kDecodeTokens + 2)));
    for (size_t k = 0; k < kinds.size(); ++k) {
      std::sort(round_ms[k].begin(), round_ms[k].end());
      ms.push_back(round_ms[k][round_ms[k].size() / 2]);
      mib.push_back(caches[k]->used_bytes() / 1048576.0);
    }
    if (context == contexts.front()) short_full_ms = ms[0];
    std::printf("| %lld |", (long long)context);
    for (size_t k = 0; k < kinds.size(); ++k)
      if (k == 0) std::printf(" %.3f |", ms[k]);
      else std::printf(" %.3f (x%.2f) |", ms[k], ms[0] / ms[k]);
    for (size_t k = 0; k < kinds.size(); ++k) std::printf("%s%.1f", k ? " / " : " ", mib[k]);
    std::printf(" |");
    for (size_t k = 0; k < kinds.size(); ++k) std::printf("%s%.2f", k ? " / " : " ", fill_s[k]);
    std::printf(" |\n");
    std::printf("SUMMARY decode context=%lld", (long long)context);
    for (size_t k = 0; k < kinds.size(); ++k) std::printf(" ms[%s]=%.4f", kinds[k].label.c_str(), ms[k]);
    std::printf("\n");
    std::fflush(stdout);
    if (!gpu_time) continue;
    std::vector<std::vector<double>> gpu_round_ms(kinds.size());
    for (int r = rounds; r < all_rounds; ++r)
      for (size_t k = 0; k < kinds.size(); ++k)
        gpu_round_ms[k].push_back(decode_ms(gpu, *caches[k], context + r * (kDecodeTokens + 2), /*gpu_only=*/true));
    std::vector<double> gpu_ms;
    for (auto& v : gpu_round_ms) {
      std::sort(v.begin(), v.end());
      gpu_ms.push_back(v[v.size() / 2]);
    }
    gpu_table += fmt::format("| {} |", context);
    for (size_t k = 0; k < kinds.size(); ++k)
      gpu_table += k == 0 ? fmt::format(" {:.3f} |", gpu_ms[k]) : fmt::format(" {:.3f} (x{:.2f}) |", gpu_ms[k], gpu_ms[0] / gpu_ms[k]);
    gpu_table += "\n";
    std::printf("SUMMARY gpu_time context=%lld", (long long)context);
    for (size_t k = 0; k < kinds.size(); ++k) std::printf(" ms[%s]=%.4f", kinds[k].label.c_str(), gpu_ms[k]);
    std::printf("\n");
  }
  if (gpu_time) {
    std::printf("\nGPU time per token, the host's launches hidden behind a %d ms hold (ms, x as above):\n| context |",
                kHoldMs);
    for (const CacheKind& kind : kinds) std::printf(" %s |", kind.label.c_str());
    std::printf("\n|");
    for (size_t i = 0; i <= kinds.size(); ++i) std::printf(" --- |");
    std::printf("\n%s", gpu_table.c_str());
  }

  // The CPU reference: the same model, FP32 full cache, all cores.
  const int64_t cpu_context = contexts.front();
  FullCache cpu_cache(shape);
  const std::vector<int> cpu_prompt = synthetic_tokens(int(cpu_context), config.vocab_size, 4);
  t0 = Clock::now();
  model.forward(cpu_prompt, 0, cpu_cache);
  const double cpu_prefill = seconds_since(t0);
  const int cpu_tokens = quick ? 4 : 16;
  t0 = Clock::now();
  for (int i = 0; i < cpu_tokens; ++i) model.forward(std::vector<int>{i + 1}, cpu_context + i, cpu_cache);
  const double cpu_ms = seconds_since(t0) * 1e3 / cpu_tokens;
  std::printf("\nCPU reference (FP32 weights, full cache, %d threads): prefill %lld tokens %.2f s; decode at %lld: "
              "%.2f ms/token; GPU full cache x%.1f\n",
              omp_get_max_threads(), (long long)cpu_context, cpu_prefill, (long long)cpu_context, cpu_ms,
              cpu_ms / short_full_ms);
  std::printf("peak GPU memory held by lexico: %.1f MiB\n", device_bytes_peak() / 1048576.0);
  return 0;
}
