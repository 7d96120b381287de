// The GPU forward pass and GPU caches against the CPU twins: GpuModel with
// GpuFullCache equals Model with FullCache(F16) ("full16", the same FP16
// storage) to float rounding in FP32 mode, and to FP16 rounding in FP16 mode;
// GpuLexicoCache follows LexicoCache's policy step by step (same lengths, the
// same codes up to OMP's float ties, logits within a few per cent at worst).
#include <doctest/doctest.h>

#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "../src/model_kernels.cuh"
#include "gpu_test.h"
#include "lexico/cuda/full_cache.h"
#include "lexico/cuda/lexico_cache.h"
#include "lexico/cuda/model.h"
#include "lexico/full_cache.h"
#include "lexico/half.h"
#include "lexico/lexico_cache.h"
#include "lexico/synthetic_model.h"

using namespace lexico;
using namespace lexico::cuda;
using namespace lexico::cuda::test;

namespace {

ModelConfig small_config(bool qkv_bias, bool tied) {
  ModelConfig c;
  c.arch = qkv_bias ? Arch::Qwen2 : Arch::Llama;
  c.dim = 384;
  c.n_layers = 3;
  c.n_heads = 6;  // groups of 3 query heads, as SmolLM2's 9 over 3
  c.n_kv_heads = 2;
  c.head_dim = 64;
  c.hidden_dim = 384;
  c.vocab_size = 500;
  c.max_context = 4096;
  c.rms_eps = 1e-5f;
  c.rope_theta = 10000;
  c.qkv_bias = qkv_bias;
  c.tied_embeddings = tied;
  return c;
}

// max |a − b| relative to max |b|.
float relative_error(const Matrix& a, const Matrix& b) {
  REQUIRE(a.rows() == b.rows());
  REQUIRE(a.cols() == b.cols());
  return (a - b).cwiseAbs().maxCoeff() / b.cwiseAbs().maxCoeff();
}

// Of the first `tokens` compressed tokens of layer 0 (every KV head, keys and
// values), how many the GPU cache stores with the CPU cache's code.
int same_codes(const GpuLexicoCache& gpu, const LexicoCache& cpu, int kv_heads, int64_t tokens) {
  std::vector<uint16_t> gi, ci;
  std::vector<uint8_t> gc, cc;
  int same = 0;
  for (KvKind kind : {KvKind::Keys, KvKind::Values})
    for (int h = 0; h < kv_heads; ++h)
      for (int64_t t = 0; t < tokens; ++t) {
        gpu.code(0, h, kind, t, gi, gc);
        cpu.code(0, h, kind, t, ci, cc);
        same += gi == ci && gc == cc;
      }
  return same;
}

// A densify limit that puts the tests' decode steps on the dense plan.
constexpr int64_t kDenseUpTo = 2560;

// The decode steps' attention plans a test runs: sparse on the cluster
// kernel (the tests' contexts are short) and on the three kernels, and the
// dense plan (the compressed rows reconstructed).
struct DecodePlan {
  const char* name;
  int64_t densify_limit;
  SparseKernel kernel;
};
const DecodePlan kDecodePlans[] = {{"sparse, cluster kernel", 0, SparseKernel::Cluster},
                                   {"sparse, three kernels", 0, SparseKernel::ThreeKernels},
                                   {"dense", kDenseUpTo, SparseKernel::ThreeKernels}};

void set_plan(GpuLexicoCache& cache, const DecodePlan& plan) {
  cache.set_densify_limit(plan.densify_limit);
  cache.set_sparse_kernel(plan.kernel);
}

// body(cpu_cache, gpu_cache, overlap) for every decode plan and both codings
// (serial, overlapped with encode batch 1), each with fresh caches: s = 8, n_b = 16.
template <typename Body>
void for_each_plan(const CacheShape& shape, const Dictionary& dict, int64_t capacity, int max_step, Body body) {
  for (const DecodePlan& plan : kDecodePlans)
    for (bool overlap : {false, true}) {
      CAPTURE(std::string(plan.name));
      CAPTURE(overlap);
      LexicoOptions o;
      o.sparsity = 8;
      o.buffer = 16;
      LexicoCache cpu_cache(shape, dict, o);
      GpuLexicoCache gpu_cache(shape, dict, o, capacity, max_step, overlap, /*encode_batch=*/1);
      set_plan(gpu_cache, plan);
      body(cpu_cache, gpu_cache, overlap);
    }
}

}  // namespace

