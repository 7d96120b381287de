#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "lexico/error.h"
#include "lexico/full_cache.h"

using lexico::CacheShape;
using lexico::FullCache;

namespace {

std::vector<float> random_vec(size_t n, std::mt19937& rng) {
  std::normal_distribution<float> normal;
  std::vector<float> v(n);
  for (auto& x : v) x = normal(rng);
  return v;
}

// Causal grouped-query attention written out naively in double: query t of
// head h (at position first + t) against positions 0 .. first + t of KV head
// h / group.
std::vector<float> reference(const CacheShape& s, const std::vector<float>& k, const std::vector<float>& v,
                             const std::vector<float>& q, int n_q) {
  const int hd = s.head_dim, group = s.n_heads / s.n_kv_heads;
  const int len = static_cast<int>(k.size() / (size_t(s.n_kv_heads) * hd)), first = len - n_q;
  std::vector<float> out(size_t(n_q) * s.n_heads * hd);
  for (int t = 0; t < n_q; ++t)
    for (int h = 0; h < s.n_heads; ++h) {
      const int g = h / group;
      std::vector<double> w(first + t + 1);
      double mx = -1e300, sum = 0;
      for (int p = 0; p <= first + t; ++p) {
        double dot = 0;
        for (int i = 0; i < hd; ++i)
          dot += double(q[(size_t(t) * s.n_heads + h) * hd + i]) * k[(size_t(p) * s.n_kv_heads + g) * hd + i];
        w[p] = dot / std::sqrt(double(hd));
        mx = std::max(mx, w[p]);
      }
      for (auto& x : w) sum += x = std::exp(x - mx);
      for (int i = 0; i < hd; ++i) {
        double o = 0;
        for (int p = 0; p <= first + t; ++p) o += w[p] / sum * v[(size_t(p) * s.n_kv_heads + g) * hd + i];
        out[(size_t(t) * s.n_heads + h) * hd + i] = static_cast<float>(o);
      }
    }
  return out;
}

}  // namespace

TEST_CASE("full cache: causal GQA attention matches a naive reference, across appends") {
  const CacheShape shape{2, 6, 2, 8};
  std::mt19937 rng(5);
  for (auto storage : {FullCache::Storage::F32, FullCache::Storage::F16}) {
    FullCache cache(shape, storage);
    std::vector<float> all_k, all_v;  // layer 1's history
    // A prefill longer than one query block, then single tokens, then a small batch.
    for (int n : {70, 1, 1, 5}) {
      const size_t kv = size_t(n) * shape.n_kv_heads * shape.head_dim;
      auto k = random_vec(kv, rng), v = random_vec(kv, rng);
      auto q = random_vec(size_t(n) * shape.n_heads * shape.head_dim, rng);
      cache.append(0, k.data(), v.data(), n);  // layer 0 gets other data: layers are independent
      for (auto& x : k) x *= 3;  // sharper softmax
      cache.append(1, k.data(), v.data(), n);
      all_k.insert(all_k.end(), k.begin(), k.end());
      all_v.insert(all_v.end(), v.begin(), v.end());
      std::vector<float> out(q.size());
      cache.attend(1, q.data(), n, out.data());
      const auto ref = reference(shape, all_k, all_v, q, n);
      const float tol = storage == FullCache::Storage::F32 ? 1e-5f : 2e-2f;
      float err = 0;
      for (size_t i = 0; i < out.size(); ++i) err = std::max(err, std::abs(out[i] - ref[i]));
      CHECK_MESSAGE(err < tol, "batch of ", n, ": max error ", err);
    }
    CHECK(cache.length(0) == 77);
    CHECK(cache.length(1) == 77);
    const size_t elem = storage == FullCache::Storage::F32 ? 4 : 2;
    CHECK(cache.bytes() == 2 * 77 * 2 * 2 * 8 * elem);  // layers x positions x (K, V) x KV heads x head_dim
    CHECK(cache.fp16_bytes() == 2 * 77 * 2 * 2 * 8 * 2);
    CHECK(cache.name() == (storage == FullCache::Storage::F32 ? "full" : "full-fp16"));
    cache.clear();
    CHECK(cache.length(1) == 0);
    CHECK(cache.bytes() == 0);
    CHECK(cache.fp16_bytes() == 0);
  }
}

TEST_CASE("full cache: one position attends to itself only; huge scores stay finite") {
  const CacheShape shape{1, 2, 1, 4};
  FullCache cache(shape);
  const std::vector<float> k = {1000, 0, 0, 0}, v = {1, 2, 3, 4};
  cache.append(0, k.data(), v.data(), 1);
  const std::vector<float> q = {1000, 0, 0, 0, -1000, 0, 0, 0};
  std::vector<float> out(8);
  cache.attend(0, q.data(), 1, out.data());
  CHECK(out == std::vector<float>{1, 2, 3, 4, 1, 2, 3, 4});
  const std::vector<float> k2 = {-1000, 0, 0, 0}, v2 = {5, 6, 7, 8};
  cache.append(0, k2.data(), v2.data(), 1);
  cache.attend(0, q.data(), 1, out.data());  // scores +-5e5: only max subtraction keeps exp finite
  CHECK(out == std::vector<float>{1, 2, 3, 4, 5, 6, 7, 8});
  CHECK_THROWS_AS(cache.attend(0, q.data(), 3, out.data()), lexico::Error);
  CHECK_THROWS_AS(cache.append(1, k.data(), v.data(), 1), lexico::Error);
  CHECK_THROWS_AS(FullCache({1, 3, 2, 4}), lexico::Error);
  CHECK_THROWS_AS(FullCache({-1, 2, 2, 4}), lexico::Error);
}
