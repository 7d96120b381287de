// lexico-harvest: runs a model over text and writes the keys and values it
// produces to a KV dump; or writes a synthetic dump (--synthetic).
#include <CLI/CLI.hpp>
#include <chrono>
#include <filesystem>

#include "lexico/cli.h"
#include "lexico/cli_parse.h"
#include "lexico/corpus.h"
#include "lexico/error.h"
#include "lexico/harvest.h"
#include "lexico/kv_dump.h"
#include "lexico/model.h"
#include "lexico/model_tokenizer.h"
#include "gpu_sequence.h"

using namespace lexico;

int main(int argc, char** argv) {
  CLI::App app{"Dump the keys and values of a model run over text to a KV dump.", "lexico-harvest"};
  std::string out_path, model_path, tokenizer_path, layers, shard = "0/1", dtype = "fp16", device = "auto";
  std::vector<std::string> inputs;
  HarvestOptions opt;
  CorpusOptions corpus;
  bool resume = false, synthetic = false;
  int threads = 0;
  SyntheticDumpSpec spec;
  app.add_option("inputs", inputs, "text files, folders of them, .jsonl files, or - for stdin");
  app.add_option("-o,--output", out_path, "KV dump to write (HDF5)")->required();
  app.add_option("-m,--model", model_path, "model: .gguf file, Hugging Face folder, or llama2.c .bin");
  app.add_option("--tokenizer", tokenizer_path, "tokenizer file (default: the model's own)");
  app.add_option("--ctx", opt.ctx, "tokens per window; each window starts at position 0")->capture_default_str();
  app.add_option("--max-tokens", opt.max_tokens, "use at most this many tokens of the input (-1: all)")
      ->capture_default_str();
  app.add_option("-l,--layers", layers, "layers to record, e.g. 0-3,7 (default: all)");
  app.add_option("--dtype", dtype, "storage type: fp16 or fp32")->capture_default_str();
  app.add_flag("--prerope", opt.prerope, "also record keys before RoPE");
  app.add_option("--sample", opt.sample, "fraction of tokens to keep, in (0, 1]")->capture_default_str();
  app.add_option("--seed", opt.seed, "random seed (sampling, synthetic data)")->capture_default_str();
  app.add_option("--shard", shard, "i/n: write shard i of n (window w goes to shard w mod n)")->capture_default_str();
  app.add_option("--jsonl-field", corpus.jsonl_field, "field holding the text in .jsonl inputs")->capture_default_str();
  app.add_flag("--resume", resume, "continue an interrupted run from OUTPUT.partial");
  app.add_option("-t,--threads", threads, "threads (0 = all cores)")->capture_default_str();
  app.add_option("--device", device,
                 "where the model runs: auto (the GPU when one is usable), cpu, or cuda (falls back to the CPU, "
                 "saying why); on the GPU in FP32, so the dump holds the CPU's vectors to float rounding")
      ->capture_default_str();
  app.add_flag("--synthetic", synthetic, "write vectors that are sparse combinations of a hidden dictionary");
  app.add_option("--n-layers", spec.n_layers, "synthetic: layers")->capture_default_str();
  app.add_option("--n-kv-heads", spec.n_kv_heads, "synthetic: KV heads")->capture_default_str();
  app.add_option("--head-dim", spec.head_dim, "synthetic: head dimension")->capture_default_str();
  app.add_option("--tokens", spec.n_tokens, "synthetic: tokens")->capture_default_str();
  app.add_option("--hidden-atoms", spec.hidden_atoms, "synthetic: atoms of the hidden dictionary")
      ->capture_default_str();
  app.add_option("--hidden-sparsity", spec.hidden_sparsity, "synthetic: atoms per vector")->capture_default_str();
  app.add_option("--noise", spec.noise, "synthetic: noise standard deviation")->capture_default_str();
  app.set_version_flag("--version", "lexico-harvest " LEXICO_VERSION);
  if (int rc = parse_arguments(app, argc, argv); rc >= 0) return rc;

  return run_app("lexico-harvest", [&] {
    set_threads(threads);
    if (dtype != "fp16" && dtype != "fp32") usage_error("--dtype", "must be fp16 or fp32, not '{}'", dtype);
    parse_device(device);
    opt.fp16 = dtype == "fp16";
    if (synthetic) {
      spec.seed = opt.seed;
      spec.fp16 = opt.fp16;
      write_synthetic_dump(out_path, spec);
      return 0;
    }
    if (model_path.empty()) usage_error("--model", "a model is required (or --synthetic)");
    if (inputs.empty()) usage_error("inputs", "no input text given (use - for stdin)");
    if (std::sscanf(shard.c_str(), "%d/%d", &opt.shard, &opt.n_shards) != 2)
      usage_error("--shard", "'{}' is not of the form i/n", shard);
    const auto t0 = std::chrono::steady_clock::now();
    Model model = Model::load(model_path);
    auto tokenizer = load_model_tokenizer(model_path, tokenizer_path, model.config().vocab_size);
    if (!layers.empty()) opt.layers = parse_layer_list(layers, model.config().n_layers, "--layers");
    std::vector<int32_t> stream;
    for (const Document& doc : read_corpus(inputs, corpus)) {
      std::vector<int32_t> ids = tokenizer->encode(doc.text, tokenizer->adds_bos());
      stream.insert(stream.end(), ids.begin(), ids.end());
    }
    const auto windows = harvest_windows(stream, opt);
    int64_t total = 0;
    for (const auto& w : windows) total += static_cast<int64_t>(w.size());
    const auto t1 = std::chrono::steady_clock::now();
    Progress progress("harvest", total, "tokens");
    const std::string name = std::filesystem::path(model_path).filename().string();
    const auto gpu = GpuWindows::make(model, device, opt.ctx, "lexico-harvest");
    const int64_t written =
        gpu ? harvest([&](std::span<const int> w, const KvObserver& observer) { gpu->run(w, observer); },
                      model.config(), name, windows, opt, out_path, resume, &progress)
            : harvest(model, name, windows, opt, out_path, resume, &progress);
    progress.finish();
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    fmt::print(stderr,
               "lexico-harvest: {} windows, {} tokens run, {} written, {:.1f} tokens/s (load {:.1f} s, run {:.1f} s)\n",
               windows.size(), total, written, total / std::max(secs, 1e-9),
               std::chrono::duration<double>(t1 - t0).count(), secs);
    return 0;
  });
}
