// Teacher-forced scoring of a text under a KV cache: perplexity, and the KL
// divergence and top-1 agreement of its next-token distributions against the
// full cache's. The text is cut into windows of ctx tokens, each starting
// from an empty cache; a window's first `prefill` tokens go in at once (a
// prompt, exact attention), the rest in chunks of `chunk` tokens, so caches
// compress between chunks exactly as during decoding when chunk = 1.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "lexico/kv_cache.h"
#include "lexico/model.h"
#include "lexico/sequence.h"

namespace lexico {

class Progress;

struct LmScoreOptions {
  int ctx = 512;
  int prefill = 128;
  int chunk = 1;
  int64_t max_tokens = -1;  // -1: the whole text
};

struct LmScore {
  int64_t predicted = 0;    // positions scored (all but each window's first)
  double nll = 0;           // summed negative log-likelihood, nats
  double kl = 0;            // summed KL(full ‖ cache), nats (when a reference ran)
  int64_t top1_agree = 0;   // positions whose argmax equals the reference's
  double cache_percent = 0; // cache payload at the end of the longest window (the largest if several), % of FP16
  double perplexity() const;
  double mean_kl() const { return predicted ? kl / predicted : 0; }
  double top1_agreement() const { return predicted ? double(top1_agree) / predicted : 0; }
};

using CacheMaker = std::function<std::unique_ptr<KvCache>()>;
using SequenceMaker = std::function<std::unique_ptr<Sequence>()>;

// Scores `tokens` with caches from make_cache; with make_reference also runs
// the reference cache in lockstep and fills kl and top1_agree.
LmScore score_text(const Model& model, const std::vector<int32_t>& tokens, const CacheMaker& make_cache,
                   const CacheMaker& make_reference, const LmScoreOptions& options, Progress* progress = nullptr);
// The same over sequences (a fresh one per window), on any device. max_context
// bounds --ctx (0: no bound).
LmScore score_text(const std::vector<int32_t>& tokens, const SequenceMaker& make_sequence,
                   const SequenceMaker& make_reference, int max_context, const LmScoreOptions& options,
                   Progress* progress = nullptr);

}  // namespace lexico
