// A model of a given shape with random weights, and what runs on it (random
// dictionaries, token streams): for benchmarks and tests at real shapes where
// the real weights are not at hand (the GPU machine cannot receive the 94 MB
// default model). Linear layers are N(0, 1/in) so activations keep their
// scale through the layers; norms are near 1.
#pragma once
#include <cstdint>
#include <vector>

#include "lexico/dictionary.h"
#include "lexico/model.h"

namespace lexico {

// config must be valid (ModelConfig::validate); biases when config.qkv_bias,
// a separate output matrix unless config.tied_embeddings.
Model synthetic_model(const ModelConfig& config, uint32_t seed);

// Random unit-norm key and value dictionaries of n_atoms for every layer.
Dictionary synthetic_dictionary(const CacheShape& shape, int n_atoms, uint32_t seed);

// n token ids drawn uniformly from [0, vocab).
std::vector<int> synthetic_tokens(int n, int vocab, uint32_t seed);

}  // namespace lexico
