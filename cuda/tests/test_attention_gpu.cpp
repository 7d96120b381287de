// GPU decode attention (compressed and dense FP16) against a CPU computation
// in double on the densified vectors. Tolerance: ‖out − ref‖ ≤ 1e-4‖ref‖ per
// head (float32 arithmetic throughout; atomics make the order of the sums vary).
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "gpu_test.h"
#include "lexico/cuda/attention.h"
#include "lexico/fp8.h"
#include "lexico/half.h"

using namespace lexico;
using namespace lexico::cuda;
using namespace lexico::cuda::test;

namespace {

struct HostCache {
  DecodeShape shape;
  Eigen::MatrixXf dk, dv;  // m×N
  std::vector<uint16_t> ki, vi;
  std::vector<uint8_t> kc, vc;
  std::vector<uint16_t> kb, vb;  // FP16 buffer
  std::vector<int32_t> tc, tb;
  std::vector<float> q;
  // Dense equivalents (every token, compressed ones densified, then FP16): the
  // dense kernel's input. [b][kv][t][m], t < tc + tb.
  std::vector<uint16_t> dense_k, dense_v;
  int64_t dense_cap = 0;
};

HostCache make_cache(const DecodeShape& shape, std::vector<int32_t> tc, std::vector<int32_t> tb, float q_scale,
                     uint32_t seed) {
  HostCache c;
  c.shape = shape;
  c.tc = std::move(tc);
  c.tb = std::move(tb);
  const int m = shape.head_dim, n = shape.n_atoms, s = shape.sparsity;
  // The kernels read the atoms in FP16: the reference takes the same rounded atoms.
  const auto fp16 = [](float x) { return half_to_float(float_to_half(x)); };
  c.dk = random_dictionary(m, n, seed).unaryExpr(fp16);
  c.dv = random_dictionary(m, n, seed + 1).unaryExpr(fp16);
  std::mt19937 rng(seed + 2);
  std::normal_distribution<float> normal;
  const size_t rows = size_t(shape.batch) * shape.n_kv_heads * shape.compressed_capacity;
  c.ki.resize(rows * s);
  c.vi.resize(rows * s);
  c.kc.resize(rows * s);
  c.vc.resize(rows * s);
  std::uniform_int_distribution<int> atom(0, n - 1);
  for (size_t r = 0; r < rows; ++r) {
    for (auto* pair : {&c.ki, &c.vi}) {
      std::set<int> used;
      for (int i = 0; i < s; ++i) {
        int a;
        do a = atom(rng);
        while (used.count(a));
        used.insert(a);
        (*pair)[r * s + i] = uint16_t(a);
      }
    }
    for (int i = 0; i < s; ++i) {
      c.kc[r * s + i] = fp8_e4m3_encode(0.8f * normal(rng));
      c.vc[r * s + i] = i == s - 1 ? 0 : fp8_e4m3_encode(0.8f * normal(rng));  // a zero (padding) coefficient
    }
  }
  const size_t brows = size_t(shape.batch) * shape.n_kv_heads * shape.buffer_capacity;
  c.kb.resize(brows * m);
  c.vb.resize(brows * m);
  for (auto& h : c.kb) h = float_to_half(0.3f * normal(rng));
  for (auto& h : c.vb) h = float_to_half(0.3f * normal(rng));
  c.q.resize(size_t(shape.batch) * shape.n_heads * m);
  for (auto& v : c.q) v = q_scale * normal(rng);
  // Dense layout.
  int64_t cap = 0;
  for (int b = 0; b < shape.batch; ++b) cap = std::max<int64_t>(cap, c.tc[b] + c.tb[b]);
  c.dense_cap = std::max<int64_t>(cap, 1);
  c.dense_k.assign(size_t(shape.batch) * shape.n_kv_heads * c.dense_cap * m, 0);
  c.dense_v.assign(c.dense_k.size(), 0);
  for (int b = 0; b < shape.batch; ++b)
    for (int kv = 0; kv < shape.n_kv_heads; ++kv) {
      for (int t = 0; t < c.tc[b] + c.tb[b]; ++t) {
        Eigen::VectorXf k(m), v(m);
        if (t < c.tc[b]) {
          const size_t r = (size_t(b) * shape.n_kv_heads + kv) * shape.compressed_capacity + t;
          k.setZero();
          v.setZero();
          for (int i = 0; i < s; ++i) {
            k += fp8_e4m3_decode(c.kc[r * s + i]) * c.dk.col(c.ki[r * s + i]);
            v += fp8_e4m3_decode(c.vc[r * s + i]) * c.dv.col(c.vi[r * s + i]);
          }
        } else {
          const size_t r = (size_t(b) * shape.n_kv_heads + kv) * shape.buffer_capacity + (t - c.tc[b]);
          for (int e = 0; e < m; ++e) {
            k(e) = half_to_float(c.kb[r * m + e]);
            v(e) = half_to_float(c.vb[r * m + e]);
          }
        }
        const size_t d = ((size_t(b) * shape.n_kv_heads + kv) * c.dense_cap + t) * m;
        for (int e = 0; e < m; ++e) {
          c.dense_k[d + e] = float_to_half(k(e));
          c.dense_v[d + e] = float_to_half(v(e));
        }
      }
    }
  return c;
}

// Exact attention in double. dense_fp16: use the FP16-rounded dense vectors
// (the dense kernel's input) instead of the exact densified ones.
std::vector<double> reference(const HostCache& c, bool dense_fp16) {
  const DecodeShape& sh = c.shape;
  const int m = sh.head_dim, s = sh.sparsity, group = sh.n_heads / sh.n_kv_heads;
  std::vector<double> out(size_t(sh.batch) * sh.n_heads * m, 0.0);
  for (int b = 0; b < sh.batch; ++b)
    for (int h = 0; h < sh.n_heads; ++h) {
      const int kv = h / group;
      const int total = c.tc[b] + c.tb[b];
      if (total == 0) continue;
      std::vector<Eigen::VectorXd> ks, vs;
      for (int t = 0; t < total; ++t) {
        Eigen::VectorXd k = Eigen::VectorXd::Zero(m), v = Eigen::VectorXd::Zero(m);
        if (dense_fp16) {
          const size_t d = ((size_t(b) * sh.n_kv_heads + kv) * c.dense_cap + t) * m;
          for (int e = 0; e < m; ++e) {
            k(e) = half_to_float(c.dense_k[d + e]);
            v(e) = half_to_float(c.dense_v[d + e]);
          }
        } else if (t < c.tc[b]) {
          const size_t r = (size_t(b) * sh.n_kv_heads + kv) * sh.compressed_capacity + t;
          for (int i = 0; i < s; ++i) {
            k += double(fp8_e4m3_decode(c.kc[r * s + i])) * c.dk.col(c.ki[r * s + i]).cast<double>();
            v += double(fp8_e4m3_decode(c.vc[r * s + i])) * c.dv.col(c.vi[r * s + i]).cast<double>();
          }
        } else {
          const size_t r = (size_t(b) * sh.n_kv_heads + kv) * sh.buffer_capacity + (t - c.tc[b]);
          for (int e = 0; e < m; ++e) {
            k(e) = half_to_float(c.kb[r * m + e]);
            v(e) = half_to_float(c.vb[r * m + e]);
          }
        }
        ks.push_back(k);
        vs.push_back(v);
      }
      Eigen::VectorXd q(m);
      for (int e = 0; e < m; ++e) q(e) = c.q[(size_t(b) * sh.n_heads + h) * m + e];
      std::vector<double> sc(total);
      double mx = -INFINITY;
      for (int t = 0; t < total; ++t) {
        sc[t] = q.dot(ks[t]) / std::sqrt(double(m));
        mx = std::max(mx, sc[t]);
      }
      double z = 0.0;
      Eigen::VectorXd o = Eigen::VectorXd::Zero(m);
      for (int t = 0; t < total; ++t) {
        const double p = std::exp(sc[t] - mx);
        z += p;
        o += p * vs[t];
      }
      for (int e = 0; e < m; ++e) out[(size_t(b) * sh.n_heads + h) * m + e] = o(e) / z;
    }
  return out;
}

double worst_head_error(const std::vector<float>& got, const std::vector<double>& want, int m) {
  double worst = 0.0;
  for (size_t h = 0; h < want.size() / m; ++h) {
    double diff = 0.0, norm = 0.0;
    for (int e = 0; e < m; ++e) {
      const double d = got[h * m + e] - want[h * m + e];
      diff += d * d;
      norm += want[h * m + e] * want[h * m + e];
    }
    if (!std::isfinite(diff)) return INFINITY;
    worst = std::max(worst, norm > 0 ? std::sqrt(diff / norm) : std::sqrt(diff));
  }
  return worst;
}

template <typename T>
DeviceBuffer<T> upload(const std::vector<T>& host) {
  DeviceBuffer<T> d(std::max<size_t>(host.size(), 1));
  if (!host.empty()) LEXICO_CUDA_CHECK(cudaMemcpy(d.data(), host.data(), host.size() * sizeof(T), cudaMemcpyHostToDevice));
  return d;
}

void run_case(const DecodeShape& shape, std::vector<int32_t> tc, std::vector<int32_t> tb, float q_scale, uint32_t seed) {
  const HostCache c = make_cache(shape, std::move(tc), std::move(tb), q_scale, seed);
  const int m = shape.head_dim;
  auto ki = upload(c.ki), vi = upload(c.vi);
  auto kc = upload(c.kc), vc = upload(c.vc);
  auto kb = upload(c.kb), vb = upload(c.vb);
  auto tcd = upload(c.tc), tbd = upload(c.tb);
  auto q = upload(c.q);
  std::vector<uint16_t> dk(c.dk.size()), dv(c.dv.size());  // atom-major = the m×N matrices' column-major bytes
  for (size_t i = 0; i < dk.size(); ++i) dk[i] = float_to_half(c.dk.data()[i]), dv[i] = float_to_half(c.dv.data()[i]);
  auto dkd = upload(dk), dvd = upload(dv);
  DeviceBuffer<float> out(c.q.size());
  CompressedKv kv{ki.data(), kc.data(), vi.data(), vc.data(), kb.data(), vb.data(), tcd.data(), tbd.data(),
                  dkd.data(), dvd.data()};
  SparseDecodeAttention sparse(shape);
  const int64_t max_tc = *std::max_element(c.tc.begin(), c.tc.end());
  sparse.set_kernel(SparseKernel::Cluster);
  const bool cluster = sparse.takes_cluster_kernel(kv, max_tc);
  // The three kernels; then, where the rows fit it, the one-launch cluster kernel.
  std::vector<float> got(c.q.size());
  for (bool use_cluster : {false, true}) {
    if (use_cluster && !cluster) break;
    sparse.set_kernel(use_cluster ? SparseKernel::Cluster : SparseKernel::ThreeKernels);
    for (int rep = 0; rep < 2; ++rep) {  // a second run reuses the workspace
      LEXICO_CUDA_CHECK(cudaMemset(out.data(), 0xFF, out.bytes()));  // poison: every output must be written
      sparse.run(kv, q.data(), out.data(), shape.batch, max_tc);
      LEXICO_CUDA_CHECK(cudaDeviceSynchronize());
      LEXICO_CUDA_CHECK(cudaMemcpy(got.data(), out.data(), out.bytes(), cudaMemcpyDeviceToHost));
      const double err = worst_head_error(got, reference(c, false), m);
      MESSAGE("sparse attention, " << std::string(use_cluster ? "cluster kernel" : "three kernels") << " (m " << m << ", s "
                                   << shape.sparsity << ", N " << shape.n_atoms << ", q×" << q_scale
                                   << "): worst head error " << err);
      CHECK(err <= 1e-4);
    }
  }
  // The cluster kernel takes calls of up to 4,096 rows on sm_90; Auto, those of up to 24,576 value pairs.
  const int64_t rows = max_tc + std::min(shape.buffer_capacity, shape.n_atoms);
  CHECK(cluster == (rows <= 4096 && device_info().major >= 9));
  sparse.set_kernel(SparseKernel::Auto);
  CHECK(sparse.takes_cluster_kernel(kv, max_tc) == (cluster && rows * shape.sparsity <= 24576));
  // A bound on the buffer lengths that the longest sequence exceeds: its
  // outputs are NaN (the cluster kernel's rows are planned from the bound),
  // never a wrong number; the others' are computed.
  int64_t longest = 0;
  for (int b = 0; b < shape.batch; ++b) longest = std::max<int64_t>(longest, c.tc[b] + c.tb[b]);
  const int64_t bound = longest - 1 - max_tc;
  if (cluster && bound >= 0) {
    sparse.set_kernel(SparseKernel::Cluster);
    REQUIRE(sparse.takes_cluster_kernel(kv, max_tc, bound));
    sparse.run(kv, q.data(), out.data(), shape.batch, max_tc, nullptr, bound);
    LEXICO_CUDA_CHECK(cudaMemcpy(got.data(), out.data(), out.bytes(), cudaMemcpyDeviceToHost));
    const size_t per_sequence = size_t(shape.n_heads) * m;
    int refused = 0;
    for (int b = 0; b < shape.batch; ++b) {
      const auto first = got.begin() + b * per_sequence, last = first + per_sequence;
      if (c.tc[b] + c.tb[b] > max_tc + bound) {
        ++refused;
        CHECK(std::all_of(first, last, [](float x) { return std::isnan(x); }));
      } else {
        CHECK(std::none_of(first, last, [](float x) { return std::isnan(x); }));
      }
    }
    CHECK(refused >= 1);
  }
  // Dense FP16 reference kernel on the same tokens.
  DecodeShape dshape = shape;
  dshape.compressed_capacity = c.dense_cap;
  auto dkh = upload(c.dense_k), dvh = upload(c.dense_v);
  std::vector<int32_t> lens(shape.batch);
  for (int b = 0; b < shape.batch; ++b) lens[b] = c.tc[b] + c.tb[b];
  auto lend = upload(lens);
  DenseDecodeAttention dense(dshape);
  LEXICO_CUDA_CHECK(cudaMemset(out.data(), 0xFF, out.bytes()));
  dense.run(dkh.data(), dvh.data(), c.dense_cap, lend.data(), q.data(), out.data(), shape.batch,
            *std::max_element(lens.begin(), lens.end()));
  LEXICO_CUDA_CHECK(cudaDeviceSynchronize());
  LEXICO_CUDA_CHECK(cudaMemcpy(got.data(), out.data(), out.bytes(), cudaMemcpyDeviceToHost));
  const double err = worst_head_error(got, reference(c, true), m);
  MESSAGE("dense attention: worst head error " << err);
  CHECK(err <= 1e-4);
}

// The queries of one sequence's step (one_sequence): query i at position
// start + i sees rows < start + i + 1 of [n_kv][capacity][m] FP16 keys and
// values, on the tensor-core prefill kernel (n ≥ 16) or flash-decoding.
// Returns the worst head error against double precision.
double one_sequence_error(int n_heads, int n_kv, int m, int n, int start, float q_scale, uint32_t seed) {
  const int64_t cap = start + n + 5;  // rows past the lengths hold NaN: they must not leak in
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  std::vector<uint16_t> k(size_t(n_kv) * cap * m, 0x7E00u), v(k.size(), 0x7E00u);  // FP16 NaN
  for (int kv = 0; kv < n_kv; ++kv)
    for (int64_t r = 0; r < start + n; ++r)
      for (int e = 0; e < m; ++e) {
        k[(kv * cap + r) * m + e] = float_to_half(normal(rng));
        v[(kv * cap + r) * m + e] = float_to_half(normal(rng));
      }
  std::vector<float> q(size_t(n) * n_heads * m);
  for (float& x : q) x = q_scale * normal(rng);
  std::vector<int32_t> lens(n);
  for (int i = 0; i < n; ++i) lens[i] = start + i + 1;
  std::vector<double> want(q.size());
  const int group = n_heads / n_kv;
  for (int i = 0; i < n; ++i)
    for (int h = 0; h < n_heads; ++h) {
      const size_t kv0 = size_t(h / group) * cap;
      const float* qi = q.data() + (size_t(i) * n_heads + h) * m;
      std::vector<double> sc(lens[i]);
      double mx = -INFINITY;
      for (int r = 0; r < lens[i]; ++r) {
        double d = 0.0;
        for (int e = 0; e < m; ++e) d += double(qi[e]) * half_to_float(k[(kv0 + r) * m + e]);
        sc[r] = d / std::sqrt(double(m));
        mx = std::max(mx, sc[r]);
      }
      double z = 0.0;
      std::vector<double> o(m, 0.0);
      for (int r = 0; r < lens[i]; ++r) {
        const double p = std::exp(sc[r] - mx);
        z += p;
        for (int e = 0; e < m; ++e) o[e] += p * half_to_float(v[(kv0 + r) * m + e]);
      }
      for (int e = 0; e < m; ++e) want[(size_t(i) * n_heads + h) * m + e] = o[e] / z;
    }
  const DecodeShape shape{.batch = n, .n_heads = n_heads, .n_kv_heads = n_kv, .head_dim = m, .compressed_capacity = cap};
  DenseDecodeAttention dense(shape);
  auto kd = upload(k), vd = upload(v);
  auto qd = upload(q);
  auto lend = upload(lens);
  DeviceBuffer<float> out(q.size());
  LEXICO_CUDA_CHECK(cudaMemset(out.data(), 0xFF, out.bytes()));  // poison: every output must be written
  dense.run(kd.data(), vd.data(), cap, lend.data(), qd.data(), out.data(), n, start + n, nullptr,
            /*one_sequence=*/true);
  LEXICO_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<float> got(q.size());
  LEXICO_CUDA_CHECK(cudaMemcpy(got.data(), out.data(), out.bytes(), cudaMemcpyDeviceToHost));
  return worst_head_error(got, want, m);
}

}  // namespace

