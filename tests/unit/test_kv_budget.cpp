#include <doctest/doctest.h>

#include <random>
#include <string>
#include <vector>

#include "lexico/cache_factory.h"
#include "lexico/error.h"
#include "lexico/kv_budget.h"
#include "lexico/lexico_cache.h"
#include "test_cache_helpers.h"

using namespace lexico;
using namespace lexico::test;

TEST_CASE("kv-budget picks the largest s within the budget") {
  // m = 128, L = 1024, n_b = 128: percent(s) = (896·3s + 128·256) / (1024·256).
  CHECK(lexico_payload_percent(128, 12, true, 128, 1024) == doctest::Approx(100.0 * (896 * 36 + 32768) / 262144));
  LexicoBudget b = lexico_budget(128, 4096, 128, true, 1024, 25.0);
  CHECK(b.sparsity == 12);  // 24.8%; s = 13 gives 25.8%
  CHECK(b.percent == doctest::Approx(24.80469).epsilon(1e-5));
  // CSR (δ > 0): 3s + 2 bytes per vector.
  CHECK(lexico_budget(128, 4096, 128, false, 1024, 25.0).sparsity == 11);  // (896·35 + 32768)/262144 = 24.46%
  // Exactly on the boundary.
  CHECK(lexico_budget(128, 4096, 0, true, 1000, 100.0 * 3 * 16 / 256).sparsity == 16);
  // Capped by min(m, N).
  CHECK(lexico_budget(64, 32, 0, true, 100, 500.0).sparsity == 32);
  CHECK(lexico_budget(64, 4096, 0, true, 100, 500.0).sparsity == 64);

  // Below what any s reaches.
  try {
    lexico_budget(128, 4096, 128, true, 1024, 3.0);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Usage);
    CHECK(std::string(e.what()).find("budget 3% is below what any s can reach at length 1024: minimum is 13.53%") !=
          std::string::npos);
  }
  CHECK_THROWS_AS(lexico_budget(128, 4096, 128, true, 100, 50.0), Error);  // everything buffered: 100%
  CHECK(lexico_budget(128, 4096, 128, true, 100, 100.0).sparsity == 128);
  CHECK_THROWS_AS(lexico_budget(128, 4096, 128, true, 1024, 0.0), Error);
}

TEST_CASE("kv-budget agrees with the bytes a LexicoCache reports") {
  const CacheShape shape{1, 4, 2, 16};
  const Dictionary dict = random_dictionary(1, 16, 40, 5);
  const int64_t L = 60;
  const std::string spec = apply_kv_budget("lexico:buffer=10", shape, 40, L, 45.0);
  // percent(s) = (50·3s + 10·32) / (60·32): s = 3 gives 40.1%, s = 4 gives 47.9%.
  CHECK(spec == "lexico:s=3,buffer=10");
  auto cache = make_cache(spec, shape, &dict);
  std::mt19937 rng(6);
  for (int n : {50, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}) {
    const std::vector<float> k = gaussian(size_t(n) * 32, rng), v = gaussian(k.size(), rng);
    const std::vector<float> q = gaussian(size_t(n) * 64, rng);
    std::vector<float> out(q.size());
    cache->append(0, k.data(), v.data(), n);
    cache->attend(0, q.data(), n, out.data());
  }
  CHECK(cache->length(0) == L);
  const double measured = 100.0 * double(cache->payload_bytes()) / double(cache->fp16_bytes());
  CHECK(measured == doctest::Approx(lexico_payload_percent(16, 3, true, 10, L)));
  CHECK(measured <= 45.0);
  CHECK(cache->bytes() > cache->payload_bytes());  // dictionaries are held too

  // (872·(3s + 2) + 128·32) / (1000·32) ≤ 50%: s = 3.
  CHECK(apply_kv_budget("lexico:delta=0.1,refit", shape, 40, 1000, 50.0) == "lexico:s=3,delta=0.1,buffer=128,refit");
}

TEST_CASE("kv-budget for window caches, and errors") {
  const CacheShape shape{1, 4, 2, 16};
  CHECK(apply_kv_budget("window", shape, 0, 1000, 25.0) == "window:250");
  CHECK(apply_kv_budget("window:sink=4", shape, 0, 1000, 25.0) == "window:246,sink=4");
  CHECK_THROWS_AS(apply_kv_budget("window:sink=4", shape, 0, 100, 4.0), Error);
  CHECK_THROWS_AS(apply_kv_budget("window:64", shape, 0, 1000, 25.0), Error);
  CHECK_THROWS_AS(apply_kv_budget("lexico:s=4", shape, 40, 1000, 25.0), Error);
  CHECK_THROWS_AS(apply_kv_budget("kivi2", shape, 0, 1000, 25.0), Error);
  try {
    apply_kv_budget("nope", shape, 0, 1000, 25.0);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Usage);
    CHECK(std::string(e.what()).find("unknown cache 'nope'") != std::string::npos);
  }
}