TEST_CASE("GPU model: a head dimension the kernels do not take is refused with the reason") {
  ModelConfig c = small_config(false, true);
  c.head_dim = 8;
  CHECK(GpuModel::unsupported_reason(c).find("head dimension 8") != std::string::npos);
  LEXICO_REQUIRE_GPU();
  c.n_heads = 32;  // heads of 8, like stories260K
  c.n_kv_heads = 16;
  const Model m = synthetic_model(c, 1);
  try {
    GpuModel g(m);
    FAIL("a head dimension of 8 was accepted");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("head dimension 8") != std::string::npos);
  }
}

TEST_CASE("GPU model: FP32 with the GPU full cache equals the CPU model with FP16 storage") {
  LEXICO_REQUIRE_GPU();
  for (bool bias : {false, true})
    for (bool tied : {true, false}) {
      CAPTURE(bias);
      CAPTURE(tied);
      const Model cpu = synthetic_model(small_config(bias, tied), 7 + bias + 2 * tied);
      const ModelConfig& c = cpu.config();
      const std::vector<int> tokens = synthetic_tokens(45, c.vocab_size, 3);
      const std::span<const int> prompt(tokens.data(), 37);

      FullCache cpu_cache(c.cache_shape(), FullCache::Storage::F16);
      const Matrix cpu_prefill = cpu.forward(prompt, 0, cpu_cache, Logits::All);
      GpuModel gpu(cpu, WeightPrecision::F32, 16);  // steps of 16: the prefill runs as 3 steps
      GpuFullCache gpu_cache(c.cache_shape(), 64, 32);
      const Matrix gpu_prefill = gpu.forward(prompt, 0, gpu_cache, Logits::All);
      CHECK(relative_error(gpu_prefill, cpu_prefill) < 5e-4f);  // FP16 storage: a rounding may flip
      CHECK(gpu_cache.length(c.n_layers - 1) == 37);
      for (int t = 37; t < 45; ++t) {
        const std::span<const int> one(tokens.data() + t, 1);
        const Matrix a = gpu.forward(one, t, gpu_cache);
        const Matrix b = cpu.forward(one, t, cpu_cache);
        CHECK(relative_error(a, b) < 5e-4f);
      }
      CHECK(gpu_cache.used_bytes() == size_t(45) * c.n_layers * c.n_kv_heads * c.head_dim * 2 * 2);
    }
}

TEST_CASE("GPU model: the observer sees the CPU's keys (before and after RoPE) and values") {
  LEXICO_REQUIRE_GPU();
  const Model cpu = synthetic_model(small_config(true, false), 13);
  const ModelConfig& c = cpu.config();
  const std::vector<int> tokens = synthetic_tokens(24, c.vocab_size, 6);
  using Seen = std::vector<std::vector<float>>;  // per layer: k_pre, k, v concatenated
  auto recorder = [&](Seen& seen) {
    return [&seen, &c](int layer, int64_t pos0, int n, const float* pre, const float* k, const float* v) {
      CHECK(pos0 == 0);
      CHECK(n == 24);
      const size_t count = size_t(n) * c.n_kv_heads * c.head_dim;
      seen.at(layer).assign(pre, pre + count);
      seen[layer].insert(seen[layer].end(), k, k + count);
      seen[layer].insert(seen[layer].end(), v, v + count);
    };
  };
  Seen a(c.n_layers), b(c.n_layers);
  FullCache cpu_cache(c.cache_shape(), FullCache::Storage::F16);
  cpu.forward(tokens, 0, cpu_cache, Logits::Last, recorder(b));
  GpuModel gpu(cpu, WeightPrecision::F32, 32);
  GpuFullCache gpu_cache(c.cache_shape(), 32, 32);
  gpu.forward(tokens, 0, gpu_cache, Logits::Last, recorder(a));
  for (int l = 0; l < c.n_layers; ++l) {
    REQUIRE(a[l].size() == b[l].size());
    const Eigen::Map<const Eigen::VectorXf> x(a[l].data(), Eigen::Index(a[l].size())),
        y(b[l].data(), Eigen::Index(b[l].size()));
    CHECK((x - y).norm() <= 1e-4f * y.norm());
  }
}

TEST_CASE("GPU model: FP16 weights stay within FP16 rounding of the CPU") {
  LEXICO_REQUIRE_GPU();
  const Model cpu = synthetic_model(small_config(true, false), 11);
  const ModelConfig& c = cpu.config();
  const std::vector<int> tokens = synthetic_tokens(30, c.vocab_size, 4);
  FullCache cpu_cache(c.cache_shape(), FullCache::Storage::F16);
  const Matrix ref = cpu.forward(tokens, 0, cpu_cache, Logits::All);
  GpuModel gpu(cpu, WeightPrecision::F16);
  GpuFullCache gpu_cache(c.cache_shape(), 30);
  const Matrix got = gpu.forward(tokens, 0, gpu_cache, Logits::All);
  const float err = relative_error(got, ref);
  MESSAGE("FP16 weights: max |Δlogit| / max |logit| = " << err);
  CHECK(err < 2e-2f);
  CHECK(err > 0.0f);  // FP16 weights really are in use
  const GpuModel gpu32(cpu, WeightPrecision::F32);
  CHECK(double(gpu.weight_bytes()) < 0.51 * double(gpu32.weight_bytes()));  // norms and biases stay FP32
}

