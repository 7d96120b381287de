#include "lexico/kivi_cache.h"

#include <algorithm>
#include <limits>

#include <fmt/format.h>

#include "cache/cache_util.h"
#include "lexico/error.h"
#include "lexico/half.h"

namespace lexico {

using namespace cache_detail;

namespace {

// One (layer, KV head)'s quantized part.
struct QuantHead {
  // Keys: per group of G tokens, per channel: ⌈G·bits/8⌉ bytes of codes
  // ([groups, head_dim, bytes]); scale and min per (group, channel).
  std::vector<uint8_t> key_codes;
  std::vector<uint16_t> key_scale, key_zero;
  // Values: per token ⌈head_dim·bits/8⌉ bytes; scale and min per (token, channel group).
  std::vector<uint8_t> value_codes;
  std::vector<uint16_t> value_scale, value_zero;
  size_t bytes() const {
    return key_codes.size() + value_codes.size() +
           (key_scale.size() + key_zero.size() + value_scale.size() + value_zero.size()) * sizeof(uint16_t);
  }
};

}  // namespace

struct KiviCache::Layer {
  HalfRows keys, values;  // residuals: [rows, n_kv_heads·head_dim], oldest first
  int64_t quantized_keys = 0, quantized_values = 0;
  std::vector<QuantHead> heads;
};

KiviCache::KiviCache(CacheShape shape, KiviOptions options) : KvCache(shape), options_(options) {
  if (shape.n_layers <= 0 || shape.n_heads <= 0 || shape.n_kv_heads <= 0 || shape.head_dim <= 0 ||
      shape.n_heads % shape.n_kv_heads != 0)
    internal_error("kivi cache", "bad cache shape");
  if (options_.bits != 2 && options_.bits != 4) usage_error("kivi cache", "bits {} is not 2 or 4", options_.bits);
  if (options_.group < 1) usage_error("kivi cache", "group {} is not positive", options_.group);
  if (options_.residual < 0) usage_error("kivi cache", "residual {} is negative", options_.residual);
  layers_.resize(shape.n_layers);
  clear();
}

KiviCache::~KiviCache() = default;

std::string KiviCache::name() const {
  return fmt::format("kivi{}:group={},residual={}", options_.bits, options_.group, options_.residual);
}

void KiviCache::clear() {
  for (Layer& l : layers_) {
    l.keys = HalfRows(shape_.n_kv_heads * shape_.head_dim);
    l.values = HalfRows(shape_.n_kv_heads * shape_.head_dim);
    l.quantized_keys = l.quantized_values = 0;
    l.heads.assign(shape_.n_kv_heads, QuantHead{});
  }
}

int64_t KiviCache::length(int layer) const {
  const Layer& l = layers_.at(layer);
  return l.quantized_keys + l.keys.size();
}
int64_t KiviCache::quantized_keys(int layer) const { return layers_.at(layer).quantized_keys; }
int64_t KiviCache::quantized_values(int layer) const { return layers_.at(layer).quantized_values; }

size_t KiviCache::bytes() const {
  size_t n = 0;
  for (const Layer& l : layers_) {
    n += l.keys.bytes() + l.values.bytes();
    for (const QuantHead& h : l.heads) n += h.bytes();
  }
  return n;
}

void KiviCache::append(int layer, const float* k, const float* v, int n_tokens) {
  Layer& l = layers_.at(layer);
  settle(layer);
  l.keys.push(k, n_tokens);
  l.values.push(v, n_tokens);
}

void KiviCache::settle(int layer) {
  Layer& l = layers_[layer];
  const int nkv = shape_.n_kv_heads, hd = shape_.head_dim, bits = options_.bits, G = options_.group,
            R = options_.residual, levels = (1 << bits) - 1;
  std::vector<float> x;
  std::vector<uint8_t> codes;

  // Keys: whole groups of G tokens, while at least R would stay.
  const int64_t key_groups = std::max<int64_t>(0, (l.keys.size() - R) / G);
  if (key_groups > 0) {
    const size_t group_bytes = packed_bytes(G, bits);
    x.resize(size_t(G) * nkv * hd);
    codes.resize(G);
    for (int64_t grp = 0; grp < key_groups; ++grp) {
      l.keys.to_float(grp * G, (grp + 1) * G, 0, nkv * hd, x.data());  // [G, nkv·hd]
      for (int g = 0; g < nkv; ++g) {
        QuantHead& h = l.heads[g];
        const size_t base = h.key_codes.size();
        h.key_codes.resize(base + size_t(hd) * group_bytes);
        for (int c = 0; c < hd; ++c) {
          float lo = std::numeric_limits<float>::infinity(), hi = -lo;
          for (int t = 0; t < G; ++t) {
            const float e = x[(size_t(t) * nkv + g) * hd + c];
            lo = std::min(lo, e);
            hi = std::max(hi, e);
          }
          const Affine a = affine_params(lo, hi, bits);
          const float scale = half_to_float(a.scale), zero = half_to_float(a.zero);
          for (int t = 0; t < G; ++t) codes[t] = uint8_t(affine_code(x[(size_t(t) * nkv + g) * hd + c], scale, zero, levels));
          pack_codes(codes.data(), G, bits, h.key_codes.data() + base + size_t(c) * group_bytes);
          h.key_scale.push_back(a.scale);
          h.key_zero.push_back(a.zero);
        }
      }
    }
    l.keys.pop_front(key_groups * G);
    l.quantized_keys += key_groups * G;
  }

  // Values: every token beyond the newest R, per token in channel groups.
  const int64_t n = l.values.size() - R;
  if (n > 0) {
    const size_t token_bytes = packed_bytes(hd, bits);
    x.resize(size_t(n) * nkv * hd);
    codes.resize(hd);
    l.values.to_float(0, n, 0, nkv * hd, x.data());
    for (int64_t t = 0; t < n; ++t) {
      for (int g = 0; g < nkv; ++g) {
        QuantHead& h = l.heads[g];
        const float* e = &x[(size_t(t) * nkv + g) * hd];
        for (int c0 = 0; c0 < hd; c0 += G) {
          const int c1 = std::min(hd, c0 + G);
          const auto [lo, hi] = std::minmax_element(e + c0, e + c1);
          const Affine a = affine_params(*lo, *hi, bits);
          const float scale = half_to_float(a.scale), zero = half_to_float(a.zero);
          for (int c = c0; c < c1; ++c) codes[c] = uint8_t(affine_code(e[c], scale, zero, levels));
          h.value_scale.push_back(a.scale);
          h.value_zero.push_back(a.zero);
        }
        const size_t base = h.value_codes.size();
        h.value_codes.resize(base + token_bytes);
        pack_codes(codes.data(), hd, bits, h.value_codes.data() + base);
      }
    }
    l.values.pop_front(n);
    l.quantized_values += n;
  }
}

void KiviCache::fill(const Layer& l, int g, KvKind kind, float* dst) const {
  const int nkv = shape_.n_kv_heads, hd = shape_.head_dim, bits = options_.bits, G = options_.group;
  const QuantHead& h = l.heads[g];
  if (kind == KvKind::Values) {
    const size_t token_bytes = packed_bytes(hd, bits);
    const int n_cg = (hd + G - 1) / G;
    for (int64_t t = 0; t < l.quantized_values; ++t) {
      const uint8_t* packed = h.value_codes.data() + size_t(t) * token_bytes;
      float* row = dst + size_t(t) * hd;
      for (int c = 0; c < hd; ++c) {
        const size_t s = size_t(t) * n_cg + c / G;
        row[c] = float(unpack_code(packed, c, bits)) * half_to_float(h.value_scale[s]) + half_to_float(h.value_zero[s]);
      }
    }
    l.values.to_float(0, l.values.size(), g * hd, hd, dst + size_t(l.quantized_values) * hd);
    (void)nkv;
    return;
  }
  const size_t group_bytes = packed_bytes(G, bits);
  for (int64_t grp = 0; grp < l.quantized_keys / G; ++grp) {
    for (int c = 0; c < hd; ++c) {
      const size_t s = size_t(grp) * hd + c;
      const float scale = half_to_float(h.key_scale[s]), zero = half_to_float(h.key_zero[s]);
      const uint8_t* packed = h.key_codes.data() + s * group_bytes;
      for (int t = 0; t < G; ++t) dst[(size_t(grp) * G + t) * hd + c] = float(unpack_code(packed, t, bits)) * scale + zero;
    }
  }
  l.keys.to_float(0, l.keys.size(), g * hd, hd, dst + size_t(l.quantized_keys) * hd);
}

std::vector<float> KiviCache::dequantized(int layer, int kv_head, KvKind kind) const {
  const Layer& l = layers_.at(layer);
  if (kv_head < 0 || kv_head >= shape_.n_kv_heads) internal_error(name(), "no KV head {}", kv_head);
  std::vector<float> out(size_t(length(layer)) * shape_.head_dim);
  fill(l, kv_head, kind == KvKind::Values ? KvKind::Values : KvKind::Keys, out.data());
  return out;
}

void KiviCache::attend(int layer, const float* q, int n_tokens, float* out) {
  const Layer& l = layers_.at(layer);
  const int64_t len = length(layer);
  if (n_tokens < 1 || n_tokens > std::min(l.keys.size(), l.values.size()))
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
