#include "lexico/sampler.h"

#include <algorithm>
#include <cmath>

#include "lexico/error.h"
#include "lexico/generate.h"

namespace lexico {

Sampler::Sampler(const SamplerOptions& o) : options_(o), rng_(o.seed) {
  if (!(o.temperature >= 0)) usage_error("--temperature", "must be 0 or positive, not {}", o.temperature);
  if (o.top_k < 0) usage_error("--top-k", "must be 0 (no limit) or positive, not {}", o.top_k);
  if (!(o.top_p > 0 && o.top_p <= 1)) usage_error("--top-p", "must lie in (0, 1], not {}", o.top_p);
}

int Sampler::sample(const float* logits, int n) {
  if (options_.temperature == 0) return argmax(logits, n);
  candidates_.clear();
  for (int i = 0; i < n; ++i) candidates_.emplace_back(logits[i], i);
  const auto by_logit = [](const auto& a, const auto& b) { return a.first > b.first || (a.first == b.first && a.second < b.second); };
  size_t keep = candidates_.size();
  if (options_.top_k > 0 && static_cast<size_t>(options_.top_k) < keep) {
    keep = static_cast<size_t>(options_.top_k);
    std::partial_sort(candidates_.begin(), candidates_.begin() + static_cast<std::ptrdiff_t>(keep), candidates_.end(),
                      by_logit);
  } else {
    std::sort(candidates_.begin(), candidates_.end(), by_logit);
  }
  candidates_.resize(keep);
  // Softmax at the temperature, then the smallest prefix whose mass reaches top_p.
  const float max = candidates_.front().first;
  double total = 0;
  std::vector<double> p(keep);
  for (size_t i = 0; i < keep; ++i) total += p[i] = std::exp((candidates_[i].first - max) / options_.temperature);
  double mass = 0;
  size_t cut = keep;
  for (size_t i = 0; i < keep; ++i) {
    mass += p[i] / total;
    if (mass >= options_.top_p) {
      cut = i + 1;
      break;
    }
  }
  std::discrete_distribution<size_t> pick(p.begin(), p.begin() + static_cast<std::ptrdiff_t>(cut));
  return candidates_[pick(rng_)].second;
}

}  // namespace lexico
