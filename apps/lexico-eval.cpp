// lexico-eval: scores compression. Modes: recon (reconstruction error of
// sparse codes against the KV dump they encode), perplexity and kl (a model
// reading a text through a compressed cache, against the full cache).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "lexico/cli.h"
#include "lexico/cli_parse.h"
#include "lexico/codes_file.h"
#include "lexico/dump_encoding.h"
#include "lexico/error.h"
#include "lexico/cache_factory.h"
#include "lexico/corpus.h"
#include "lexico/json.h"
#include "lexico/lm_score.h"
#include "lexico/report_format.h"
#include "lexico/runtime.h"

using namespace lexico;

int main(int argc, char** argv) {
  CLI::App app{"Score KV-cache compression.", "lexico-eval"};
  app.set_version_flag("--version", "lexico-eval " LEXICO_VERSION);
  app.require_subcommand(1);

  CLI::App* recon = app.add_subcommand("recon", "relative reconstruction error (RRE) per layer of keys and values");
  std::string dump_path, dict_path, codes_path, layers;
  DumpEncodingOptions opt;
  bool json = false;
  recon->add_option("dump", dump_path, "KV dump (HDF5)")->required();
  recon->add_option("-d,--dictionary", dict_path, "dictionary file (HDF5)")->required();
  recon->add_option("-c,--codes", codes_path, "codes file to score (default: encode the dump now)");
  recon->add_option("-s,--sparsity", opt.omp.sparsity, "atoms per vector when encoding now")->capture_default_str();
  recon->add_option("--delta", opt.omp.tolerance, "relative tolerance when encoding now")->capture_default_str();
  recon->add_flag("--fp8-refit", opt.omp.fp8_refit, "refit coefficients around their FP8 rounding");
  recon->add_option("-l,--layers", layers, "layers to score, e.g. 0-3,7 (default: all)");
  recon->add_option("-t,--threads", opt.omp.threads, "threads (0 = all cores)")->capture_default_str();
  recon->add_flag("--json", json, "print JSON instead of a table");

  // perplexity and kl share their options: a model reading texts through a cache.
  RuntimeOptions rt;
  LmScoreOptions lm;
  std::vector<std::string> texts;
  CorpusOptions corpus;
  int threads = 0;
  CLI::App* perplexity = app.add_subcommand("perplexity", "teacher-forced perplexity of a text with the chosen cache");
  CLI::App* kl = app.add_subcommand("kl", "KL divergence and top-1 agreement of the cache's next-token distributions "
                                          "against the full cache's");
  for (CLI::App* sub : {perplexity, kl}) {
    sub->add_option("texts", texts, "text files, folders, .jsonl files, or - for stdin")->required();
    sub->add_option("-m,--model", rt.model_path, "model: .gguf file, Hugging Face folder, or llama2.c .bin")->required();
    sub->add_option("--tokenizer", rt.tokenizer_path, "tokenizer file (default: the model's own)");
    sub->add_option("-c,--cache", rt.cache_spec, "KV cache spec, as in lexico-generate")->capture_default_str();
    sub->add_option("-d,--dictionary", rt.dictionary_path, "dictionary file for lexico caches");
    sub->add_option("--kv-budget", rt.kv_budget, "pick the sparsity (or window) that holds the cache at this % of FP16");
    sub->add_option("--ctx", lm.ctx, "tokens per window, each from an empty cache")->capture_default_str();
    sub->add_option("--prefill", lm.prefill, "tokens fed at once at a window's start")->capture_default_str();
    sub->add_option("--chunk", lm.chunk, "tokens fed per step after that (1 = as in decoding)")->capture_default_str();
    sub->add_option("--max-tokens", lm.max_tokens, "score at most this many tokens (-1: all)")->capture_default_str();
    sub->add_option("--jsonl-field", corpus.jsonl_field, "field holding the text in .jsonl inputs")->capture_default_str();
    sub->add_option("-t,--threads", threads, "threads (0 = all cores)")->capture_default_str();
    sub->add_flag("--json", json, "print JSON instead of a table");
  }
  if (int rc = parse_arguments(app, argc, argv); rc >= 0) return rc;

  if (*perplexity || *kl) {
    return run_app("lexico-eval", [&] {
      set_threads(threads);
      const Runtime runtime(rt);
      std::vector<int32_t> tokens;
      for (const Document& doc : read_corpus(texts, corpus)) {
        auto ids = runtime.tokenizer().encode(doc.text, runtime.tokenizer().adds_bos());
        tokens.insert(tokens.end(), ids.begin(), ids.end());
      }
      const int64_t n = lm.max_tokens >= 0 ? std::min<int64_t>(lm.max_tokens, tokens.size()) : tokens.size();
      const int64_t length = std::min<int64_t>(lm.ctx, n);
      const std::string spec = runtime.resolved_spec(length);
      CacheMaker reference;
      if (*kl) reference = [&] { return make_cache("full", runtime.model().config().cache_shape()); };
      Progress progress(*kl ? "kl" : "perplexity", n, "tokens");
      const LmScore score =
          score_text(runtime.model(), tokens, [&] { return runtime.make_cache(length); }, reference, lm, &progress);
      progress.finish();
      if (json)
        fmt::print("{{\"cache\": \"{}\", \"tokens\": {}, \"perplexity\": {:.6g}, \"nll\": {:.6g}, "
                   "\"kv_percent_of_fp16\": {:.4g}{}}}\n",
                   json::escape(spec), score.predicted, score.perplexity(), score.nll / std::max<int64_t>(score.predicted, 1),
                   score.cache_percent,
                   *kl ? fmt::format(", \"mean_kl\": {:.6g}, \"top1_agreement\": {:.6g}", score.mean_kl(),
                                     score.top1_agreement())
                       : "");
      else
        fmt::print("{:<28} {:>8} {:>11} {:>9}{}\n{:<28} {:>8} {:>11.4f} {:>9.2f}{}\n", "cache", "tokens", "perplexity",
                   "KV %", *kl ? fmt::format(" {:>10} {:>9}", "mean_KL", "top1") : "", spec, score.predicted,
                   score.perplexity(), score.cache_percent,
                   *kl ? fmt::format(" {:>10.5f} {:>9.4f}", score.mean_kl(), score.top1_agreement()) : "");
      return 0;
    });
  }

  return run_app("lexico-eval", [&] {
    set_threads(opt.omp.threads);
    if (!(opt.omp.tolerance >= 0 && opt.omp.tolerance < 1))
      usage_error("--delta", "must lie in [0, 1), not {}", opt.omp.tolerance);
    KvDumpReader dump(dump_path);
    if (opt.omp.sparsity < 1 || opt.omp.sparsity > dump.info().head_dim)
      usage_error("--sparsity", "must lie in 1..{} (head_dim of {}), not {}", dump.info().head_dim, dump_path,
                  opt.omp.sparsity);
    Dictionary dict = read_dictionary(dict_path);
    if (!layers.empty()) opt.layers = parse_layer_list(layers, dump.info().n_layers, "--layers");
    EncodingReport report;
    if (codes_path.empty()) {
      const auto n_layers = opt.layers.empty() ? dump.info().layers.size() : opt.layers.size();
      Progress progress("recon", static_cast<int64_t>(2 * n_layers) * dump.n_tokens() * dump.info().n_kv_heads,
                        "vectors");
      encode_dump(dump, dict, dict_path, opt, &report, &progress);
    } else {
      CodesFile codes = read_codes(codes_path);
      report = evaluate_codes(dump, dict, dict_path, codes, codes_path, opt.layers);
    }
    std::fputs((json ? recon_report_json(report) : recon_report_table(report)).c_str(), stdout);
    return 0;
  });
}
