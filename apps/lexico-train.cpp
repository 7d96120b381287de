// lexico-train: KV dumps → dictionary file (per layer, keys and values), and
// `lexico-train merge` to join per-layer files. See man/lexico-train.1.
#include <CLI/CLI.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include <fmt/ranges.h>

#include "lexico/cli.h"
#include "lexico/cli_parse.h"
#include "lexico/dictionary_training.h"
#include "lexico/error.h"
#include "device_option.h"

using namespace lexico;

namespace {

// One plain line per layer and epoch: fine on a terminal, in logs and pipes.
void print_epoch(const EpochReport& r) {
  std::string line = fmt::format("lexico-train: layer {} epoch {}/{}", r.layer, r.epoch, r.epochs);
  for (const EpochReport::Kind& k : r.kinds) {
    const char* name = kv_kind_name(k.kind);
    if (r.epoch == 0)
      line += fmt::format(" | {} val RRE {:.4f} (initial)", name, k.val_rre);
    else if (std::isnan(k.val_rre))
      line += fmt::format(" | {} stopped", name);
    else
      line += fmt::format(
          " | {} loss {:.5g} val RRE {:.4f}{}", name, k.train_loss, k.val_rre,
          k.stopped ? fmt::format(" (early stop: best {:.4f} at epoch {})", k.best_val_rre, k.best_epoch) : "");
  }
  fmt::print(stderr, "{} | {:.1f} s\n", line, r.seconds);
  if (!r.layer_done) return;
  line = fmt::format("lexico-train: layer {} done in {:.1f} s:", r.layer, r.layer_seconds);
  for (const EpochReport::Kind& k : r.kinds)
    line += fmt::format(" {} val RRE {:.4f} (epoch {})", kv_kind_name(k.kind), k.best_val_rre, k.best_epoch);
  fmt::print(stderr, "{}\n", line);
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Train per-layer key and value dictionaries for Lexico on KV dumps.", "lexico-train"};
  app.set_version_flag("--version", "lexico-train " LEXICO_VERSION);
  app.require_subcommand(0, 1);
  std::vector<std::string> dumps;
  std::string output, layers, kind = "both", device = "auto";
  TrainOptions opt;
  bool resume = false, quiet = false;
  app.add_option("dumps", dumps, "KV dumps (HDF5, from lexico-harvest) of one model");
  app.add_option("-o,--output", output, "dictionary file to write (HDF5)");
  app.add_option("-N,--atoms", opt.atoms, "atoms per dictionary (default 4096, or those of --init's dictionary)");
  app.add_option("-s,--sparsity", opt.sparsity, "atoms per vector in the sparse codes (s)")->capture_default_str();
  app.add_option("--epochs", opt.epochs, "passes over the training vectors (0: write the initial dictionary)")
      ->capture_default_str();
  app.add_option("--batch", opt.batch, "vectors per step")->capture_default_str();
  app.add_option("--lr", opt.lr, "Adam's learning rate, cosine-decayed to 0 over the run")->capture_default_str();
  app.add_option("--seed", opt.seed, "random seed (initialisation, sampling, split, shuffling)")->capture_default_str();
  app.add_option("-l,--layers", layers, "layers to train, e.g. 0-3,7 (default: all in the dumps)");
  app.add_option("--kind", kind, "which dictionaries to train")
      ->check(CLI::IsMember({"keys", "values", "both"}))
      ->capture_default_str();
  app.add_option("-t,--threads", opt.threads, "threads (0 = all cores); results do not depend on it")
      ->capture_default_str();
  app.add_option("--patience", opt.patience,
                 "stop a dictionary after this many epochs without a better "
                 "validation RRE (0 = never)")
      ->capture_default_str();
  app.add_option("--init", opt.init, "start from 'random' (uniform, unit-norm atoms) or a dictionary file")
      ->capture_default_str();
  app.add_flag("--resume", resume, "continue from OUTPUT.ckpt, the checkpoint of an interrupted run");
  app.add_option("--max-vectors", opt.max_vectors,
                 "per layer and kind, train on a random sample of this many "
                 "vectors (0 = all)")
      ->capture_default_str();
  app.add_option("--val-fraction", opt.val_fraction, "fraction held out for validation, in (0, 0.5]")
      ->capture_default_str();
  app.add_option("--dead-after", opt.dead_after, "restart an atom no code used for this many steps (0 = never)")
      ->capture_default_str();
  app.add_option("--checkpoint-every", opt.checkpoint_seconds,
                 "save the checkpoint after an epoch ending this many seconds after the last save, and after "
                 "each layer (0 = after every epoch)")
      ->capture_default_str();
  app.add_option("--device", device,
                 "where the training step runs: auto (the GPU when one is usable), cpu, or cuda (falls back to the "
                 "CPU, saying why)")
      ->capture_default_str();
  app.add_flag("-q,--quiet", quiet, "no progress lines or summary");

  CLI::App* merge = app.add_subcommand("merge", "join dictionary files of disjoint layers (or layer halves) into one");
  std::vector<std::string> inputs;
  std::string merged;
  merge->add_option("files", inputs, "dictionary files (HDF5, from lexico-train)")->required();
  merge->add_option("-o,--output", merged, "dictionary file to write (HDF5)")->required();
  if (int rc = parse_arguments(app, argc, argv); rc >= 0) return rc;

  return run_app("lexico-train", [&] {
    const auto start = std::chrono::steady_clock::now();
    if (*merge) {
      Dictionary d = merge_dictionaries(inputs);
      write_dictionary(merged, d);
      std::vector<int> held;
      for (const auto& [l, layer] : d.layers) held.push_back(l);
      if (!quiet)
        fmt::print(stderr, "lexico-train: merged {} files into {} (layers {}), content sha256 {}\n", inputs.size(),
                   merged, fmt::join(held, ","), d.content_sha256());
      return 0;
    }
    if (dumps.empty()) usage_error("dumps", "at least one KV dump is required (or the merge subcommand)");
    if (output.empty()) usage_error("--output", "is required");
    set_threads(opt.threads);
    opt.learners = device_learners(device, "lexico-train");
    if (kind != "both") opt.kinds = {kind == "keys" ? KvKind::Keys : KvKind::Values};
    if (!layers.empty()) {
      // The layer count comes from the dumps; parse against it.
      const int n_layers = KvDumpReader(dumps.front()).info().n_layers;
      opt.layers = parse_layer_list(layers, n_layers, "--layers");
    }
    const std::string ckpt = checkpoint_path(output);
    if (!quiet && resume && !std::filesystem::exists(ckpt))
      fmt::print(stderr, "lexico-train: no checkpoint {}; starting from the beginning\n", ckpt);
    if (!quiet && !resume && std::filesystem::exists(ckpt))
      fmt::print(stderr, "lexico-train: replacing the checkpoint {} of an earlier run (--resume continues it)\n", ckpt);
    const Dictionary d = train_dictionary_file(dumps, opt, output, resume, quiet ? EpochCallback{} : print_epoch);
    if (!quiet)
      fmt::print(stderr, "lexico-train: wrote {} ({} layer{}, N={}, m={}, s={}) in {:.1f} s, content sha256 {}\n",
                 output, d.layers.size(), d.layers.size() == 1 ? "" : "s", d.n_atoms, d.head_dim, opt.sparsity,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count(), d.content_sha256());
    return 0;
  });
}
