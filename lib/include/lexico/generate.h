// Greedy decoding: the argmax token, step by step. Deterministic, so tests and
// goldens can compare continuations token for token.
#pragma once
#include <span>
#include <vector>

#include "lexico/kv_cache.h"
#include "lexico/model.h"

namespace lexico {

// Index of the largest logit (the first one on ties).
int argmax(const float* logits, int n);

// Feeds prompt (non-empty) into an empty cache, then appends up to n_new
// argmax tokens, stopping after stop_token when it is >= 0. Returns the new
// tokens only.
std::vector<int> generate_greedy(const Model& model, KvCache& cache, std::span<const int> prompt, int n_new,
                                 int stop_token = -1);

}  // namespace lexico
