// Training vectors for lexico-train: the dumps of one run (checked to come
// from one model), and the vectors of one layer and kind drawn from them,
// split into a training and a held-out validation set. Randomness comes from
// SplitMix64, whose output is fully specified (unlike the std::
// distributions), so a seed selects the same vectors on every platform.
#pragma once
#include <Eigen/Core>
#include <cstdint>
#include <string>
#include <vector>

#include "lexico/kv_dump.h"

namespace lexico {

// SplitMix64 (Steele, Lea & Flood, 2014).
class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t next();
  double uniform();            // [0, 1), 53 random bits
  uint64_t below(uint64_t n);  // [0, n) for n ≥ 1 (multiply-shift; bias < n / 2⁶⁴)

 private:
  uint64_t state_;
};

// A seed for one purpose of one run: the run's seed mixed with the words
// (layer, kind, purpose, epoch, ...). Layers get independent streams, so a
// layer trains the same whether alone or with others.
uint64_t derive_seed(uint64_t seed, std::initializer_list<uint64_t> words);

// The KV dumps of one training run, opened and checked for agreement: same
// model name, n_layers, n_kv_heads, head_dim and RoPE convention.
class DumpSet {
 public:
  explicit DumpSet(const std::vector<std::string>& paths);

  const KvDumpInfo& info() const { return dumps_.front().info(); }
  const std::vector<KvDumpReader>& dumps() const { return dumps_; }
  // Vectors per layer and kind over all dumps: Σ tokens × n_kv_heads.
  int64_t vectors_per_layer() const;
  // Throws bad_input naming the first dump that lacks one of the layers.
  void require_layers(const std::vector<int>& layers) const;
  // "a.h5" or "a.h5 (and 3 more dumps)", for messages about the whole set.
  std::string describe() const;

 private:
  std::vector<KvDumpReader> dumps_;
};

struct TrainingVectors {
  Eigen::MatrixXf train;  // m × n_train
  Eigen::MatrixXf val;    // m × n_val
};

// How many vectors a layer's training uses: min(max_vectors, available)
// (max_vectors 0 = all), of which round(val_fraction · n), at least 1, are
// held out for validation.
struct SplitSizes {
  int64_t train = 0, val = 0;
};
SplitSizes split_sizes(int64_t available, int64_t max_vectors, double val_fraction);

// Reads one layer's keys or values from every dump (in order; each token's
// heads in order), keeps a uniform random sample of the sizes above and
// splits it, streaming so that only the kept vectors are held in memory.
TrainingVectors load_training_vectors(const DumpSet& dumps, int layer, KvKind kind, int64_t max_vectors,
                                      double val_fraction, uint64_t seed);

}  // namespace lexico
