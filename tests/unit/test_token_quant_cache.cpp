#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "lexico/error.h"
#include "lexico/full_cache.h"
#include "lexico/token_quant_cache.h"
#include "test_cache_helpers.h"

using namespace lexico;
using namespace lexico::test;

TEST_CASE("per-token int8/int4: error within scale/2, residual exact, bytes by hand") {
  const CacheShape shape{2, 4, 2, 32};
  for (int bits : {8, 4})
    for (bool symmetric : {true, false})
      for (int residual : {0, 5}) {
        CAPTURE(bits);
        CAPTURE(symmetric);
        CAPTURE(residual);
        TokenQuantCache cache(shape, {bits, symmetric, residual});
        std::mt19937 rng(bits * 10 + symmetric + residual);
        std::vector<KvHistory> fed(2, KvHistory(2));
        int64_t len = 0;
        for (int n : {20, 1, 1, 7}) {
          len += n;
          for (int l = 0; l < 2; ++l) {
            std::vector<float> k = gaussian(size_t(n) * 2 * 32, rng, 3.0f), v = gaussian(k.size(), rng);
            for (size_t i = 0; i < k.size(); i += 7) k[i] += 4.0f;  // skewed, for the asymmetric form
            const std::vector<float> q = gaussian(size_t(n) * 4 * 32, rng, 0.3f);
            std::vector<float> out(q.size());
            cache.append(l, k.data(), v.data(), n);
            fed[l].add(shape, k.data(), v.data(), n, true);
            // Attention sees the held keys and values, the step's own exact.
            KvHistory seen(2);
            for (int g = 0; g < 2; ++g) {
              seen.keys[g] = cache.dequantized(l, g, KvKind::Keys);
              seen.values[g] = cache.dequantized(l, g, KvKind::Values);
            }
            cache.attend(l, q.data(), n, out.data());
            const std::vector<float> ref = reference_attention(shape, seen, q.data(), n, causal);
            CHECK(max_abs_diff(out, ref) <= 1e-4 * (1.0 + max_abs(ref)));
            for (int g = 0; g < 2; ++g) {  // quantized after the step
              seen.keys[g] = cache.dequantized(l, g, KvKind::Keys);
              seen.values[g] = cache.dequantized(l, g, KvKind::Values);
            }
            const int64_t nq = cache.quantized_length(l);
            CHECK(nq == std::max<int64_t>(len - residual, 0));
            for (int g = 0; g < 2; ++g)
              for (KvKind kind : {KvKind::Keys, KvKind::Values}) {
                const auto& x = kind == KvKind::Keys ? fed[l].keys[g] : fed[l].values[g];
                const auto& y = kind == KvKind::Keys ? seen.keys[g] : seen.values[g];
                double excess = 0;  // max over elements of error − bound (residual: exact)
                for (int64_t t = 0; t < len; ++t) {
                  const double bound = t < nq ? 0.5 * cache.scale(l, g, kind, t) * (1 + 1e-6) + 1e-6 : 0.0;
                  for (int c = 0; c < 32; ++c)
                    excess = std::max(excess, std::abs(double(y[t * 32 + c]) - x[t * 32 + c]) - bound);
                }
                CHECK(excess <= 0.0);
              }
          }
        }
        // 29 positions: nq quantized (codes + FP16 scale [+ FP16 min]), the rest FP16.
        const size_t nq = size_t(29 - residual);
        const size_t per_vector = size_t(32 * bits / 8) + (symmetric ? 2 : 4);
        CHECK(cache.bytes() == 2 * 2 * 2 * (nq * per_vector + size_t(residual) * 64));
      }
}

TEST_CASE("per-token int8 attention is close to the full cache, int4 less so") {
  const CacheShape shape{1, 4, 2, 64};
  double err[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    TokenQuantCache cache(shape, {i == 0 ? 8 : 4, true, 0});
    FullCache full(shape);
    std::mt19937 rng(3);
    for (int n : {100, 1, 1}) {
      const std::vector<float> k = gaussian(size_t(n) * 2 * 64, rng), v = gaussian(k.size(), rng);
      const std::vector<float> q = gaussian(size_t(n) * 4 * 64, rng, 1.0f);
      std::vector<float> a(q.size()), b(q.size());
      cache.append(0, k.data(), v.data(), n);
      cache.attend(0, q.data(), n, a.data());
      full.append(0, k.data(), v.data(), n);
      full.attend(0, q.data(), n, b.data());
      if (n == 1) err[i] = std::max(err[i], relative_error(a, b));
    }
  }
  INFO("relative error int8 " << err[0] << ", int4 " << err[1]);
  CHECK(err[0] < 0.015);
  CHECK(err[0] < 0.1 * err[1]);  // 127 vs 7 levels a side
  CHECK(err[1] < 0.2);
}

TEST_CASE("per-token cache rejects bad options") {
  const CacheShape shape{1, 2, 1, 16};
  CHECK_THROWS_AS(TokenQuantCache(shape, {6, true, 0}), Error);
  CHECK_THROWS_AS(TokenQuantCache(shape, {8, true, -2}), Error);
  CHECK(TokenQuantCache(shape, {4, false, 3}).name() == "int4:asym,residual=3");
  CHECK(TokenQuantCache(shape, {8, true, 0}).name() == "int8");
}
