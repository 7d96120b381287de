// lexico-eval baselines: RRE of Lexico's codes beside a random dictionary,
// truncated PCA and KIVI quantization, on the same vectors and at comparable
// bytes per vector (lexico/recon_baselines.h says how each is counted).
#include <algorithm>
#include <cstdio>
#include <memory>

#include <fmt/format.h>

#include "eval_modes.h"
#include "lexico/cli.h"
#include "lexico/error.h"
#include "lexico/json.h"
#include "lexico/recon_baselines.h"

namespace lexico::eval_app {

namespace {
struct BaselinesArgs {
  std::string dump_path, dict_path, layers;
  std::vector<std::string> train_paths;
  BaselineOptions opt;
  bool json = false, tsv = false;
};

double percent_of_fp16(const BaselineRow& row, int head_dim) {
  return 100.0 * (row.keys_bytes + row.values_bytes) / 2.0 / (2.0 * head_dim);
}

std::string bytes_text(const BaselineRow& row) {
  return row.keys_bytes == row.values_bytes ? fmt::format("{:.1f}", row.keys_bytes)
                                            : fmt::format("{:.1f}/{:.1f}", row.keys_bytes, row.values_bytes);
}

std::string table(const BaselineReport& r, const std::string& dump_path) {
  std::string out = fmt::format(
      "{}: {} tokens × {} heads × {} layers per kind; dictionary N = {}; PCA fitted on {} vectors per layer and kind\n"
      "RRE mean ± std over all vectors of all layers\n",
      dump_path, r.tokens, r.n_kv_heads, r.layers.size(), r.n_atoms, r.train_vectors);
  out += fmt::format("{:>3}  {:<7} {:>3}  {:>11} {:>7}  {:>17}  {:>17}\n", "s", "method", "r", "bytes/vec", "%FP16",
                     "keys RRE", "values RRE");
  for (const BaselineRow& row : r.rows)
    out += fmt::format("{:>3}  {:<7} {:>3}  {:>11} {:>6.1f}%  {:>8.4f} ± {:<6.4f}  {:>8.4f} ± {:<6.4f}\n",
                       row.sparsity > 0 ? std::to_string(row.sparsity) : "-", row.method,
                       row.rank > 0 ? std::to_string(row.rank) : "-", bytes_text(row), percent_of_fp16(row, r.head_dim),
                       row.keys.mean, row.keys.std, row.values.mean, row.values.std);
  return out;
}

std::string tsv(const BaselineReport& r) {
  std::string out =
      "method\tsparsity\trank\tkeys_bytes\tvalues_bytes\tpercent_fp16\tkeys_rre_mean\tkeys_rre_std\t"
      "values_rre_mean\tvalues_rre_std\tvectors\n";
  for (const BaselineRow& row : r.rows)
    out += fmt::format("{}\t{}\t{}\t{:.4g}\t{:.4g}\t{:.4g}\t{:.6f}\t{:.6f}\t{:.6f}\t{:.6f}\t{}\n", row.method,
                       row.sparsity, row.rank, row.keys_bytes, row.values_bytes, percent_of_fp16(row, r.head_dim),
                       row.keys.mean, row.keys.std, row.values.mean, row.values.std, row.keys.count);
  return out;
}

std::string json_report(const BaselineReport& r, const std::string& dump_path) {
  auto stats = [](const RreStats& s) { return fmt::format(R"({{"mean": {:.6g}, "std": {:.6g}}})", s.mean, s.std); };
  std::string rows;
  for (const BaselineRow& row : r.rows) {
    std::string layers;
    for (size_t i = 0; i < r.layers.size(); ++i)
      layers += fmt::format(R"({}{{"layer": {}, "keys": {}, "values": {}}})", i ? ", " : "", r.layers[i],
                            stats(row.layer_keys[i]), stats(row.layer_values[i]));
    rows += fmt::format(
        "{}    {{\"method\": \"{}\", \"sparsity\": {}, \"rank\": {}, \"keys_bytes\": {:.6g}, \"values_bytes\": {:.6g}, "
        "\"percent_fp16\": {:.6g}, \"keys\": {}, \"values\": {},\n     \"layers\": [{}]}}",
        rows.empty() ? "" : ",\n", row.method, row.sparsity, row.rank, row.keys_bytes, row.values_bytes,
        percent_of_fp16(row, r.head_dim), stats(row.keys), stats(row.values), layers);
  }
  return fmt::format(
      "{{\n  \"dump\": \"{}\",\n  \"head_dim\": {},\n  \"n_kv_heads\": {},\n  \"n_atoms\": {},\n  \"tokens\": {},\n"
      "  \"train_vectors\": {},\n  \"rows\": [\n{}\n  ]\n}}\n",
      json::escape(dump_path), r.head_dim, r.n_kv_heads, r.n_atoms, r.tokens, r.train_vectors, rows);
}

int run_baselines(BaselinesArgs& a) {
  set_threads(a.opt.threads);
  if (a.json && a.tsv) usage_error("--json", "cannot be combined with --tsv");
  KvDumpReader dump(a.dump_path);
  const int m = dump.info().head_dim;
  for (int s : a.opt.sparsities)
    if (s < 1 || s > m)
      usage_error("--sparsity", "must lie in 1..{} (head_dim of {}), not {}", m, a.dump_path, s);
  if (a.opt.max_tokens < 0) usage_error("--max-tokens", "must not be negative, not {}", a.opt.max_tokens);
  Dictionary dict = read_dictionary(a.dict_path);
  if (!a.layers.empty()) a.opt.layers = parse_layer_list(a.layers, dump.info().n_layers, "--layers");
  const auto n_layers = a.opt.layers.empty() ? dump.info().layers.size() : a.opt.layers.size();
  const int64_t tokens = a.opt.max_tokens > 0 ? std::min(a.opt.max_tokens, dump.n_tokens()) : dump.n_tokens();
  Progress progress("baselines", int64_t(2 * n_layers) * tokens * dump.info().n_kv_heads, "vectors");
  const BaselineReport report = compare_baselines(dump, a.train_paths, dict, a.dict_path, a.opt, &progress);
  progress.finish();
  const std::string text = a.json ? json_report(report, a.dump_path) : a.tsv ? tsv(report) : table(report, a.dump_path);
  std::fputs(text.c_str(), stdout);
  return 0;
}
}  // namespace

Mode add_baselines(CLI::App& app) {
  auto a = std::make_shared<BaselinesArgs>();
  CLI::App* cmd = app.add_subcommand(
      "baselines", "RRE of the dictionary's codes beside a random dictionary, PCA and KIVI at comparable bytes");
  cmd->add_option("dump", a->dump_path, "KV dump to reconstruct (HDF5)")->required();
  cmd->add_option("-d,--dictionary", a->dict_path, "trained dictionary file (HDF5)")->required();
  cmd->add_option("--train-dump", a->train_paths, "KV dump(s) PCA is fitted on (the dictionary's training data)")
      ->required()
      ->delimiter(',');
  cmd->add_option("-s,--sparsity", a->opt.sparsities, "sparsities s, each setting one byte budget of 3s+2")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("-l,--layers", a->layers, "layers to score, e.g. 0-3,7 (default: all)");
  cmd->add_option("--max-tokens", a->opt.max_tokens, "score the first this many tokens (0: all)")
      ->capture_default_str();
  cmd->add_option("--seed", a->opt.seed, "seed of the random dictionaries")->capture_default_str();
  cmd->add_option("-t,--threads", a->opt.threads, "threads (0 = all cores)")->capture_default_str();
  cmd->add_flag("--json", a->json, "print JSON (with per-layer errors) instead of a table");
  cmd->add_flag("--tsv", a->tsv, "print tab-separated rows instead of a table");
  return {cmd, [a] { return run_baselines(*a); }};
}

}  // namespace lexico::eval_app
