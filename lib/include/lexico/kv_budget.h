// --kv-budget P: pick the cache size that holds the cache at P% of the FP16
// cache for a sequence of L positions, with the byte counts the caches report
// (payload_bytes(): dictionaries excluded, as they are shared).
//
// Lexico, between steps at length L: min(L, n_b) buffered tokens in FP16
// (2m bytes a vector) and max(L − n_b, 0) compressed, 3s bytes a vector in
// the fixed-s layout (δ = 0) and at most 3s + 2 in CSR (δ > 0, s the cap):
//   percent(s) = 100 · (T_c·bytes(s) + T_b·2m) / (L·2m)
// Layers and heads cancel. The budget picks the largest s ≤ min(m, N) with
// percent(s) ≤ P; when even s = 1 exceeds P it is a usage error that names
// the minimum. Window: the S sinks and W recent tokens held, so
// W = ⌊P·L/100⌋ − S.
#pragma once
#include <cstdint>
#include <string>

#include "lexico/kv_cache.h"

namespace lexico {

// Payload of a LexicoCache at `length` positions as a percentage of FP16.
double lexico_payload_percent(int head_dim, int sparsity, bool fixed_layout, int buffer, int64_t length);

struct LexicoBudget {
  int sparsity = 0;
  double percent = 0;  // lexico_payload_percent at that sparsity
};
// Largest s in 1..min(head_dim, n_atoms) within `percent`; usage_error when
// none is (the message gives the minimum reachable percentage).
LexicoBudget lexico_budget(int head_dim, int n_atoms, int buffer, bool fixed_layout, int64_t length, double percent);

// Returns `spec` with its size set for the budget: lexico gets s (keeping
// delta, buffer, refit), window gets W (keeping sink). A spec that already
// sets s or W, or names a cache of fixed size (full, kivi, int), is a usage
// error. n_atoms is the dictionary's N (ignored for window).
std::string apply_kv_budget(const std::string& spec, const CacheShape& shape, int n_atoms, int64_t length,
                            double percent);

}  // namespace lexico
