#include "lexico/cache_factory.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "cache/cache_util.h"
#include "lexico/error.h"
#include "lexico/full_cache.h"
#include "lexico/kivi_cache.h"
#include "lexico/token_quant_cache.h"
#include "lexico/window_cache.h"

namespace lexico {

using cache_detail::SpecOptions;

CacheSpec split_cache_spec(const std::string& spec) {
  const size_t colon = spec.find(':');
  if (colon == std::string::npos) return {spec, ""};
  return {spec.substr(0, colon), spec.substr(colon + 1)};
}

const std::vector<std::string>& cache_names() {
  static const std::vector<std::string> names = {"full", "full32", "full16", "lexico", "kivi2",
                                                 "kivi4", "int8",   "int4",   "window"};
  return names;
}

std::string cache_spec_usage() {
  return "full | full32                          FP32, exact\n"
         "full16                                 FP16, exact\n"
         "lexico[:s=S,delta=D,buffer=B,refit]    sparse codes over a dictionary (s 16, delta 0, buffer 128)\n"
         "kivi2 | kivi4[:group=G,residual=R]     KIVI 2/4-bit (group 32, residual 128)\n"
         "int8 | int4[:asym,residual=R]          per-token integer (symmetric, residual 0)\n"
         "window:W[,sink=S]                      sliding window of W tokens plus S sink tokens\n";
}

bool cache_needs_dictionary(const std::string& spec) { return split_cache_spec(spec).name == "lexico"; }

namespace {

[[noreturn]] void unknown(const std::string& spec, const std::string& name) {
  usage_error("cache spec '" + spec + "'", "unknown cache '{}' (known: {})", name, fmt::join(cache_names(), ", "));
}

LexicoOptions lexico_options(SpecOptions& opts) {
  LexicoOptions o;
  o.sparsity = opts.get_int("s", o.sparsity, 1, kMaxAtoms);
  o.tolerance = float(opts.get_double("delta", 0.0, 0.0, 1.0, true));
  o.buffer = opts.get_int("buffer", o.buffer, 0, 1 << 30);
  o.fp8_refit = opts.get_flag("refit", false);
  opts.finish("s, delta, buffer, refit");
  return o;
}

std::unique_ptr<KvCache> build(const std::string& spec, const CacheShape& shape, const Dictionary* dictionary,
                               std::shared_ptr<const LexicoDictionaries> shared) {
  const CacheSpec parts = split_cache_spec(spec);
  const std::string& name = parts.name;
  const std::string where = "cache spec '" + spec + "'";
  SpecOptions opts(where, parts.options);
  if (name == "full" || name == "full32" || name == "full16") {
    opts.finish("");
    return std::make_unique<FullCache>(shape, name == "full16" ? FullCache::Storage::F16 : FullCache::Storage::F32);
  }
  if (name == "lexico") {
    const LexicoOptions o = lexico_options(opts);
    if (!shared) {
      if (!dictionary) usage_error(where, "the lexico cache needs a dictionary (--dictionary)");
      shared = std::make_shared<const LexicoDictionaries>(*dictionary, shape);
    }
    return std::make_unique<LexicoCache>(shape, std::move(shared), o);
  }
  if (name == "kivi2" || name == "kivi4") {
    KiviOptions o;
    o.bits = name == "kivi2" ? 2 : 4;
    o.group = opts.get_int("group", o.group, 1, 1 << 20);
    o.residual = opts.get_int("residual", o.residual, 0, 1 << 30);
    opts.finish("group, residual");
    return std::make_unique<KiviCache>(shape, o);
  }
  if (name == "int8" || name == "int4") {
    TokenQuantOptions o;
    o.bits = name == "int8" ? 8 : 4;
    o.symmetric = !opts.get_flag("asym", false);
    o.residual = opts.get_int("residual", o.residual, 0, 1 << 30);
    opts.finish("asym, residual");
    return std::make_unique<TokenQuantCache>(shape, o);
  }
  if (name == "window") {
    WindowOptions o;
    std::string size;
    if (opts.take_positional(size)) {
      if (opts.has("size")) usage_error(where, "window size given twice");
      SpecOptions positional(where, "size=" + size);
      o.window = positional.get_int("size", 0, 1, 1 << 30);
    } else {
      if (!opts.has("size")) usage_error(where, "the window cache needs a size: window:W[,sink=S]");
      o.window = opts.get_int("size", 0, 1, 1 << 30);
    }
    o.sinks = opts.get_int("sink", 0, 0, 1 << 30);
    opts.finish("W (or size=W), sink");
    return std::make_unique<WindowCache>(shape, o);
  }
  if (name.empty()) usage_error(where, "empty cache name (known: {})", fmt::join(cache_names(), ", "));
  unknown(spec, name);
}

}  // namespace

LexicoOptions parse_lexico_spec(const std::string& spec) {
  const CacheSpec parts = split_cache_spec(spec);
  const std::string where = "cache spec '" + spec + "'";
  if (parts.name != "lexico") usage_error(where, "not a lexico cache");
  SpecOptions opts(where, parts.options);
  return lexico_options(opts);
}

std::unique_ptr<KvCache> make_cache(const std::string& spec, const CacheShape& shape, const Dictionary* dictionary) {
  return build(spec, shape, dictionary, nullptr);
}

std::unique_ptr<KvCache> make_cache(const std::string& spec, const CacheShape& shape,
                                    std::shared_ptr<const LexicoDictionaries> dictionaries) {
  return build(spec, shape, nullptr, std::move(dictionaries));
}

}  // namespace lexico
