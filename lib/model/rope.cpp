#include "lexico/rope.h"

#include <cmath>
#include <numbers>

namespace lexico {

Rope::Rope(const ModelConfig& c) {
  const int half = c.head_dim / 2;
  const RopeScaling& s = c.rope_scaling;
  for (int i = 0; i < half; ++i) {
    double f = std::pow(static_cast<double>(c.rope_theta), -2.0 * i / c.head_dim);
    if (!c.rope_freq_factors.empty()) f /= c.rope_freq_factors[i];
    if (s.type == RopeScaling::Type::Linear) f /= s.factor;
    if (s.type == RopeScaling::Type::Llama3) {
      // Llama 3.1: wavelengths longer than original/low_freq_factor are
      // stretched by `factor`, shorter than original/high_freq_factor are
      // kept, and the band between is interpolated.
      const double wavelen = 2 * std::numbers::pi / f;
      const double low_wavelen = s.original_max_positions / s.low_freq_factor;
      const double high_wavelen = s.original_max_positions / s.high_freq_factor;
      if (wavelen > low_wavelen) {
        f /= s.factor;
      } else if (wavelen >= high_wavelen) {
        const double smooth =
            (s.original_max_positions / wavelen - s.low_freq_factor) / (s.high_freq_factor - s.low_freq_factor);
        f = (1 - smooth) * f / s.factor + smooth * f;
      }
    }
    inv_freq_.push_back(f);
  }
}

RopeAngles Rope::angles(int64_t pos0, int n_tokens) const {
  RopeAngles a;
  a.n_tokens = n_tokens;
  a.half = static_cast<int>(inv_freq_.size());
  a.cos.resize(static_cast<size_t>(n_tokens) * a.half);
  a.sin.resize(a.cos.size());
  for (int t = 0; t < n_tokens; ++t)
    for (int i = 0; i < a.half; ++i) {
      const double angle = static_cast<double>(pos0 + t) * inv_freq_[i];
      a.cos[static_cast<size_t>(t) * a.half + i] = static_cast<float>(std::cos(angle));
      a.sin[static_cast<size_t>(t) * a.half + i] = static_cast<float>(std::sin(angle));
    }
  return a;
}

void Rope::rotate(const RopeAngles& a, float* x, int n_heads) {
  const int half = a.half;
  for (int t = 0; t < a.n_tokens; ++t) {
    const float* c = a.cos.data() + static_cast<size_t>(t) * half;
    const float* s = a.sin.data() + static_cast<size_t>(t) * half;
    for (int h = 0; h < n_heads; ++h) {
      float* v = x + (static_cast<size_t>(t) * n_heads + h) * 2 * half;
      for (int i = 0; i < half; ++i) {
        const float x0 = v[i], x1 = v[i + half];
        v[i] = x0 * c[i] - x1 * s[i];
        v[i + half] = x1 * c[i] + x0 * s[i];
      }
    }
  }
}

}  // namespace lexico