TEST_CASE("GPU model: the one-token GEMV equals the product in double precision") {
  LEXICO_REQUIRE_GPU();
  // Rows that do not fill a block; rows of one 16-byte word, of several
  // batches of loads with a partial last one.
  const int shapes[][2] = {{1, 8}, {37, 1032}, {300, 2056}, {9, 4104}};
  std::mt19937 rng(3);
  std::normal_distribution<float> normal;
  for (const auto& shape : shapes)
    for (bool accumulate : {false, true}) {
      const int rows = shape[0], cols = shape[1];
      CAPTURE(rows);
      CAPTURE(cols);
      CAPTURE(accumulate);
      std::vector<uint16_t> w(size_t(rows) * cols), x(cols);
      std::vector<float> y0(rows);
      for (uint16_t& h : w) h = float_to_half(normal(rng));
      for (uint16_t& h : x) h = float_to_half(normal(rng));
      for (float& v : y0) v = normal(rng);
      DeviceBuffer<uint16_t> dw(w.size(), "test weights"), dx(x.size(), "test input");
      DeviceBuffer<float> dy(size_t(rows), "test output");
      LEXICO_CUDA_CHECK(cudaMemcpy(dw.data(), w.data(), w.size() * 2, cudaMemcpyHostToDevice));
      LEXICO_CUDA_CHECK(cudaMemcpy(dx.data(), x.data(), x.size() * 2, cudaMemcpyHostToDevice));
      LEXICO_CUDA_CHECK(cudaMemcpy(dy.data(), y0.data(), rows * sizeof(float), cudaMemcpyHostToDevice));
      model_detail::gemv(dw.data(), rows, cols, dx.data(), dy.data(), accumulate, nullptr);
      std::vector<float> y(rows);
      LEXICO_CUDA_CHECK(cudaMemcpy(y.data(), dy.data(), rows * sizeof(float), cudaMemcpyDeviceToHost));
      int bad = 0;
      for (int r = 0; r < rows; ++r) {
        double ref = accumulate ? y0[r] : 0.0, scale = std::fabs(ref);
        for (int c = 0; c < cols; ++c) {
          const double p = double(half_to_float(w[size_t(r) * cols + c])) * half_to_float(x[c]);
          ref += p;
          scale += std::fabs(p);
        }
        bad += std::fabs(y[r] - ref) > 1e-5 * scale;  // float sums; one missed word of 8 terms is ~1e-3
      }
      CHECK(bad == 0);
    }
}

TEST_CASE("GPU model: FP16 decode steps (one token each, the GEMV) give the logits of the whole sequence") {
  LEXICO_REQUIRE_GPU();
  const Model cpu = synthetic_model(small_config(false, true), 12);
  const ModelConfig& c = cpu.config();
  const std::vector<int> tokens = synthetic_tokens(14, c.vocab_size, 5);
  GpuModel gpu(cpu, WeightPrecision::F16);
  GpuFullCache all_cache(c.cache_shape(), 14);
  const Matrix all = gpu.forward(tokens, 0, all_cache, Logits::All);  // cuBLAS: steps of several tokens
  GpuFullCache step_cache(c.cache_shape(), 14);
  gpu.forward(std::span<const int>(tokens.data(), 6), 0, step_cache, Logits::Last);
  for (int t = 6; t < 14; ++t) {
    CAPTURE(t);
    const Matrix one = gpu.forward(std::span<const int>(tokens.data() + t, 1), t, step_cache, Logits::Last);
    const Matrix ref = all.row(t);
    CHECK(relative_error(one, ref) < 1e-3f);
  }
}

