#include "lexico/kv_budget.h"

#include <algorithm>
#include <cmath>

#include <fmt/format.h>

#include "cache/cache_util.h"
#include "lexico/cache_factory.h"
#include "lexico/error.h"

namespace lexico {

using cache_detail::SpecOptions;

double lexico_payload_percent(int head_dim, int sparsity, bool fixed_layout, int buffer, int64_t length) {
  if (length <= 0) return 0.0;
  const double fp16_vector = 2.0 * head_dim;
  const double code = 3.0 * sparsity + (fixed_layout ? 0.0 : 2.0);
  const int64_t buffered = std::min<int64_t>(length, std::max(buffer, 0));
  const int64_t compressed = length - buffered;
  return 100.0 * (double(compressed) * code + double(buffered) * fp16_vector) / (double(length) * fp16_vector);
}

LexicoBudget lexico_budget(int head_dim, int n_atoms, int buffer, bool fixed_layout, int64_t length, double percent) {
  const std::string where = "--kv-budget";
  if (!(percent > 0.0) || !std::isfinite(percent)) usage_error(where, "budget {}% is not a positive percentage", percent);
  if (length < 1) usage_error(where, "the sequence length {} is not positive", length);
  if (head_dim < 1 || n_atoms < 1) usage_error(where, "head_dim {} and {} atoms", head_dim, n_atoms);
  const int max_s = std::min(head_dim, n_atoms);
  const double minimum = lexico_payload_percent(head_dim, 1, fixed_layout, buffer, length);
  // A tiny slack so that a budget printed from an exact percentage is reachable.
  const double limit = percent * (1.0 + 1e-12);
  if (minimum > limit)
    usage_error(where,
                "budget {}% is below what any s can reach at length {}: minimum is {:.2f}% (s=1, buffer {}{})",
                percent, length, minimum, buffer, length <= buffer ? ", every token buffered" : "");
  LexicoBudget best{1, minimum};
  for (int s = 2; s <= max_s; ++s) {  // percent(s) grows with s
    const double p = lexico_payload_percent(head_dim, s, fixed_layout, buffer, length);
    if (p > limit) break;
    best = {s, p};
  }
  return best;
}

std::string apply_kv_budget(const std::string& spec, const CacheShape& shape, int n_atoms, int64_t length,
                            double percent) {
  const CacheSpec parts = split_cache_spec(spec);
  const std::string where = "cache spec '" + spec + "'";
  SpecOptions opts(where, parts.options);
  if (parts.name == "lexico") {
    if (opts.has("s")) usage_error(where, "give either s or --kv-budget, not both");
    const double delta = opts.get_double("delta", 0.0, 0.0, 1.0, true);
    const int buffer = opts.get_int("buffer", 128, 0, 1 << 30);
    const bool refit = opts.get_flag("refit", false);
    opts.finish("s, delta, buffer, refit");
    const LexicoBudget b = lexico_budget(shape.head_dim, n_atoms, buffer, delta == 0.0, length, percent);
    std::string out = fmt::format("lexico:s={}", b.sparsity);
    if (delta > 0.0) out += fmt::format(",delta={}", delta);
    out += fmt::format(",buffer={}", buffer);
    if (refit) out += ",refit";
    return out;
  }
  if (parts.name == "window") {
    std::string size;
    if (opts.take_positional(size) || opts.has("size")) usage_error(where, "give either W or --kv-budget, not both");
    const int sinks = opts.get_int("sink", 0, 0, 1 << 30);
    opts.finish("sink");
    if (!(percent > 0.0) || !std::isfinite(percent))
      usage_error("--kv-budget", "budget {}% is not a positive percentage", percent);
    if (length < 1) usage_error("--kv-budget", "the sequence length {} is not positive", length);
    const double tokens = std::floor(percent / 100.0 * double(length) * (1.0 + 1e-12));
    if (tokens - sinks < 1.0)
      usage_error("--kv-budget", "budget {}% is below what any window can reach at length {}: minimum is {:.2f}% ({} sink{} and 1 token)",
                  percent, length, 100.0 * double(sinks + 1) / double(length), sinks, sinks == 1 ? "" : "s");
    const int64_t window = std::min<int64_t>(int64_t(tokens) - sinks, 1 << 30);
    return sinks > 0 ? fmt::format("window:{},sink={}", window, sinks) : fmt::format("window:{}", window);
  }
  if (std::find(cache_names().begin(), cache_names().end(), parts.name) == cache_names().end())
    make_cache(spec, shape);  // the factory's unknown-name error
  usage_error(where, "--kv-budget sets the size of lexico (s) or window (W) caches; '{}' has a fixed size",
              parts.name);
}

}  // namespace lexico