TEST_CASE("dense attention over one sequence's step: the tensor-core prefill kernel and flash-decoding") {
  LEXICO_REQUIRE_GPU();
  struct Case {
    int n_heads, n_kv, m, n, start;
    float q_scale;
  };
  // Groups of 3 (SmolLM2), 4 (Llama) and 1; tails of a 64-query block and
  // of a 64-row tile; a step after earlier rows; 15 queries take flash-decoding.
  for (const Case& c : {Case{9, 3, 64, 150, 0, 1.0f}, Case{32, 8, 128, 130, 70, 1.0f}, Case{4, 4, 128, 64, 1, 3.0f},
                        Case{8, 2, 64, 16, 200, 3.0f}, Case{8, 2, 64, 15, 200, 1.0f}, Case{32, 8, 64, 257, 900, 1.0f}}) {
    CAPTURE(c.n_heads);
    CAPTURE(c.n_kv);
    CAPTURE(c.m);
    CAPTURE(c.n);
    CAPTURE(c.start);
    const double err = one_sequence_error(c.n_heads, c.n_kv, c.m, c.n, c.start, c.q_scale, 11 + c.n);
    MESSAGE(c.n << " queries after " << c.start << " rows, m " << c.m << ", " << c.n_heads << "/" << c.n_kv
                << " heads: worst head error " << err);
    CHECK(err <= 1e-4);
  }
}

