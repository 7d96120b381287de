// lexico-eval niah: needle in a haystack over a grid of prompt lengths ×
// needle depths, answered by the model through a cache; a table or JSON, and
// a heat map.
#include <fmt/format.h>

#include <algorithm>
#include <memory>

#include "eval_modes.h"
#include "lexico/cli.h"
#include "lexico/error.h"
#include "lexico/json.h"
#include "lexico/niah.h"
#include "lexico/runtime.h"
#include "../gpu_sequence.h"
#include "lexico/text_generation.h"

namespace lexico::eval_app {

namespace {
struct NiahArgs {
  RuntimeOptions rt;
  std::string device = "auto";
  std::string haystack_dir, needle = "sandwich", template_name = "auto", heatmap_path;
  std::vector<size_t> lengths{1024, 2048, 4096};
  int depths = 5;
  int max_new = 32;
  uint64_t seed = 0;
  bool raw = false, json = false;
  int threads = 0;
};

int run_niah(const NiahArgs& a) {
  set_threads(a.threads);
  if (a.depths < 1) usage_error("--depths", "must be at least 1, not {}", a.depths);
  if (a.max_new < 1) usage_error("--max-new-tokens", "must be at least 1, not {}", a.max_new);
  niah::Needle needle;
  if (a.needle == "sandwich")
    needle = niah::sandwich_needle();
  else if (a.needle == "number")
    needle = niah::random_number_needle(a.seed);
  else
    usage_error("--needle", "must be sandwich or number, not '{}'", a.needle);
  const std::string haystack = niah::build_haystack(taskgen::read_text_dir(a.haystack_dir));

  parse_device(a.device);  // a bad --device fails before the model loads
  const Runtime runtime(a.rt);
  const Model& model = runtime.model();
  const Tokenizer& tok = runtime.tokenizer();
  // Evaluation: on the GPU the lexico cache codes serially, as the CPU's.
  SequenceSource sequences(runtime, a.device, "lexico-eval", /*overlap=*/false);
  const PromptFormat format = PromptFormat::make(tok, a.raw, a.template_name);
  const taskgen::LengthFn length = [&tok](std::string_view text) {
    return tok.encode(std::string(text), false).size();
  };
  GenerationOptions gen;
  gen.max_new_tokens = a.max_new;
  gen.stop_tokens = format.stop_tokens(tok);
  Sampler greedy(SamplerOptions{});

  niah::Grid grid(a.lengths, niah::even_depths(static_cast<size_t>(a.depths)));
  std::string spec;
  double kv_percent = 0;
  Progress progress("niah", static_cast<int64_t>(grid.scores.size()), "cases");
  for (size_t li = 0; li < grid.lengths.size(); ++li) {
    const size_t target = grid.lengths[li];
    // Tokens hold a few bytes each: a prefix of 8 bytes per token is enough
    // haystack and keeps the length search from tokenizing all of it.
    const std::string_view hay = std::string_view(haystack).substr(0, std::min(haystack.size(), 8 * target + 4096));
    for (size_t di = 0; di < grid.depths.size(); ++di) {
      const niah::Case c = niah::make_case(hay, needle, target, grid.depths[di], length);
      const std::vector<int32_t> ids = format.encode(tok, c.prompt);
      const int64_t total = static_cast<int64_t>(ids.size()) + a.max_new;
      if (model.config().max_context > 0 && total > model.config().max_context)
        usage_error("--lengths", "{} prompt tokens + {} new exceed the model's context of {}", ids.size(), a.max_new,
                    model.config().max_context);
      const std::unique_ptr<Sequence> cache = sequences.make(total);
      const Generation g = generate_text(*cache, tok, ids, gen, greedy);
      grid.score_at(li, di) = niah::score(needle, g.text);
      grid.prompt_lengths[li * grid.depths.size() + di] = c.prompt_length;
      spec = runtime.resolved_spec(total);
      kv_percent += 100.0 * cache->payload_bytes() / std::max<size_t>(cache->fp16_bytes(), 1);
      progress.add(1);
    }
  }
  progress.finish();
  kv_percent /= static_cast<double>(grid.scores.size());
  if (!a.heatmap_path.empty()) {
    const HeatmapFiles files =
        write_heatmap(niah::grid_heatmap(grid, fmt::format("needle in a haystack, cache {}", spec)), a.heatmap_path);
    if (!files.rendered)
      fmt::print(stderr, "lexico-eval: {} not drawn ({}); data in {}, gnuplot script in {}\n", files.png,
                 files.message, files.data, files.script);
  }
  if (a.json) {
    std::string g = niah::grid_json(grid, needle);
    while (!g.empty() && g.back() == '\n') g.pop_back();
    fmt::print("{{\"cache\": \"{}\", \"kv_percent_of_fp16\": {:.4g}, \"niah\": {}}}\n", json::escape(spec), kv_percent,
               g);
  } else {
    fmt::print("cache {}: KV {:.2f}% of FP16 (mean over cases)\n{}", spec, kv_percent, niah::grid_table(grid));
  }
  return 0;
}
}  // namespace

Mode add_niah(CLI::App& app) {
  auto a = std::make_shared<NiahArgs>();
  CLI::App* cmd = app.add_subcommand("niah", "needle in a haystack: prompt lengths × needle depths, scored, as a "
                                             "table and a heat map");
  cmd->add_option("--haystack", a->haystack_dir, "folder of texts (*.txt) to hide the needle in")->required();
  cmd->add_option("-m,--model", a->rt.model_path, "model: .gguf file, Hugging Face folder, or llama2.c .bin")
      ->required();
  cmd->add_option("--tokenizer", a->rt.tokenizer_path, "tokenizer file (default: the model's own)");
  cmd->add_option("-c,--cache", a->rt.cache_spec, "KV cache spec, as in lexico-generate")->capture_default_str();
  cmd->add_option("-d,--dictionary", a->rt.dictionary_path, "dictionary file for lexico caches");
  cmd->add_option("--kv-budget", a->rt.kv_budget, "pick the sparsity (or window) that holds the cache at this % of FP16");
  cmd->add_option("--lengths", a->lengths, "prompt lengths in tokens")->delimiter(',')->capture_default_str();
  cmd->add_option("--depths", a->depths, "needle depths, evenly from 0% to 100%")->capture_default_str();
  cmd->add_option("--needle", a->needle, "sandwich (Kamradt's sentence) or number (a 7-digit magic number)")
      ->capture_default_str();
  cmd->add_option("--seed", a->seed, "seed of the number needle")->capture_default_str();
  cmd->add_option("-n,--max-new-tokens", a->max_new, "tokens the answer may take")->capture_default_str();
  cmd->add_flag("--raw", a->raw, "feed the prompt as is, without the chat template");
  cmd->add_option("--template", a->template_name, "chat template: auto, chatml, smollm2 or llama3")
      ->capture_default_str();
  cmd->add_option("--heatmap", a->heatmap_path, "draw the grid as a PNG (gnuplot; its data and script go beside it)");
  cmd->add_option("--device", a->device, kModelDeviceHelp)->capture_default_str();
  cmd->add_option("-t,--threads", a->threads, "threads (0 = all cores)")->capture_default_str();
  cmd->add_flag("--json", a->json, "print JSON instead of a table");
  return {cmd, [a] { return run_niah(*a); }};
}

}  // namespace lexico::eval_app
