#include "lexico/lm_score.h"

#include <algorithm>
#include <cmath>

#include "lexico/cli.h"
#include "lexico/error.h"

namespace lexico {

namespace {

// log-softmax of one row of logits, in double.
void log_softmax(const float* logits, int n, std::vector<double>& out) {
  out.resize(static_cast<size_t>(n));
  const float max = *std::max_element(logits, logits + n);
  double sum = 0;
  for (int i = 0; i < n; ++i) sum += std::exp(double(logits[i]) - max);
  const double log_sum = std::log(sum) + max;
  for (int i = 0; i < n; ++i) out[static_cast<size_t>(i)] = logits[i] - log_sum;
}

}  // namespace

double LmScore::perplexity() const { return predicted ? std::exp(nll / predicted) : 0; }

LmScore score_text(const Model& model, const std::vector<int32_t>& tokens, const CacheMaker& make_cache,
                   const CacheMaker& make_reference, const LmScoreOptions& o, Progress* progress) {
  const SequenceMaker sequence = [&]() -> std::unique_ptr<Sequence> {
    return std::make_unique<CacheSequence>(model, make_cache());
  };
  SequenceMaker reference;
  if (make_reference)
    reference = [&]() -> std::unique_ptr<Sequence> { return std::make_unique<CacheSequence>(model, make_reference()); };
  return score_text(tokens, sequence, reference, model.config().max_context, o, progress);
}

LmScore score_text(const std::vector<int32_t>& tokens, const SequenceMaker& make_sequence,
                   const SequenceMaker& make_reference, int max_context, const LmScoreOptions& o,
                   Progress* progress) {
  if (o.ctx < 2) usage_error("--ctx", "must be at least 2, not {}", o.ctx);
  if (o.prefill < 1 || o.prefill > o.ctx) usage_error("--prefill", "must lie in 1..ctx ({}), not {}", o.ctx, o.prefill);
  if (o.chunk < 1) usage_error("--chunk", "must be positive, not {}", o.chunk);
  if (max_context > 0 && o.ctx > max_context)
    usage_error("--ctx", "{} exceeds the model's context of {} tokens", o.ctx, max_context);
  const size_t total = o.max_tokens >= 0 ? std::min(tokens.size(), size_t(o.max_tokens)) : tokens.size();
  if (total < 2) bad_input("text", "needs at least 2 tokens to score, has {}", total);

  LmScore score;
  std::vector<double> lp, lq;
  size_t longest = 0;  // the longest window so far: its payload is the cache's KV %
  for (size_t w0 = 0; w0 + 1 < total; w0 += static_cast<size_t>(o.ctx)) {
    const size_t w1 = std::min(total, w0 + static_cast<size_t>(o.ctx));
    std::vector<int> ids(tokens.begin() + static_cast<std::ptrdiff_t>(w0), tokens.begin() + static_cast<std::ptrdiff_t>(w1));
    auto sequence = make_sequence();
    auto reference = make_reference ? make_reference() : nullptr;
    const int vocab = sequence->vocab_size();
    // Logits of position t predict token t + 1.
    for (size_t t0 = 0; t0 < ids.size();) {
      const size_t n = t0 == 0 ? std::min<size_t>(ids.size(), static_cast<size_t>(o.prefill))
                               : std::min<size_t>(ids.size() - t0, static_cast<size_t>(o.chunk));
      const std::span<const int> part(ids.data() + t0, n);
      const Matrix logits = sequence->forward(part, static_cast<int64_t>(t0), Logits::All);
      Matrix ref_logits;
      if (reference) ref_logits = reference->forward(part, static_cast<int64_t>(t0), Logits::All);
      for (size_t i = 0; i < n && t0 + i + 1 < ids.size(); ++i) {
        log_softmax(logits.row(static_cast<Eigen::Index>(i)).data(), vocab, lq);
        score.nll -= lq[static_cast<size_t>(ids[t0 + i + 1])];
        ++score.predicted;
        if (reference) {
          log_softmax(ref_logits.row(static_cast<Eigen::Index>(i)).data(), vocab, lp);
          double kl = 0;
          for (int v = 0; v < vocab; ++v) kl += std::exp(lp[static_cast<size_t>(v)]) * (lp[static_cast<size_t>(v)] - lq[static_cast<size_t>(v)]);
          score.kl += std::max(0.0, kl);
          const auto top_q = std::max_element(lq.begin(), lq.end()) - lq.begin();
          const auto top_p = std::max_element(lp.begin(), lp.end()) - lp.begin();
          score.top1_agree += top_q == top_p;
        }
      }
      t0 += n;
      if (progress) progress->add(static_cast<int64_t>(n));
    }
    // A shorter (last) window keeps more of itself in a cache's buffer: only
    // the longest windows count.
    const double percent = 100.0 * sequence->payload_bytes() / std::max<size_t>(sequence->fp16_bytes(), 1);
    if (ids.size() > longest) score.cache_percent = percent;
    else if (ids.size() == longest) score.cache_percent = std::max(score.cache_percent, percent);
    longest = std::max(longest, ids.size());
  }
  return score;
}

}  // namespace lexico