TEST_CASE("sparse decode attention matches the densified computation (m = 128, s = 16)") {
  LEXICO_REQUIRE_GPU();
  DecodeShape shape{.batch = 3, .n_heads = 8, .n_kv_heads = 2, .head_dim = 128, .n_atoms = 1024, .sparsity = 16,
                    .compressed_capacity = 3000, .buffer_capacity = 128};
  run_case(shape, {2999, 1500, 0}, {37, 128, 5}, 1.0f, 1);
  run_case(shape, {3000, 700, 2}, {0, 1, 128}, 12.0f, 2);  // sharp softmax: exercises the running-max rescale
}

TEST_CASE("sparse decode attention: m = 64, s = 8 and a generic s, one query head per KV head") {
  LEXICO_REQUIRE_GPU();
  DecodeShape shape{.batch = 2, .n_heads = 4, .n_kv_heads = 4, .head_dim = 64, .n_atoms = 777, .sparsity = 8,
                    .compressed_capacity = 1200, .buffer_capacity = 64};
  run_case(shape, {1200, 513}, {64, 3}, 2.0f, 3);
  shape.sparsity = 12;
  shape.n_heads = 16;  // 4 heads a group
  run_case(shape, {1100, 1}, {9, 0}, 1.0f, 4);
  shape.n_heads = 32;  // 8 heads a group: two blocks per group
  shape.sparsity = 16;
  run_case(shape, {900, 64}, {20, 64}, 1.0f, 5);
}

