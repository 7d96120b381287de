#include "lexico/window_cache.h"

#include <algorithm>

#include <fmt/format.h>

#include "cache/cache_util.h"
#include "lexico/error.h"

namespace lexico {

using namespace cache_detail;

struct WindowCache::Layer {
  HalfRows sinks, recent;  // [rows, 2·n_kv_heads·head_dim]: positions 0..S−1, then the newest
  int64_t total = 0;       // positions appended
};

WindowCache::WindowCache(CacheShape shape, WindowOptions options) : KvCache(shape), options_(options) {
  if (shape.n_layers <= 0 || shape.n_heads <= 0 || shape.n_kv_heads <= 0 || shape.head_dim <= 0 ||
      shape.n_heads % shape.n_kv_heads != 0)
    internal_error("window cache", "bad cache shape");
  if (options_.window < 1) usage_error("window cache", "window {} is not positive", options_.window);
  if (options_.sinks < 0) usage_error("window cache", "sink count {} is negative", options_.sinks);
  layers_.resize(shape.n_layers);
  clear();
}

WindowCache::~WindowCache() = default;

std::string WindowCache::name() const {
  return options_.sinks > 0 ? fmt::format("window:{},sink={}", options_.window, options_.sinks)
                            : fmt::format("window:{}", options_.window);
}

void WindowCache::clear() {
  for (Layer& l : layers_) {
    l.sinks = HalfRows(2 * shape_.n_kv_heads * shape_.head_dim);
    l.recent = HalfRows(2 * shape_.n_kv_heads * shape_.head_dim);
    l.total = 0;
  }
}

int64_t WindowCache::length(int layer) const { return layers_.at(layer).total; }
int64_t WindowCache::held(int layer) const {
  const Layer& l = layers_.at(layer);
  return l.sinks.size() + l.recent.size();
}

size_t WindowCache::bytes() const {
  size_t n = 0;
  for (const Layer& l : layers_) n += l.sinks.bytes() + l.recent.bytes();
  return n;
}

// A row is one position: [keys of all KV heads | values of all KV heads].
void WindowCache::append(int layer, const float* k, const float* v, int n_tokens) {
  Layer& l = layers_.at(layer);
  settle(layer);
  const int width = shape_.n_kv_heads * shape_.head_dim;
  std::vector<float> row(size_t(2) * width);
  for (int t = 0; t < n_tokens; ++t) {
    std::copy_n(k + size_t(t) * width, width, row.begin());
    std::copy_n(v + size_t(t) * width, width, row.begin() + width);
    (l.total < options_.sinks ? l.sinks : l.recent).push(row.data(), 1);
    ++l.total;
  }
}

void WindowCache::settle(int layer) {
  Layer& l = layers_[layer];
  if (l.recent.size() > options_.window) l.recent.pop_front(l.recent.size() - options_.window);
}

void WindowCache::attend(int layer, const float* q, int n_tokens, float* out) {
  const Layer& l = layers_.at(layer);
  const int64_t ns = l.sinks.size(), nr = l.recent.size(), total = l.total;
  if (n_tokens < 1 || n_tokens > std::min<int64_t>(total, ns + nr))
    internal_error(name(), "attend over {} queries but layer {} holds {} new positions", n_tokens, layer, ns + nr);
  const int hd = shape_.head_dim, width = shape_.n_kv_heads * hd;
  // Rows: the sinks (positions 0..ns−1), then the recent part (positions
  // total−nr..total−1). Query i sits at position P = total − n_tokens + i.
  Visibility vis;
  vis.n_sink = ns;
  vis.sink0 = total - n_tokens + 1;                        // sinks with position ≤ P
  vis.lo0 = ns + nr - n_tokens - options_.window + 1;      // row of position P − W + 1
  vis.lo_step = 1;
  vis.hi0 = ns + nr - n_tokens + 1;                        // row of position P, plus one
  attend_heads({shape_.n_heads, shape_.n_kv_heads, hd}, q, n_tokens, ns + nr, vis, out,
               [&](int g, float* keys, float* values) {
                 l.sinks.to_float(0, ns, g * hd, hd, keys);
                 l.recent.to_float(0, nr, g * hd, hd, keys + size_t(ns) * hd);
                 l.sinks.to_float(0, ns, width + g * hd, hd, values);
                 l.recent.to_float(0, nr, width + g * hd, hd, values + size_t(ns) * hd);
               });
  settle(layer);
}

}  // namespace lexico
