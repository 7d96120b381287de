#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "cache/cache_util.h"
#include "lexico/error.h"
#include "lexico/full_cache.h"
#include "lexico/half.h"
#include "lexico/kivi_cache.h"
#include "test_cache_helpers.h"

using namespace lexico;
using namespace lexico::test;

namespace {

// Half the quantization step for a group spanning [lo, hi] at `bits`, with the
// FP16 rounding of min (down) and scale (up) allowed for.
double step_bound(double lo, double hi, int bits) {
  const double levels = (1 << bits) - 1;
  const double ulp = std::max(std::abs(lo) * std::ldexp(1.0, -10), std::ldexp(1.0, -24));
  return 0.5 * ((hi - lo) + ulp) / levels * (1.0 + std::ldexp(1.0, -9)) + 1e-6;
}

}  // namespace

TEST_CASE("affine quantizer: every element within scale/2, grid covers the group") {
  using namespace lexico::cache_detail;
  std::mt19937 rng(1);
  for (int bits : {2, 4, 8}) {
    const int levels = (1 << bits) - 1;
    for (int trial = 0; trial < 300; ++trial) {
      const float sigma = std::ldexp(1.0f, int(rng() % 24) - 12);  // 2^-12 .. 2^11
      const float offset = (trial % 3 == 0) ? sigma * 5.0f : 0.0f;
      std::vector<float> x = gaussian(32, rng, sigma);
      for (float& e : x) e += offset;
      if (trial % 50 == 0) std::fill(x.begin(), x.end(), x[0]);  // constant group
      const auto [lo, hi] = std::minmax_element(x.begin(), x.end());
      const Affine a = affine_params(*lo, *hi, bits);
      const float scale = half_to_float(a.scale), zero = half_to_float(a.zero);
      CHECK(zero <= *lo);
      CHECK(double(zero) + double(levels) * scale >= double(*hi) - 1e-6 * std::abs(*hi));
      for (float e : x) {
        const int code = affine_code(e, scale, zero, levels);
        CHECK(code >= 0);
        CHECK(code <= levels);
        const double err = std::abs(double(code) * scale + zero - e);
        CHECK(err <= 0.5 * scale * (1 + 1e-6) + 1e-7 * std::abs(e));
      }
    }
  }
  // Packing round trip.
  std::vector<uint8_t> codes(37), packed(cache_detail::packed_bytes(37, 2));
  for (size_t i = 0; i < codes.size(); ++i) codes[i] = uint8_t((i * 7) % 4);
  cache_detail::pack_codes(codes.data(), 37, 2, packed.data());
  CHECK(packed.size() == 10);
  for (int i = 0; i < 37; ++i) CHECK(cache_detail::unpack_code(packed.data(), i, 2) == codes[i]);
}

