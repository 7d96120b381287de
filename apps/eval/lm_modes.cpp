// lexico-eval perplexity and kl: a model reading a text through a cache,
// teacher-forced, scored alone (perplexity) or against the full cache (kl).
#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "eval_modes.h"
#include "lexico/cache_factory.h"
#include "lexico/cli.h"
#include "lexico/corpus.h"
#include "lexico/json.h"
#include "lexico/lm_score.h"
#include "lexico/runtime.h"
#include "../gpu_sequence.h"

namespace lexico::eval_app {

namespace {
struct LmArgs {
  RuntimeOptions rt;
  LmScoreOptions lm;
  std::vector<std::string> texts;
  CorpusOptions corpus;
  int threads = 0;
  bool json = false;
  std::string device = "auto";
};

int run_lm(const LmArgs& a, bool with_kl) {
  set_threads(a.threads);
  parse_device(a.device);  // a bad --device fails before the model loads
  const Runtime runtime(a.rt);
  std::vector<int32_t> tokens;
  for (const Document& doc : read_corpus(a.texts, a.corpus)) {
    auto ids = runtime.tokenizer().encode(doc.text, runtime.tokenizer().adds_bos());
    tokens.insert(tokens.end(), ids.begin(), ids.end());
  }
  const int64_t n = a.lm.max_tokens >= 0 ? std::min<int64_t>(a.lm.max_tokens, tokens.size()) : tokens.size();
  const int64_t length = std::min<int64_t>(a.lm.ctx, n);
  const std::string spec = runtime.resolved_spec(length);
  // On the GPU the Lexico cache codes serially, so that every step sees what
  // the CPU's cache would (the scores are the method's, not the overlap's).
  SequenceSource sequences(runtime, a.device, "lexico-eval", /*overlap=*/false);
  const SequenceMaker sequence = [&] { return sequences.make(length); };
  SequenceMaker reference;
  if (with_kl) reference = [&] { return sequences.make(length, "full"); };
  Progress progress(with_kl ? "kl" : "perplexity", n, "tokens");
  const LmScore score =
      score_text(tokens, sequence, reference, runtime.model().config().max_context, a.lm, &progress);
  progress.finish();
  if (a.json)
    fmt::print("{{\"cache\": \"{}\", \"tokens\": {}, \"perplexity\": {:.6g}, \"nll\": {:.6g}, "
               "\"kv_percent_of_fp16\": {:.4g}{}}}\n",
               json::escape(spec), score.predicted, score.perplexity(),
               score.nll / std::max<int64_t>(score.predicted, 1), score.cache_percent,
               with_kl ? fmt::format(", \"mean_kl\": {:.6g}, \"top1_agreement\": {:.6g}", score.mean_kl(),
                                     score.top1_agreement())
                       : "");
  else
    fmt::print("{:<28} {:>8} {:>11} {:>9}{}\n{:<28} {:>8} {:>11.4f} {:>9.2f}{}\n", "cache", "tokens", "perplexity",
               "KV %", with_kl ? fmt::format(" {:>10} {:>9}", "mean_KL", "top1") : "", spec, score.predicted,
               score.perplexity(), score.cache_percent,
               with_kl ? fmt::format(" {:>10.5f} {:>9.4f}", score.mean_kl(), score.top1_agreement()) : "");
  return 0;
}
}  // namespace

std::vector<Mode> add_perplexity_and_kl(CLI::App& app) {
  auto a = std::make_shared<LmArgs>();
  CLI::App* perplexity = app.add_subcommand("perplexity", "teacher-forced perplexity of a text with the chosen cache");
  CLI::App* kl = app.add_subcommand("kl", "KL divergence and top-1 agreement of the cache's next-token distributions "
                                          "against the full cache's");
  for (CLI::App* sub : {perplexity, kl}) {
    sub->add_option("texts", a->texts, "text files, folders, .jsonl files, or - for stdin")->required();
    sub->add_option("-m,--model", a->rt.model_path, "model: .gguf file, Hugging Face folder, or llama2.c .bin")
        ->required();
    sub->add_option("--tokenizer", a->rt.tokenizer_path, "tokenizer file (default: the model's own)");
    sub->add_option("-c,--cache", a->rt.cache_spec, "KV cache spec, as in lexico-generate")->capture_default_str();
    sub->add_option("-d,--dictionary", a->rt.dictionary_path, "dictionary file for lexico caches");
    sub->add_option("--kv-budget", a->rt.kv_budget,
                    "pick the sparsity (or window) that holds the cache at this % of FP16");
    sub->add_option("--ctx", a->lm.ctx, "tokens per window, each from an empty cache")->capture_default_str();
    sub->add_option("--prefill", a->lm.prefill, "tokens fed at once at a window's start (unless given: at most --ctx)")
        ->capture_default_str();
    sub->add_option("--chunk", a->lm.chunk, "tokens fed per step after that (1 = as in decoding)")
        ->capture_default_str();
    sub->add_option("--max-tokens", a->lm.max_tokens, "score at most this many tokens (-1: all)")
        ->capture_default_str();
    sub->add_option("--device", a->device, kModelDeviceHelp)->capture_default_str();
    sub->add_option("--jsonl-field", a->corpus.jsonl_field, "field holding the text in .jsonl inputs")
        ->capture_default_str();
    sub->add_option("-t,--threads", a->threads, "threads (0 = all cores)")->capture_default_str();
    sub->add_flag("--json", a->json, "print JSON instead of a table");
  }
  // The default prefill shrinks to a shorter --ctx; an explicit one is checked.
  auto run = [a](CLI::App* sub, bool with_kl) {
    if (sub->count("--prefill") == 0) a->lm.prefill = std::min(a->lm.prefill, a->lm.ctx);
    return run_lm(*a, with_kl);
  };
  return {{perplexity, [run, perplexity] { return run(perplexity, false); }},
          {kl, [run, kl] { return run(kl, true); }}};
}

}  // namespace lexico::eval_app
