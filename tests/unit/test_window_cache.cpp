#include <doctest/doctest.h>

#include <random>
#include <vector>

#include "lexico/error.h"
#include "lexico/full_cache.h"
#include "lexico/window_cache.h"
#include "test_cache_helpers.h"

using namespace lexico;
using namespace lexico::test;

TEST_CASE("window cache equals the FP16 full cache when the window covers everything") {
  const CacheShape shape{2, 4, 2, 16};
  WindowCache window(shape, {64, 0});
  FullCache full(shape, FullCache::Storage::F16);
  std::mt19937 rng(1);
  for (int n : {30, 1, 1, 20, 1}) {
    for (int l = 0; l < 2; ++l) {
      const std::vector<float> k = gaussian(size_t(n) * 2 * 16, rng), v = gaussian(k.size(), rng);
      const std::vector<float> q = gaussian(size_t(n) * 4 * 16, rng);
      std::vector<float> a(q.size()), b(q.size());
      window.append(l, k.data(), v.data(), n);
      window.attend(l, q.data(), n, a.data());
      full.append(l, k.data(), v.data(), n);
      full.attend(l, q.data(), n, b.data());
      CHECK(max_abs_diff(a, b) <= 1e-5 * (1.0 + max_abs(b)));
    }
  }
  CHECK(window.bytes() == full.bytes());
  CHECK(window.length(1) == 53);
}

TEST_CASE("window cache: each query attends to its last W positions and the sinks") {
  const CacheShape shape{1, 4, 2, 16};
  for (int sinks : {0, 3}) {
    CAPTURE(sinks);
    const int W = 8;
    auto visible = [&](int64_t p, int64_t P) { return p <= P && (p > P - W || p < sinks); };
    WindowCache chunked(shape, {W, sinks}), single(shape, {W, sinks});
    KvHistory fed(2);
    std::mt19937 rng(2 + sinks);
    int64_t len = 0;
    for (int n : {2, 20, 1, 1, 5, 1}) {
      const std::vector<float> k = gaussian(size_t(n) * 2 * 16, rng), v = gaussian(k.size(), rng);
      const std::vector<float> q = gaussian(size_t(n) * 4 * 16, rng);
      std::vector<float> a(q.size()), b(q.size());
      chunked.append(0, k.data(), v.data(), n);
      chunked.attend(0, q.data(), n, a.data());
      // The same tokens one at a time give the same outputs.
      for (int t = 0; t < n; ++t) {
        single.append(0, k.data() + t * 32, v.data() + t * 32, 1);
        single.attend(0, q.data() + t * 64, 1, b.data() + t * 64);
      }
      fed.add(shape, k.data(), v.data(), n, true);
      len += n;
      const std::vector<float> ref = reference_attention(shape, fed, q.data(), n, visible);
      CHECK(max_abs_diff(a, ref) <= 1e-5 * (1.0 + max_abs(ref)));
      CHECK(max_abs_diff(b, ref) <= 1e-5 * (1.0 + max_abs(ref)));
      // Held between steps: the sinks and the newest W.
      CHECK(chunked.held(0) == std::min<int64_t>(len, sinks + W));
      CHECK(chunked.length(0) == len);
      CHECK(chunked.bytes() == size_t(chunked.held(0)) * 2 * 16 * 2 * 2);
    }
  }
}

TEST_CASE("window cache rejects bad options") {
  const CacheShape shape{1, 2, 1, 16};
  CHECK_THROWS_AS(WindowCache(shape, {0, 0}), Error);
  CHECK_THROWS_AS(WindowCache(shape, {4, -1}), Error);
  CHECK(WindowCache(shape, {256, 4}).name() == "window:256,sink=4");
}