TEST_CASE("GPU lexico cache follows the CPU LexicoCache step by step") {
  LEXICO_REQUIRE_GPU();
  const Model cpu = synthetic_model(small_config(false, true), 21);
  const ModelConfig& c = cpu.config();
  const CacheShape shape = c.cache_shape();
  const Dictionary dict = synthetic_dictionary(shape, 256, 100);
  GpuModel gpu(cpu, WeightPrecision::F32, 64);
  for (const DecodePlan& plan : kDecodePlans)
    for (float delta : {0.0f, 0.8f})
      for (bool overlap : {false, true}) {
        CAPTURE(std::string(plan.name));
        CAPTURE(delta);
        CAPTURE(overlap);
        LexicoOptions o;
        o.sparsity = 8;
        o.tolerance = delta;
        o.buffer = 16;
        // Overlapped, the tokens being coded are attended exactly for one more
        // step: after a prompt of n_b + 1 tokens, that is the CPU cache with a
        // buffer of n_b + 1 (one token is coded a step, and committed a step later).
        LexicoOptions cpu_options = o;
        cpu_options.buffer += overlap;
        const int prompt_length = overlap ? o.buffer + 1 : 40;
        const std::vector<int> tokens = synthetic_tokens(110, c.vocab_size, 5);
        LexicoCache cpu_cache(shape, dict, cpu_options);
        GpuLexicoCache gpu_cache(shape, dict, o, 128, 64, overlap, /*encode_batch=*/1);
        set_plan(gpu_cache, plan);
        const std::span<const int> prompt(tokens.data(), prompt_length);
        const Matrix a0 = gpu.forward(prompt, 0, gpu_cache, Logits::All);
        const Matrix b0 = cpu.forward(prompt, 0, cpu_cache, Logits::All);
        CHECK(relative_error(a0, b0) < 5e-4f);  // a prefill attends exactly
        CHECK(gpu_cache.buffer_length(0) == (overlap ? 17 : 16));  // overlapped: 1 row still being coded
        float worst = 0, mean = 0;
        for (int t = prompt_length; t < 90; ++t) {
          const std::span<const int> one(tokens.data() + t, 1);
          const float err = relative_error(gpu.forward(one, t, gpu_cache), cpu.forward(one, t, cpu_cache));
          worst = std::max(worst, err);
          mean += err / float(90 - prompt_length);
        }
        // A step of 20 queries over compressed tokens and a causal buffer.
        const std::span<const int> block(tokens.data() + 90, 20);
        const float block_err =
            relative_error(gpu.forward(block, 90, gpu_cache, Logits::All), cpu.forward(block, 90, cpu_cache, Logits::All));
        MESSAGE("delta " << delta << std::string(overlap ? ", overlapped" : ", serial") << ": decode logits vs CPU, worst " << worst
                         << ", mean " << mean << "; a 20-token step " << block_err);
        // One code chosen the other way at an OMP near-tie (about one in a
        // thousand on random data) changes that layer's attention and, through
        // it, every later layer's vectors: a random model amplifies it (measured
        // worst 6e-2 after one flip; 3e-5 without).
        CHECK(mean < 2e-2f);
        CHECK(worst < 1.5e-1f);
        CHECK(block_err < 1.5e-1f);
        gpu_cache.flush(gpu.stream());
        for (int l = 0; l < c.n_layers; ++l) {
          CHECK(gpu_cache.compressed_length(l) == cpu_cache.compressed_length(l) + overlap);
          CHECK(gpu_cache.buffer_length(l) == 16);
        }
        CHECK(gpu_cache.compressed_length(0) == 110 - 16);
        // The same codes: exactly where the coded vectors are the same (layer 0's
        // keys and values depend on the embedding alone), nearly elsewhere
        // (float rounding moves OMP's near-ties).
        std::vector<uint16_t> gi, ci;
        std::vector<uint8_t> gc, cc;
        for (int l = 0; l < c.n_layers; ++l) {
          int same = 0, total = 0;
          for (KvKind kind : {KvKind::Keys, KvKind::Values})
            for (int h = 0; h < c.n_kv_heads; ++h)
              for (int64_t t = 0; t < cpu_cache.compressed_length(l); ++t) {
                gpu_cache.code(l, h, kind, t, gi, gc);
                cpu_cache.code(l, h, kind, t, ci, cc);
                if (delta == 0.0f) REQUIRE(ci.size() == gi.size());
                ci.resize(gi.size(), 0);  // CSR rows stop early; the GPU pads with zero coefficients
                cc.resize(gc.size(), 0);
                same += gi == ci && gc == cc;
                ++total;
              }
          MESSAGE("layer " << l << ": codes identical to the CPU's: " << same << " of " << total);
          CHECK(same >= total * (l == 0 ? 98 : 80) / 100);
        }
      }
}

