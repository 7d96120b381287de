// Helpers for the KV cache tests: random data, FP16 rounding, and a plain
// double-precision reference attention with an arbitrary visibility rule.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <random>
#include <vector>

#include <Eigen/Core>

#include "lexico/dictionary.h"
#include "lexico/half.h"
#include "lexico/kv_cache.h"

namespace lexico::test {

inline std::vector<float> gaussian(size_t n, std::mt19937& rng, float sigma = 1.0f) {
  std::normal_distribution<float> normal(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

inline float fp16_round(float x) { return half_to_float(float_to_half(x)); }

// The history of one layer's keys and values as the test fed them:
// per KV head, [positions, head_dim].
struct KvHistory {
  std::vector<std::vector<float>> keys, values;
  explicit KvHistory(int n_kv_heads = 0) : keys(n_kv_heads), values(n_kv_heads) {}
  void add(const CacheShape& s, const float* k, const float* v, int n, bool round_fp16) {
    for (int t = 0; t < n; ++t)
      for (int g = 0; g < s.n_kv_heads; ++g)
        for (int i = 0; i < s.head_dim; ++i) {
          const size_t at = (size_t(t) * s.n_kv_heads + g) * s.head_dim + i;
          keys[g].push_back(round_fp16 ? fp16_round(k[at]) : k[at]);
          values[g].push_back(round_fp16 ? fp16_round(v[at]) : v[at]);
        }
  }
  int64_t length(const CacheShape& s) const { return keys.empty() ? 0 : int64_t(keys[0].size()) / s.head_dim; }
};

// Attention of the last n queries (q: [n, n_heads, head_dim]) over the
// history, in double; query at position P sees position p iff visible(p, P).
inline std::vector<float> reference_attention(const CacheShape& s, const KvHistory& h, const float* q, int n,
                                              const std::function<bool(int64_t, int64_t)>& visible) {
  const int64_t len = h.length(s);
  const int group = s.n_heads / s.n_kv_heads, hd = s.head_dim;
  const double scale = 1.0 / std::sqrt(double(hd));
  std::vector<float> out(size_t(n) * s.n_heads * hd);
  std::vector<double> w(len);
  for (int i = 0; i < n; ++i) {
    const int64_t P = len - n + i;
    for (int head = 0; head < s.n_heads; ++head) {
      const int g = head / group;
      const float* qi = q + (size_t(i) * s.n_heads + head) * hd;
      double m = -1e300;
      for (int64_t p = 0; p < len; ++p) {
        if (!visible(p, P)) continue;
        double dot = 0;
        for (int c = 0; c < hd; ++c) dot += double(qi[c]) * h.keys[g][size_t(p) * hd + c];
        w[p] = dot * scale;
        m = std::max(m, w[p]);
      }
      double sum = 0;
      for (int64_t p = 0; p < len; ++p)
        if (visible(p, P)) sum += (w[p] = std::exp(w[p] - m));
      float* o = out.data() + (size_t(i) * s.n_heads + head) * hd;
      for (int c = 0; c < hd; ++c) {
        double acc = 0;
        for (int64_t p = 0; p < len; ++p)
          if (visible(p, P)) acc += w[p] / sum * h.values[g][size_t(p) * hd + c];
        o[c] = float(acc);
      }
    }
  }
  return out;
}

inline bool causal(int64_t p, int64_t P) { return p <= P; }

inline double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size(); ++i) d = std::max(d, std::abs(double(a[i]) - b[i]));
  return a.size() == b.size() ? d : 1e300;
}
inline double max_abs(const std::vector<float>& a) {
  double d = 0;
  for (float x : a) d = std::max(d, std::abs(double(x)));
  return d;
}

// ‖a − b‖ / ‖b‖.
inline double relative_error(const std::vector<float>& a, const std::vector<float>& b) {
  double num = 0, den = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    num += (double(a[i]) - b[i]) * (double(a[i]) - b[i]);
    den += double(b[i]) * b[i];
  }
  return std::sqrt(num / den);
}

// A dictionary of unit-norm random atoms (or the identity when n_atoms == 0).
inline Dictionary random_dictionary(int n_layers, int head_dim, int n_atoms, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  Dictionary d;
  d.model = "test-model";
  d.n_layers = n_layers;
  d.head_dim = head_dim;
  d.n_atoms = n_atoms;
  for (int l = 0; l < n_layers; ++l) {
    for (Eigen::MatrixXf* m : {&d.layers[l].keys, &d.layers[l].values}) {
      *m = Eigen::MatrixXf::NullaryExpr(head_dim, n_atoms, [&] { return normal(rng); });
      m->colwise().normalize();
    }
  }
  return d;
}

inline Dictionary identity_dictionary(int n_layers, int head_dim) {
  Dictionary d = random_dictionary(n_layers, head_dim, head_dim, 1);
  for (auto& [l, layer] : d.layers) {
    layer.keys.setIdentity();
    layer.values.setIdentity();
  }
  return d;
}

}  // namespace lexico::test