TEST_CASE("KIVI: keys per channel in token groups, values per token, residual kept exact") {
  const CacheShape shape{2, 4, 2, 64};
  for (int bits : {2, 4}) {
    CAPTURE(bits);
    KiviOptions o;
    o.bits = bits;
    o.group = 32;
    o.residual = 40;
    KiviCache cache(shape, o);
    std::mt19937 rng(2 + bits);
    std::vector<KvHistory> fed(2, KvHistory(2));
    int64_t len = 0;
    for (int n : {100, 1, 1, 30, 1, 1, 1, 50}) {
      len += n;
      for (int l = 0; l < 2; ++l) {
        std::vector<float> k = gaussian(size_t(n) * 2 * 64, rng), v = gaussian(k.size(), rng);
        for (size_t i = 0; i < k.size(); ++i) k[i] *= 1.0f + float(i % 64) / 8.0f;  // channel scales, like keys
        const std::vector<float> q = gaussian(size_t(n) * 4 * 64, rng, 0.2f);
        std::vector<float> out(q.size());
        cache.append(l, k.data(), v.data(), n);
        fed[l].add(shape, k.data(), v.data(), n, true);
        // Attention uses exactly the keys and values held when it runs (the
        // step's tokens still exact), causally.
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

        // Residual policy.
        const int64_t qk = cache.quantized_keys(l), qv = cache.quantized_values(l);
        CHECK(qk % 32 == 0);
        CHECK(len - qk >= std::min<int64_t>(len, 40));
        CHECK(len - qk < 40 + 32);
        CHECK(qv == std::max<int64_t>(len - 40, 0));
        CHECK(cache.length(l) == len);

        // Error bounds: per key group and channel, per value token and channel group.
        for (int g = 0; g < 2; ++g) {
          double excess = 0;  // max over elements of error − bound
          const std::vector<float>& xk = fed[l].keys[g];
          const std::vector<float>& xv = fed[l].values[g];
          for (int64_t t0 = 0; t0 < qk; t0 += 32)
            for (int c = 0; c < 64; ++c) {
              double lo = 1e30, hi = -1e30;
              for (int64_t t = t0; t < t0 + 32; ++t) {
                lo = std::min<double>(lo, xk[t * 64 + c]);
                hi = std::max<double>(hi, xk[t * 64 + c]);
              }
              for (int64_t t = t0; t < t0 + 32; ++t)
                excess = std::max(excess, std::abs(double(seen.keys[g][t * 64 + c]) - xk[t * 64 + c]) -
                                              step_bound(lo, hi, bits));
            }
          for (int64_t t = 0; t < qv; ++t)
            for (int c0 = 0; c0 < 64; c0 += 32) {
              const auto [lo, hi] = std::minmax_element(&xv[t * 64 + c0], &xv[t * 64 + c0 + 32]);
              for (int c = c0; c < c0 + 32; ++c)
                excess = std::max(excess, std::abs(double(seen.values[g][t * 64 + c]) - xv[t * 64 + c]) -
                                              step_bound(*lo, *hi, bits));
            }
          for (int64_t t = qk; t < len; ++t)
            for (int c = 0; c < 64; ++c) excess = std::max<double>(excess, std::abs(seen.keys[g][t * 64 + c] - xk[t * 64 + c]));
          for (int64_t t = qv; t < len; ++t)
            for (int c = 0; c < 64; ++c) excess = std::max<double>(excess, std::abs(seen.values[g][t * 64 + c] - xv[t * 64 + c]));
          CHECK(excess <= 0.0);  // every element within its bound; the residual exact
        }
      }
    }
    // bytes by hand: 185 positions; keys: 4 groups of 32 quantized (185 − 128 = 57 ≥ 40),
    // values: 145 quantized, 40 residual.
    CHECK(cache.quantized_keys(0) == 128);
    CHECK(cache.quantized_values(0) == 145);
    const size_t key_group = 64 * (32 * bits / 8) + 64 * 2 * 2;   // codes + FP16 scale and min per channel
    const size_t value_token = 64 * bits / 8 + 2 * 2 * 2;         // codes + 2 channel groups × (scale, min)
    const size_t residual = (57 + 40) * 64 * 2;                   // key and value rows, FP16
    const size_t per_head = 4 * key_group + 145 * value_token + residual;
    CHECK(cache.bytes() == 2 * 2 * per_head);
    CHECK(cache.payload_bytes() == cache.bytes());
    CHECK(cache.fp16_bytes() == size_t(2 * 2 * 185 * 64 * 2 * 2));
  }
}

TEST_CASE("KIVI attention is close to the full cache, 4-bit closer than 2-bit") {
  const CacheShape shape{1, 8, 2, 64};
  double err[2] = {0, 0};
  for (int i = 0; i < 2; ++i) {
    KiviOptions o;
    o.bits = i == 0 ? 2 : 4;
    o.residual = 32;
    KiviCache kivi(shape, o);
    FullCache full(shape);
    std::mt19937 rng(7);  // same data for both
    for (int n : {300, 1, 1, 1}) {
      const std::vector<float> k = gaussian(size_t(n) * 2 * 64, rng), v = gaussian(k.size(), rng);
      const std::vector<float> q = gaussian(size_t(n) * 8 * 64, rng, 1.0f);
      std::vector<float> a(q.size()), b(q.size());
      kivi.append(0, k.data(), v.data(), n);
      kivi.attend(0, q.data(), n, a.data());
      full.append(0, k.data(), v.data(), n);
      full.attend(0, q.data(), n, b.data());
      if (n == 1) err[i] = std::max(err[i], relative_error(a, b));
    }
  }
  INFO("relative error kivi2 " << err[0] << ", kivi4 " << err[1]);
  // Gaussian keys have none of the channel outliers KIVI exploits, and the
  // attention here is sharp: errors are sizeable, but 4-bit steps are 5× finer.
  CHECK(err[1] < 0.3 * err[0]);
  CHECK(err[1] < 0.15);
  CHECK(err[0] < 0.9);
  CHECK(err[1] > 0.0);
}

TEST_CASE("KIVI rejects bad options") {
  const CacheShape shape{1, 2, 1, 64};
  CHECK_THROWS_AS(KiviCache(shape, {3, 32, 128}), Error);
  CHECK_THROWS_AS(KiviCache(shape, {2, 0, 128}), Error);
  CHECK_THROWS_AS(KiviCache(shape, {2, 32, -1}), Error);
  CHECK(KiviCache(shape, {4, 16, 64}).name() == "kivi4:group=16,residual=64");
}
