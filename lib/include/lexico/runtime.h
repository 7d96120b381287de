// What lexico-generate and the model-running modes of lexico-eval share: a
// model with its tokenizer, the optional dictionary, and caches made from a
// spec (with --kv-budget applied for a sequence length).
#pragma once
#include <memory>
#include <mutex>
#include <string>

#include "lexico/kv_cache.h"
#include "lexico/lexico_cache.h"
#include "lexico/model.h"
#include "lexico/tokenizer.h"

namespace lexico {

struct RuntimeOptions {
  std::string model_path;
  std::string tokenizer_path;    // empty: the model's own
  std::string dictionary_path;   // needed by lexico caches
  std::string cache_spec = "full";
  double kv_budget = 0;          // > 0: pick s (or W) to hold the cache at this % of FP16
};

class Runtime {
 public:
  // Loads the model and tokenizer, and the dictionary when the spec needs one
  // (checking that it fits the model's shape: head_dim, layers).
  explicit Runtime(const RuntimeOptions& options);

  const Model& model() const { return model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  // The dictionary, when the spec needs one (else null).
  const Dictionary* dictionary() const { return dictionary_.get(); }
  // The spec with --kv-budget resolved for a sequence of `length` tokens.
  std::string resolved_spec(int64_t length) const;
  // A fresh cache for sequences of up to `length` tokens. The first Lexico
  // cache builds the CPU encoders (D and G per layer), shared by the next ones.
  std::unique_ptr<KvCache> make_cache(int64_t length) const;

 private:
  RuntimeOptions options_;
  Model model_;
  std::unique_ptr<Tokenizer> tokenizer_;
  std::shared_ptr<const Dictionary> dictionary_;
  mutable std::once_flag dictionaries_built_;
  mutable std::shared_ptr<const LexicoDictionaries> dictionaries_;
};

}  // namespace lexico
