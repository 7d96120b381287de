// Builds any KV cache from one spec string, so that every comparison is one
// flag. Grammar (docs/caches.md):
//
//   spec    := name [":" option ("," option)*]
//   option  := key "=" value | key            (a bare key is a flag, or window's size)
//
//   full | full32                      FP32, exact (FullCache)
//   full16                             FP16, exact (FullCache)
//   lexico[:s=S,delta=D,buffer=B,refit]   sparse codes over the dictionary (LexicoCache)
//                                      s 1..min(head_dim, N) (default 16), delta in [0, 1)
//                                      (default 0: fixed s), buffer ≥ 0 (default 128)
//   kivi2 | kivi4 [:group=G,residual=R]   KIVI 2/4-bit (KiviCache); G default 32, R 128
//   int8 | int4 [:asym,residual=R]     per-token integer (TokenQuantCache); symmetric by default
//   window:W[,sink=S]                  sliding window of W tokens (+ S sink tokens) (WindowCache)
//
// Errors: an unknown name, option or bad value is a usage error that lists
// what is known; lexico without a dictionary is a usage error; a dictionary
// that does not fit the model (head_dim, layers) is bad input.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "lexico/dictionary.h"
#include "lexico/kv_cache.h"
#include "lexico/lexico_cache.h"

namespace lexico {

// A spec split at its first ':' (options empty when there is none).
struct CacheSpec {
  std::string name, options;
};
CacheSpec split_cache_spec(const std::string& spec);

// The names make_cache knows, and a one-line-per-name usage text.
const std::vector<std::string>& cache_names();
std::string cache_spec_usage();

// True for specs that need a dictionary (lexico).
bool cache_needs_dictionary(const std::string& spec);

// The options of a lexico spec, checked as make_cache checks them (the GPU
// cache is built from the same spec).
LexicoOptions parse_lexico_spec(const std::string& spec);

// The dictionary is only read by lexico (it builds the OMP encoders; pass the
// shared LexicoDictionaries form to build them once for many caches).
std::unique_ptr<KvCache> make_cache(const std::string& spec, const CacheShape& shape,
                                    const Dictionary* dictionary = nullptr);
std::unique_ptr<KvCache> make_cache(const std::string& spec, const CacheShape& shape,
                                    std::shared_ptr<const LexicoDictionaries> dictionaries);

}  // namespace lexico