TEST_CASE("GPU lexico cache: overlapped decode steps coded in batches keep the CPU's codes") {
  LEXICO_REQUIRE_GPU();
  // One layer: its keys and values depend on the embedding alone, so every
  // cache below holds the same vectors whatever it attended before.
  ModelConfig one_layer = small_config(false, true);
  one_layer.n_layers = 1;
  const Model cpu = synthetic_model(one_layer, 21);
  const ModelConfig& c = cpu.config();
  const CacheShape shape = c.cache_shape();
  const Dictionary dict = synthetic_dictionary(shape, 256, 100);
  GpuModel gpu(cpu, WeightPrecision::F32, 64);
  LexicoOptions o;
  o.sparsity = 8;
  o.buffer = 16;
  CHECK(GpuLexicoCache(shape, dict, o, 128, 64).encode_batch() == 32);  // ⌊64 / 2 KV heads⌋
  CHECK(GpuLexicoCache::auto_encode_batch(CacheShape{32, 32, 8, 128}) == 8);
  CHECK(GpuLexicoCache::auto_encode_batch(CacheShape{30, 9, 3, 64}) == 21);  // 63 vectors: one tile, not 64 + 2
  CHECK(GpuLexicoCache::auto_encode_batch(CacheShape{2, 128, 128, 64}) == 1);
  CHECK_THROWS_WITH_AS(GpuLexicoCache(shape, dict, o, 128, 64, false, 5), doctest::Contains("needs overlap"), Error);
  CHECK_THROWS_WITH_AS(GpuLexicoCache(shape, dict, o, 128, 64, true, 33), doctest::Contains("outside 0..32"), Error);
  for (const DecodePlan& plan : kDecodePlans) {
    CAPTURE(std::string(plan.name));
    constexpr int kBatch = 5;
    const std::vector<int> tokens = synthetic_tokens(108, c.vocab_size, 5);
    // A step that attends e tokens exactly sees what the CPU's cache with a
    // buffer of e − 1 sees: each token's code does not depend on when it is
    // coded. Between batches e runs over n_b + 1 … n_b + kBatch, so the GPU
    // is compared, step by step, with the CPU cache of that buffer.
    std::vector<std::unique_ptr<LexicoCache>> cpu_caches;
    for (int i = 1; i <= kBatch; ++i) {
      LexicoOptions b = o;
      b.buffer += i;
      cpu_caches.push_back(std::make_unique<LexicoCache>(shape, dict, b));
    }
    GpuLexicoCache gpu_cache(shape, dict, o, 128, 64, true, kBatch);
    set_plan(gpu_cache, plan);
    const std::span<const int> prompt(tokens.data(), 40);
    const Matrix want0 = cpu.forward(prompt, 0, *cpu_caches[0], Logits::All);
    CHECK(relative_error(gpu.forward(prompt, 0, gpu_cache, Logits::All), want0) < 5e-4f);  // a prefill attends exactly
    for (int i = 1; i < kBatch; ++i) cpu.forward(prompt, 0, *cpu_caches[i]);
    float worst = 0, mean = 0;
    int compared = 0;
    for (int t = 40; t < 88; ++t) {  // 48 decode steps: 9 batches of 5 coded, 3 steps not yet
      const int64_t exact = gpu_cache.buffer_length(0) + 1;  // what this step attends exactly
      const std::span<const int> one(tokens.data() + t, 1);
      const Matrix got = gpu.forward(one, t, gpu_cache);
      for (int i = 0; i < kBatch; ++i) {
        const Matrix want = cpu.forward(one, t, *cpu_caches[i]);
        if (exact - 1 != cpu_caches[i]->options().buffer) continue;
        const float err = relative_error(got, want);
        worst = std::max(worst, err);
        mean += err;
        ++compared;
      }
      CHECK(gpu_cache.buffer_length(0) >= 16);
      CHECK(gpu_cache.buffer_length(0) <= 16 + kBatch);
    }
    mean /= float(std::max(compared, 1));
    MESSAGE("batches of " << kBatch << ": decode logits vs the CPU's of the same exact tokens, worst " << worst
                          << ", mean " << mean << " over " << compared << " steps");
    CHECK(compared == 47);  // all but the first step, which attends the whole prompt exactly
    CHECK(mean < 2e-3f);
    CHECK(worst < 2e-2f);  // a code chosen the other way at an OMP near-tie moves one token
    gpu_cache.flush(gpu.stream());
    for (int l = 0; l < c.n_layers; ++l) {
      CHECK(gpu_cache.compressed_length(l) == 24 + 45);
      CHECK(gpu_cache.buffer_length(l) == 16 + 3);
    }
    // A multi-token step codes everything but n_b, whatever the batch.
    const std::span<const int> block(tokens.data() + 88, 20);
    gpu.forward(block, 88, gpu_cache, Logits::All);
    gpu_cache.flush(gpu.stream());
    CHECK(gpu_cache.compressed_length(0) == 108 - 16);
    CHECK(gpu_cache.buffer_length(0) == 16);
    // The same codes as the CPU's.
    const int64_t coded = cpu_caches[0]->compressed_length(0);
    const int same = same_codes(gpu_cache, *cpu_caches[0], c.n_kv_heads, coded), total = int(2 * c.n_kv_heads * coded);
    MESSAGE("codes identical to the CPU's: " << same << " of " << total);
    CHECK(same >= total * 98 / 100);
  }
}

