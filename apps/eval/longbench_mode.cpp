// lexico-eval longbench: the model answers LongBench-format tasks through a
// cache (prompts, truncation and generation lengths as LongBench's pred.py),
// then the answers are scored as its eval.py does. longbench-score scores a
// predictions file without a model.
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>

#include "eval_modes.h"
#include "lexico/atomic_file.h"
#include "lexico/cli.h"
#include "lexico/error.h"
#include "lexico/json.h"
#include "lexico/longbench.h"
#include "lexico/runtime.h"
#include "../gpu_sequence.h"
#include "lexico/text_generation.h"

namespace lexico::eval_app {

namespace {
struct LongbenchArgs {
  RuntimeOptions rt;
  std::string device = "auto";
  std::vector<std::string> data;
  std::string predictions_path, template_name = "auto";
  int max_length = 3500;
  int limit = 0;
  int threads = 0;
  bool raw = false, json = false;
};

// The cache's name and size beside the scores.
std::string report(const std::vector<longbench::DatasetScore>& scores, const std::string& spec, double kv_percent,
                   int64_t samples, bool json) {
  if (json)
    return fmt::format("{{\"cache\": \"{}\", \"samples\": {}, \"kv_percent_of_fp16\": {:.4g}, \"scores\": {}}}\n",
                       json::escape(spec), samples, kv_percent, longbench::scores_json(scores));
  return fmt::format("cache {}: {} samples, KV {:.2f}% of FP16\n{}", spec, samples, kv_percent,
                     longbench::scores_table(scores));
}

int run_longbench(const LongbenchArgs& a) {
  set_threads(a.threads);
  if (a.max_length < 2) usage_error("--max-length", "must be at least 2, not {}", a.max_length);
  if (a.limit < 0) usage_error("--limit", "must be 0 (all) or positive, not {}", a.limit);
  std::vector<longbench::Record> records;
  std::map<std::string, int> taken;
  for (const std::string& path : a.data)
    for (longbench::Record& r : longbench::read_records(path)) {
      longbench::require_task(r.dataset);  // an unknown dataset fails before the model loads
      if (a.limit == 0 || taken[r.dataset]++ < a.limit) records.push_back(std::move(r));
    }
  if (records.empty()) bad_input(a.data.front(), "holds no records");

  parse_device(a.device);  // a bad --device fails before the model loads
  const Runtime runtime(a.rt);
  const Model& model = runtime.model();
  const Tokenizer& tok = runtime.tokenizer();
  // Evaluation: on the GPU the lexico cache codes serially, as the CPU's.
  SequenceSource sequences(runtime, a.device, "lexico-eval", /*overlap=*/false);
  std::optional<PromptFormat> chat;  // made on first use: a base model may have no template and need none
  const PromptFormat raw = PromptFormat::make(tok, true);
  const auto encode = [&](const std::string& text) { return tok.encode(text, false); };
  const auto decode = [&](std::span<const int32_t> ids) { return tok.decode(ids); };
  Sampler greedy(SamplerOptions{});

  std::vector<longbench::Prediction> predictions;
  std::string lines, spec;
  double kv_percent = 0;
  Progress progress("longbench", static_cast<int64_t>(records.size()), "samples");
  for (const longbench::Record& r : records) {
    const longbench::Task& task = longbench::require_task(r.dataset);
    const std::string prompt =
        longbench::truncate_middle(longbench::build_prompt(task, r), static_cast<size_t>(a.max_length), encode, decode);
    if (task.chat_template && !a.raw && !chat) chat = PromptFormat::make(tok, false, a.template_name);
    const PromptFormat& format = task.chat_template && !a.raw ? *chat : raw;
    const std::vector<int32_t> ids = format.encode(tok, prompt);
    const int64_t length = static_cast<int64_t>(ids.size()) + task.max_new_tokens;
    if (model.config().max_context > 0 && length > model.config().max_context)
      bad_input(r.id.empty() ? r.dataset : r.id,
                "{} prompt tokens + {} new exceed the model's context of {} (lower --max-length)", ids.size(),
                task.max_new_tokens, model.config().max_context);
    GenerationOptions gen;
    gen.max_new_tokens = task.max_new_tokens;
    gen.stop_tokens = format.stop_tokens(tok);
    if (task.stop_at_newline) gen.stop_strings = {"\n"};
    const std::unique_ptr<Sequence> cache = sequences.make(length);
    const Generation g = generate_text(*cache, tok, ids, gen, greedy);
    spec = runtime.resolved_spec(length);
    kv_percent += 100.0 * cache->payload_bytes() / std::max<size_t>(cache->fp16_bytes(), 1);
    predictions.push_back({g.text, r.answers, r.all_classes, r.length, r.dataset});
    lines += longbench::prediction_json(r, g.text) + "\n";
    progress.add(1);
  }
  progress.finish();
  if (!a.predictions_path.empty()) write_text_file(a.predictions_path, lines);
  const auto n = static_cast<int64_t>(records.size());
  fmt::print("{}", report(longbench::score_predictions(predictions), spec, kv_percent / n, n, a.json));
  return 0;
}

struct ScoreArgs {
  std::vector<std::string> files;
  std::string dataset;
  bool json = false;
};

int run_score(const ScoreArgs& a) {
  std::vector<longbench::Prediction> predictions;
  for (const std::string& path : a.files)
    for (longbench::Prediction& p : longbench::read_predictions(path, a.dataset)) predictions.push_back(std::move(p));
  if (predictions.empty()) bad_input(a.files.front(), "holds no predictions");
  const auto scores = longbench::score_predictions(predictions);
  fmt::print("{}", a.json ? longbench::scores_json(scores) : longbench::scores_table(scores));
  return 0;
}
}  // namespace

std::vector<Mode> add_longbench(CLI::App& app) {
  auto a = std::make_shared<LongbenchArgs>();
  CLI::App* run = app.add_subcommand("longbench", "answer LongBench-format tasks with the model through a cache, "
                                                  "and score the answers as LongBench does");
  run->add_option("data", a->data, "LongBench JSONL files (input, context, answers, length, dataset, ...)")
      ->required();
  run->add_option("-m,--model", a->rt.model_path, "model: .gguf file, Hugging Face folder, or llama2.c .bin")
      ->required();
  run->add_option("--tokenizer", a->rt.tokenizer_path, "tokenizer file (default: the model's own)");
  run->add_option("-c,--cache", a->rt.cache_spec, "KV cache spec, as in lexico-generate")->capture_default_str();
  run->add_option("-d,--dictionary", a->rt.dictionary_path, "dictionary file for lexico caches");
  run->add_option("--kv-budget", a->rt.kv_budget, "pick the sparsity (or window) that holds the cache at this % of FP16");
  run->add_option("--max-length", a->max_length, "truncate the middle of longer prompts to this many tokens")
      ->capture_default_str();
  run->add_option("--limit", a->limit, "at most this many samples per dataset (0 = all)")->capture_default_str();
  run->add_flag("--raw", a->raw, "no chat template for any dataset (base models)");
  run->add_option("--template", a->template_name, "chat template: auto, chatml, smollm2 or llama3")
      ->capture_default_str();
  run->add_option("-p,--predictions", a->predictions_path, "also write the predictions (JSONL, - for stdout)");
  run->add_option("--device", a->device, kModelDeviceHelp)->capture_default_str();
  run->add_option("-t,--threads", a->threads, "threads (0 = all cores)")->capture_default_str();
  run->add_flag("--json", a->json, "print JSON instead of a table");

  auto s = std::make_shared<ScoreArgs>();
  CLI::App* score = app.add_subcommand("longbench-score", "score LongBench predictions files (no model)");
  score->add_option("predictions", s->files, "predictions JSONL (pred, answers, all_classes, length, dataset)")
      ->required();
  score->add_option("--dataset", s->dataset, "dataset of lines that name none (LongBench names it by the file)");
  score->add_flag("--json", s->json, "print JSON instead of a table");
  return {{run, [a] { return run_longbench(*a); }}, {score, [s] { return run_score(*s); }}};
}

}  // namespace lexico::eval_app
