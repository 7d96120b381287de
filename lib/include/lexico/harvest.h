// Harvesting: running a model over a corpus and recording, per layer, the keys
// (after RoPE, as attention sees them; optionally before too) and values of
// every token into a KV dump. The corpus is tokenized into one stream and cut
// into windows of ctx tokens, each run from position 0 with a fresh cache.
// Windows are the unit of sharding and of resuming: window w belongs to shard
// w mod n, and a resumed run skips the windows its partial file records.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "lexico/model.h"

namespace lexico {

class Progress;

struct HarvestOptions {
  int ctx = 512;                // tokens per window
  int64_t max_tokens = -1;      // stop the stream here (before sharding); -1 = all
  std::vector<int> layers;      // layers to record; empty = all
  bool fp16 = true;             // storage type
  bool prerope = false;         // also record keys before RoPE
  double sample = 1.0;          // fraction of tokens kept (seeded per window)
  uint64_t seed = 1;
  int shard = 0, n_shards = 1;  // this job's shard
};

// The windows of the token stream that belong to this shard, in order.
std::vector<std::vector<int32_t>> harvest_windows(const std::vector<int32_t>& stream, const HarvestOptions& options);

// Writes `output` (atomically at the end). Progress is kept in
// "<output>.partial"; with resume, a partial file made with the same settings
// is continued where it stopped, and the result equals an uninterrupted run.
// Returns the number of tokens written.
int64_t harvest(const Model& model, const std::string& model_name, const std::vector<std::vector<int32_t>>& windows,
                const HarvestOptions& options, const std::string& output, bool resume, Progress* progress);

// The same over any forward pass (the GPU model's): run(window, observer)
// feeds one window from position 0 into a fresh full cache, reporting every
// layer's keys and values to the observer. config is the model's.
using WindowRun = std::function<void(std::span<const int> window, const KvObserver& observer)>;
int64_t harvest(const WindowRun& run, const ModelConfig& config, const std::string& model_name,
                const std::vector<std::vector<int32_t>>& windows, const HarvestOptions& options,
                const std::string& output, bool resume, Progress* progress);

}  // namespace lexico