TEST_CASE("GPU lexico cache: a prompt longer than the atoms, in one step, is attended exactly and coded after") {
  LEXICO_REQUIRE_GPU();
  // N = 64 atoms, n_b = 16, a 150-token prompt in one step: the buffer holds
  // 166 rows, more than the sparse kernels take; the CPU's LexicoCache
  // attends a prompt exactly and codes all but n_b after it.
  const Model cpu = synthetic_model(small_config(false, true), 23);
  const ModelConfig& c = cpu.config();
  const CacheShape shape = c.cache_shape();
  const Dictionary dict = synthetic_dictionary(shape, 64, 101);
  GpuModel gpu(cpu, WeightPrecision::F32, 150);
  const std::vector<int> tokens = synthetic_tokens(190, c.vocab_size, 9);
  const std::span<const int> prompt(tokens.data(), 150);
  for_each_plan(shape, dict, 190, 150, [&](LexicoCache& cpu_cache, GpuLexicoCache& gpu_cache, bool overlap) {
    CHECK(relative_error(gpu.forward(prompt, 0, gpu_cache, Logits::All),
                         cpu.forward(prompt, 0, cpu_cache, Logits::All)) < 5e-4f);
    gpu_cache.flush(gpu.stream());
    CHECK(gpu_cache.compressed_length(0) == 150 - 16);
    float worst = 0;
    for (int t = 150; t < 190; ++t) {  // decode: the sparse kernels (limit 0) or the dense plan
      const std::span<const int> one(tokens.data() + t, 1);
      const Matrix got = gpu.forward(one, t, gpu_cache);
      const Matrix want = cpu.forward(one, t, cpu_cache);
      REQUIRE(got.allFinite());
      if (!overlap) worst = std::max(worst, relative_error(got, want));
    }
    gpu_cache.flush(gpu.stream());
    CHECK(gpu_cache.compressed_length(0) == 190 - 16);
    CHECK(gpu_cache.buffer_length(0) == 16);
    if (!overlap) {  // overlapped, a step sees one more exact token than the CPU's
      MESSAGE("after a 150-token prompt in one step: decode logits vs CPU, worst " << worst);
      CHECK(worst < 1.5e-1f);
    }
    // The prompt's codes: from the same exact keys and values as the CPU's.
    const int same = same_codes(gpu_cache, cpu_cache, c.n_kv_heads, 150 - 16), total = 2 * c.n_kv_heads * (150 - 16);
    MESSAGE("layer 0, the prompt's codes identical to the CPU's: " << same << " of " << total);
    CHECK(same >= total * 98 / 100);
  });
}

TEST_CASE("GPU lexico cache: a forward call of several steps is attended exactly and coded after it") {
  LEXICO_REQUIRE_GPU();
  // Steps of at most 20 tokens, N = 64 atoms, n_b = 16. Each call of more
  // than 20 tokens runs in steps; LexicoCache attends a call's tokens exactly
  // and codes after it, so the cache holds them all in its (grown) buffer.
  // The 21- and 41-token calls end with a one-token step over compressed
  // tokens: with limit 0 the sparse kernels read the grown buffer.
  const Model cpu = synthetic_model(small_config(false, true), 29);
  const ModelConfig& c = cpu.config();
  const CacheShape shape = c.cache_shape();
  const Dictionary dict = synthetic_dictionary(shape, 64, 103);
  GpuModel gpu(cpu, WeightPrecision::F32, 64);
  const std::vector<int> tokens = synthetic_tokens(100, c.vocab_size, 13);
  const int calls[][2] = {{0, 30}, {30, 51}, {51, 92}};
  for_each_plan(shape, dict, 100, 20, [&](LexicoCache& cpu_cache, GpuLexicoCache& gpu_cache, bool) {
    const int64_t base_rows = gpu_cache.buffer_capacity();
    CHECK(base_rows == 16 + 20);
    for (const auto& call : calls) {
      CAPTURE(call[0]);
      const std::span<const int> part(tokens.data() + call[0], size_t(call[1] - call[0]));
      const float err = relative_error(gpu.forward(part, call[0], gpu_cache, Logits::All),
                                       cpu.forward(part, call[0], cpu_cache, Logits::All));
      MESSAGE("tokens " << call[0] << ".." << call[1] << " in steps of 20: logits vs CPU " << err);
      // The first call is all exact; the later ones also attend codes,
      // which may differ from the CPU's at an OMP near-tie.
      CHECK(err < (call[0] == 0 ? 5e-4f : 5e-3f));
      gpu_cache.flush(gpu.stream());
      CHECK(gpu_cache.compressed_length(0) == call[1] - 16);
      CHECK(gpu_cache.buffer_length(0) == 16);
      CHECK(gpu_cache.buffer_capacity() == base_rows);  // the grown buffer was given back
    }
    for (int t = 92; t < 100; ++t) {
      const std::span<const int> one(tokens.data() + t, 1);
      REQUIRE(gpu.forward(one, t, gpu_cache).allFinite());
    }
    const int64_t coded = 92 - 16;
    const int same = same_codes(gpu_cache, cpu_cache, c.n_kv_heads, coded), total = int(2 * c.n_kv_heads * coded);
    MESSAGE("layer 0, codes identical to the CPU's: " << same << " of " << total);
    CHECK(same >= total * 98 / 100);
  });
}

