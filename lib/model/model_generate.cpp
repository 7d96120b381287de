#include "lexico/generate.h"

#include "lexico/error.h"

namespace lexico {

int argmax(const float* logits, int n) {
  int best = 0;
  for (int i = 1; i < n; ++i)
    if (logits[i] > logits[best]) best = i;
  return best;
}

std::vector<int> generate_greedy(const Model& model, KvCache& cache, std::span<const int> prompt, int n_new,
                                 int stop_token) {
  if (prompt.empty()) usage_error("generate", "the prompt is empty");
  std::vector<int> out;
  if (n_new <= 0) return out;
  const int vocab = model.config().vocab_size;
  Matrix logits = model.forward(prompt, 0, cache);
  int64_t pos = static_cast<int64_t>(prompt.size());
  while (true) {
    const int next = argmax(logits.data(), vocab);
    out.push_back(next);
    if (next == stop_token || static_cast<int>(out.size()) == n_new) break;
    logits = model.forward(std::span<const int>(&next, 1), pos++, cache);
  }
  return out;
}

}  // namespace lexico
