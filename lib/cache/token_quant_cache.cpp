#include "lexico/token_quant_cache.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "cache/cache_util.h"
#include "lexico/error.h"
#include "lexico/half.h"

namespace lexico {

using namespace cache_detail;

namespace {

// One (layer, KV head, kind)'s quantized tokens: ⌈head_dim·bits/8⌉ bytes of
// codes each (symmetric codes stored offset by 2^(b−1)), FP16 scale, and FP16
// min when asymmetric.
struct QuantRows {
  std::vector<uint8_t> codes;
  std::vector<uint16_t> scale, zero;
  size_t bytes() const { return codes.size() + (scale.size() + zero.size()) * sizeof(uint16_t); }
};

}  // namespace

struct TokenQuantCache::Layer {
  HalfRows keys, values;  // FP16 residual [rows, n_kv_heads·head_dim]
  int64_t quantized = 0;
  std::vector<QuantRows> k, v;  // per KV head
};

TokenQuantCache::TokenQuantCache(CacheShape shape, TokenQuantOptions options) : KvCache(shape), options_(options) {
  if (shape.n_layers <= 0 || shape.n_heads <= 0 || shape.n_kv_heads <= 0 || shape.head_dim <= 0 ||
      shape.n_heads % shape.n_kv_heads != 0)
    internal_error("int cache", "bad cache shape");
  if (options_.bits != 8 && options_.bits != 4) usage_error("int cache", "bits {} is not 8 or 4", options_.bits);
  if (options_.residual < 0) usage_error("int cache", "residual {} is negative", options_.residual);
  layers_.resize(shape.n_layers);
  clear();
}

TokenQuantCache::~TokenQuantCache() = default;

std::string TokenQuantCache::name() const {
  std::string n = fmt::format("int{}", options_.bits);
  std::string opts;
  if (!options_.symmetric) opts += "asym";
  if (options_.residual > 0) opts += fmt::format("{}residual={}", opts.empty() ? "" : ",", options_.residual);
  return opts.empty() ? n : n + ":" + opts;
}

void TokenQuantCache::clear() {
  for (Layer& l : layers_) {
    l.keys = HalfRows(shape_.n_kv_heads * shape_.head_dim);
    l.values = HalfRows(shape_.n_kv_heads * shape_.head_dim);
    l.quantized = 0;
    l.k.assign(shape_.n_kv_heads, QuantRows{});
    l.v.assign(shape_.n_kv_heads, QuantRows{});
  }
}

int64_t TokenQuantCache::length(int layer) const {
  const Layer& l = layers_.at(layer);
  return l.quantized + l.keys.size();
}
int64_t TokenQuantCache::quantized_length(int layer) const { return layers_.at(layer).quantized; }

size_t TokenQuantCache::bytes() const {
  size_t n = 0;
  for (const Layer& l : layers_) {
    n += l.keys.bytes() + l.values.bytes();
    for (const QuantRows& r : l.k) n += r.bytes();
    for (const QuantRows& r : l.v) n += r.bytes();
  }
  return n;
}

void TokenQuantCache::append(int layer, const float* k, const float* v, int n_tokens) {
  Layer& l = layers_.at(layer);
  settle(layer);
  l.keys.push(k, n_tokens);
  l.values.push(v, n_tokens);
}

void TokenQuantCache::settle(int layer) {
  Layer& l = layers_[layer];
  const int64_t n = l.keys.size() - options_.residual;
  if (n <= 0) return;
  const int nkv = shape_.n_kv_heads, hd = shape_.head_dim, bits = options_.bits;
  const int qmax = (1 << (bits - 1)) - 1, offset = 1 << (bits - 1), levels = (1 << bits) - 1;
  const size_t row_bytes = packed_bytes(hd, bits);
  std::vector<float> x(size_t(n) * nkv * hd);
  std::vector<uint8_t> codes(hd);
  for (KvKind kind : {KvKind::Keys, KvKind::Values}) {
    HalfRows& store = kind == KvKind::Keys ? l.keys : l.values;
    std::vector<QuantRows>& heads = kind == KvKind::Keys ? l.k : l.v;
    store.to_float(0, n, 0, nkv * hd, x.data());
    for (int64_t t = 0; t < n; ++t) {
      for (int g = 0; g < nkv; ++g) {
        const float* e = &x[(size_t(t) * nkv + g) * hd];
        QuantRows& r = heads[g];
        if (options_.symmetric) {
          float amax = 0.0f;
          for (int c = 0; c < hd; ++c) amax = std::max(amax, std::abs(e[c]));
          const uint16_t s16 = amax > 0.0f ? half_round_up(amax / float(qmax)) : uint16_t(0);
          const float scale = half_to_float(s16);
          for (int c = 0; c < hd; ++c) {
            const int code = scale > 0.0f ? std::clamp(int(std::lrint(e[c] / scale)), -qmax, qmax) : 0;
            codes[c] = uint8_t(code + offset);
          }
          r.scale.push_back(s16);
        } else {
          const auto [lo, hi] = std::minmax_element(e, e + hd);
          const Affine a = affine_params(*lo, *hi, bits);
          const float scale = half_to_float(a.scale), zero = half_to_float(a.zero);
          for (int c = 0; c < hd; ++c) codes[c] = uint8_t(affine_code(e[c], scale, zero, levels));
          r.scale.push_back(a.scale);
          r.zero.push_back(a.zero);
        }
        const size_t base = r.codes.size();
        r.codes.resize(base + row_bytes);
        pack_codes(codes.data(), hd, bits, r.codes.data() + base);
      }
    }
    store.pop_front(n);
  }
  l.quantized += n;
}

void TokenQuantCache::fill(const Layer& l, int g, KvKind kind, float* dst) const {
  const int hd = shape_.head_dim, bits = options_.bits, offset = 1 << (bits - 1);
  const size_t row_bytes = packed_bytes(hd, bits);
  const QuantRows& r = (kind == KvKind::Values ? l.v : l.k)[g];
  for (int64_t t = 0; t < l.quantized; ++t) {
    const uint8_t* packed = r.codes.data() + size_t(t) * row_bytes;
    const float scale = half_to_float(r.scale[t]);
    float* row = dst + size_t(t) * hd;
    if (options_.symmetric) {
      for (int c = 0; c < hd; ++c) row[c] = float(unpack_code(packed, c, bits) - offset) * scale;
    } else {
      const float zero = half_to_float(r.zero[t]);
      for (int c = 0; c < hd; ++c) row[c] = float(unpack_code(packed, c, bits)) * scale + zero;
    }
  }
  const HalfRows& store = kind == KvKind::Values ? l.values : l.keys;
  store.to_float(0, store.size(), g * hd, hd, dst + size_t(l.quantized) * hd);
}

std::vector<float> TokenQuantCache::dequantized(int layer, int kv_head, KvKind kind) const {
  const Layer& l = layers_.at(layer);
  if (kv_head < 0 || kv_head >= shape_.n_kv_heads) internal_error(name(), "no KV head {}", kv_head);
  std::vector<float> out(size_t(length(layer)) * shape_.head_dim);
  fill(l, kv_head, kind == KvKind::Values ? KvKind::Values : KvKind::Keys, out.data());
  return out;
}

float TokenQuantCache::scale(int layer, int kv_head, KvKind kind, int64_t token) const {
  const Layer& l = layers_.at(layer);
  const QuantRows& r = (kind == KvKind::Values ? l.v : l.k).at(kv_head);
  return half_to_float(r.scale.at(token));
}

void TokenQuantCache::attend(int layer, const float* q, int n_tokens, float* out) {
  const Layer& l = layers_.at(layer);
  const int64_t len = length(layer);
  if (n_tokens < 1 || n_tokens > l.keys.size())
    internal_error(name(), "attend over {} queries but layer {} holds {} new positions", n_tokens, layer,
                   l.keys.size());
  Visibility vis;
  vis.hi0 = len - n_tokens + 1;
  attend_heads({shape_.n_heads, shape_.n_kv_heads, shape_.head_dim}, q, n_tokens, len, vis, out,
               [&](int g, float* keys, float* values) {
                 fill(l, g, KvKind::Keys, keys);
                 fill(l, g, KvKind::Values, values);
               });
  settle(layer);
}

}  // namespace lexico