TEST_CASE("GPU lexico cache: the dense plan (reconstructed rows) attends as the sparse kernels do") {
  LEXICO_REQUIRE_GPU();
  for (int m : {64, 128}) {
    CAPTURE(m);
    const CacheShape shape{1, 8, 2, m};
    const Dictionary dict = synthetic_dictionary(shape, 512, 31);
    LexicoOptions o;
    o.sparsity = 12;
    o.buffer = 16;
    const size_t row = size_t(shape.n_kv_heads) * m;
    const Eigen::MatrixXf kv = random_vectors(int(row), 2 * 64, 7);  // keys, then values, of 64 tokens
    DeviceBuffer<float> k(row * 64), v(row * 64), q(size_t(shape.n_heads) * m), out(q.size());
    LEXICO_CUDA_CHECK(cudaMemcpy(k.data(), kv.data(), k.bytes(), cudaMemcpyHostToDevice));
    LEXICO_CUDA_CHECK(cudaMemcpy(v.data(), kv.data() + row * 64, v.bytes(), cudaMemcpyHostToDevice));
    const Eigen::MatrixXf qh = 0.5f * random_vectors(m, shape.n_heads, 8);
    LEXICO_CUDA_CHECK(cudaMemcpy(q.data(), qh.data(), q.bytes(), cudaMemcpyHostToDevice));
    // 320 positions (with the new token 321, 305 compressed); the last append
    // under `limit`: the dense plan reconstructs in the append's launch, the
    // sparse one leaves that to attend.
    auto filled = [&](int64_t limit) {
      auto cache = std::make_unique<GpuLexicoCache>(shape, dict, o, 400, 64, /*overlap_encoding=*/false);
      CHECK(cache->densify_limit() == 0);  // by default every decode step is sparse
      cache->set_sparse_kernel(SparseKernel::ThreeKernels);  // the cluster kernel would take the dense plan's steps
      for (int step = 0; step < 5; ++step) {  // steps 2-5: multi-token steps on the dense plan
        cache->append(0, k.data(), v.data(), 64, nullptr);
        cache->finish_step(nullptr);
      }
      cache->set_densify_limit(limit);
      cache->append(0, k.data(), v.data(), 1, nullptr);
      REQUIRE(cache->compressed_length(0) == 5 * 64 - 16);
      return cache;
    };
    auto attend = [&](GpuLexicoCache& cache, int64_t limit) {
      cache.set_densify_limit(limit);
      cache.attend(0, q.data(), 1, out.data(), nullptr);
      std::vector<float> host(q.size());
      LEXICO_CUDA_CHECK(cudaMemcpy(host.data(), out.data(), out.bytes(), cudaMemcpyDeviceToHost));
      return Eigen::Map<const Eigen::MatrixXf>(host.data(), m, shape.n_heads).eval();
    };
    const auto fused = filled(kDenseUpTo), apart = filled(0);
    const Eigen::MatrixXf dense = attend(*fused, kDenseUpTo), sparse = attend(*fused, 0);
    CHECK(attend(*apart, kDenseUpTo) == dense);  // the same rows, reconstructed by attend
    const float err = (dense - sparse).cwiseAbs().maxCoeff() / sparse.cwiseAbs().maxCoeff();
    MESSAGE("head_dim " << m << ": dense plan vs sparse kernels, max relative difference " << err);
    CHECK(err > 0.0f);  // two different computations
    CHECK(err < 2e-3f);  // the reconstructions' FP16 rounding
  }
}

