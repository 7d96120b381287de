#include "lexico/runtime.h"

#include "lexico/cache_factory.h"
#include "lexico/error.h"
#include "lexico/kv_budget.h"
#include "lexico/model_tokenizer.h"

namespace lexico {

Runtime::Runtime(const RuntimeOptions& options)
    : options_(options), model_(Model::load(options.model_path)),
      tokenizer_(load_model_tokenizer(options.model_path, options.tokenizer_path, model_.config().vocab_size)) {
  // Parse the spec now so a bad one fails before any work.
  if (options_.kv_budget < 0 || options_.kv_budget > 100)
    usage_error("--kv-budget", "must be a percentage in (0, 100], not {}", options_.kv_budget);
  // A lexico spec's options are checked here; any other spec by making an
  // empty cache of it (the name and every option). The GPU builds its caches
  // from the same spec, so it only ever sees one the CPU takes.
  if (split_cache_spec(options_.cache_spec).name == "lexico")
    parse_lexico_spec(options_.cache_spec);
  else
    lexico::make_cache(options_.cache_spec, model_.config().cache_shape());
  if (cache_needs_dictionary(options_.cache_spec)) {
    if (options_.dictionary_path.empty())
      usage_error("--dictionary", "cache '{}' needs a dictionary (-d FILE)", options_.cache_spec);
    auto dict = std::make_shared<Dictionary>(read_dictionary(options_.dictionary_path));
    check_dictionary(*dict, model_.config().cache_shape(), options_.dictionary_path);
    dictionary_ = std::move(dict);
  }
}

std::string Runtime::resolved_spec(int64_t length) const {
  if (options_.kv_budget <= 0) return options_.cache_spec;
  const int n_atoms = dictionary_ ? dictionary_->n_atoms : 0;
  return apply_kv_budget(options_.cache_spec, model_.config().cache_shape(), n_atoms, length, options_.kv_budget);
}

std::unique_ptr<KvCache> Runtime::make_cache(int64_t length) const {
  const std::string spec = resolved_spec(length);
  if (dictionary_) {
    std::call_once(dictionaries_built_, [&] {
      dictionaries_ = std::make_shared<const LexicoDictionaries>(*dictionary_, model_.config().cache_shape(),
                                                                  options_.dictionary_path);
    });
    return lexico::make_cache(spec, model_.config().cache_shape(), dictionaries_);
  }
  return lexico::make_cache(spec, model_.config().cache_shape(), static_cast<const Dictionary*>(nullptr));
}

}  // namespace lexico