TEST_CASE("decode attention: groups of 2, 3, 5, 6 and 12 query heads (SmolLM2's 9 over 3, and heads that 4 or 8 do not divide)") {
  LEXICO_REQUIRE_GPU();
  DecodeShape shape{
      .batch = 2, .head_dim = 64, .n_atoms = 1024, .sparsity = 16, .compressed_capacity = 700, .buffer_capacity = 128};
  for (int group : {2, 3, 5, 6, 12}) {  // 2: two heads a block; 5 and 6: a second block with padding slots
    CAPTURE(group);
    shape.n_kv_heads = 3;
    shape.n_heads = 3 * group;
    run_case(shape, {700, 129}, {128, 7}, 1.0f, 10 + uint32_t(group));
  }
}

TEST_CASE("sparse decode attention: splits of 1,024 tokens (two a thread), many columns, a generic s, N < 512") {
  LEXICO_REQUIRE_GPU();
  DecodeShape shape{.batch = 2, .n_heads = 8, .n_kv_heads = 2, .head_dim = 128,
                    .n_atoms = 4096,               // every thread owns 8 atoms
                    .compressed_capacity = 20000,  // ≥ 1,024 tokens a split on any GPU of ≤ 160 SMs
                    .buffer_capacity = 128};
  for (int s : {16, 8}) {
    CAPTURE(s);
    shape.sparsity = s;
    run_case(shape, {20000, 13001}, {128, 50}, 1.0f, 20 + uint32_t(s));
  }
  // 288 columns (9 sequences × 32 heads): the D_v·Â kernel takes several
  // 32-atom steps a block and qD 32 atoms a block; N not a multiple of 32.
  shape = {.batch = 9, .n_heads = 32, .n_kv_heads = 8, .head_dim = 128, .n_atoms = 1000, .sparsity = 16,
           .compressed_capacity = 600, .buffer_capacity = 64};
  run_case(shape, {600, 1, 599, 300, 0, 600, 17, 512, 513}, {64, 0, 10, 64, 1, 33, 64, 5, 0}, 1.0f, 30);
  shape.head_dim = 64;
  run_case(shape, {599, 600, 1, 2, 300, 64, 65, 0, 600}, {1, 0, 64, 64, 2, 3, 0, 64, 64}, 1.0f, 33);
  // A generic s (512-token chunks, rows in local memory) and fewer atoms than threads.
  shape = {.batch = 2, .n_heads = 8, .n_kv_heads = 2, .head_dim = 128, .n_atoms = 1024, .sparsity = 32,
           .compressed_capacity = 1500, .buffer_capacity = 64};
  run_case(shape, {1500, 700}, {64, 3}, 1.0f, 31);
  shape.sparsity = 16;
  shape.n_atoms = 300;
  run_case(shape, {1500, 1}, {0, 64}, 2.0f, 32);
}

TEST_CASE("sparse decode attention refuses shapes it cannot take, with the reason") {
  LEXICO_REQUIRE_GPU();
  DecodeShape shape;
  shape.n_atoms = 65536;
  const std::string why = SparseDecodeAttention::unsupported_reason(shape);
  MESSAGE(why);
  CHECK(why.find("4096") != std::string::npos);
  try {
    SparseDecodeAttention attention(shape);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(is_gpu_error(e));
  }
}