TEST_CASE("GPU lexico cache: the dense scratch holds one layer; attending layers out of order rebuilds it") {
  LEXICO_REQUIRE_GPU();
  const CacheShape shape{2, 4, 2, 64};
  const Dictionary dict = synthetic_dictionary(shape, 256, 41);
  LexicoOptions o;
  o.sparsity = 8;
  o.buffer = 8;
  const size_t row = size_t(shape.n_kv_heads) * shape.head_dim, n = 32;
  const Eigen::MatrixXf kv = random_vectors(int(row), int(4 * n), 9);  // keys and values of two layers
  DeviceBuffer<float> data(row * 4 * n), q(size_t(shape.n_heads) * shape.head_dim), out(q.size());
  LEXICO_CUDA_CHECK(cudaMemcpy(data.data(), kv.data(), data.bytes(), cudaMemcpyHostToDevice));
  const Eigen::MatrixXf qh = 0.5f * random_vectors(shape.head_dim, shape.n_heads, 10);
  LEXICO_CUDA_CHECK(cudaMemcpy(q.data(), qh.data(), q.bytes(), cudaMemcpyHostToDevice));
  auto k = [&](int layer) { return data.data() + size_t(2 * layer) * row * n; };
  auto v = [&](int layer) { return data.data() + size_t(2 * layer + 1) * row * n; };
  auto attend = [&](GpuLexicoCache& cache, int layer) {
    cache.attend(layer, q.data(), 1, out.data(), nullptr);
    std::vector<float> host(q.size());
    LEXICO_CUDA_CHECK(cudaMemcpy(host.data(), out.data(), out.bytes(), cudaMemcpyDeviceToHost));
    return host;
  };
  // Both caches: 3 steps of 32 tokens a layer, then one token (the dense plan).
  auto filled = [&] {
    auto cache = std::make_unique<GpuLexicoCache>(shape, dict, o, 200, 32, /*overlap_encoding=*/false);
    cache->set_densify_limit(kDenseUpTo);
    cache->set_sparse_kernel(SparseKernel::ThreeKernels);  // the cluster kernel would take the dense plan's steps
    for (int step = 0; step < 3; ++step) {
      for (int l = 0; l < 2; ++l) cache->append(l, k(l), v(l), int(n), nullptr);
      cache->finish_step(nullptr);
    }
    return cache;
  };
  const auto in_order = filled(), out_of_order = filled();
  in_order->append(0, k(0), v(0), 1, nullptr);
  const std::vector<float> a0 = attend(*in_order, 0);
  in_order->append(1, k(1), v(1), 1, nullptr);
  const std::vector<float> a1 = attend(*in_order, 1);
  out_of_order->append(0, k(0), v(0), 1, nullptr);
  out_of_order->append(1, k(1), v(1), 1, nullptr);  // the scratch now holds layer 1
  CHECK(attend(*out_of_order, 0) == a0);
  CHECK(attend(*out_of_order, 1) == a1);  // layer 0's rows were rebuilt there: layer 1's must be again
  CHECK(a0 != a1);
}

TEST_CASE("GPU lexico cache: shapes the kernels do not take and misuse are refused with the reason") {
  const CacheShape shape{2, 4, 2, 64};
  LexicoOptions o;
  o.buffer = 128;
  // 128 + 512 buffered rows > 256 atoms: such steps take the dense plan (the
  // reason, where there is one, is another: no GPU here, say).
  CHECK(GpuLexicoCache::unsupported_reason(shape, 256, o, 512).find("buffer") == std::string::npos);
  o.sparsity = 48;
  CHECK(GpuLexicoCache::unsupported_reason(shape, 4096, o, 64).find("32") != std::string::npos);
  LEXICO_REQUIRE_GPU();
  const Dictionary dict = synthetic_dictionary(shape, 256, 5);
  o.sparsity = 8;
  o.buffer = 8;
  GpuLexicoCache cache(shape, dict, o, 20, 16);
  DeviceBuffer<float> kv(size_t(32) * shape.n_kv_heads * shape.head_dim);
  CHECK_THROWS_WITH_AS(cache.append(0, kv.data(), kv.data(), 17, nullptr), doctest::Contains("outside 1..16"), Error);
  cache.append(0, kv.data(), kv.data(), 16, nullptr);
  DeviceBuffer<float> q(size_t(16) * shape.n_heads * shape.head_dim), out(q.size());
  CHECK_THROWS_WITH_AS(cache.attend(0, q.data(), 3, out.data(), nullptr), doctest::Contains("appended 16"), Error);
  CHECK_THROWS_WITH_AS(cache.append(0, kv.data(), kv.data(), 16, nullptr), doctest::Contains("capacity"), Error);
  CHECK_THROWS_WITH_AS(cache.finish_step(nullptr), doctest::Contains("layers differ"), Error);
}
