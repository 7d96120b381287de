// lexico-harvest: writes a KV dump. For now: synthetic dumps for tests and
// demos (--synthetic); model runs come with the model runtime.
#include <CLI/CLI.hpp>

#include "lexico/cli.h"
#include "lexico/error.h"
#include "lexico/kv_dump.h"

using namespace lexico;

int main(int argc, char** argv) {
  CLI::App app{"Dump the keys and values of a model run (or a synthetic stand-in) to a KV dump.", "lexico-harvest"};
  std::string out_path;
  bool synthetic = false;
  SyntheticDumpSpec spec;
  app.add_option("-o,--output", out_path, "KV dump to write (HDF5)")->required();
  app.add_flag("--synthetic", synthetic, "write vectors that are sparse combinations of a hidden dictionary");
  app.add_option("--n-layers", spec.n_layers, "synthetic: layers")->capture_default_str();
  app.add_option("--n-kv-heads", spec.n_kv_heads, "synthetic: KV heads")->capture_default_str();
  app.add_option("--head-dim", spec.head_dim, "synthetic: head dimension")->capture_default_str();
  app.add_option("--tokens", spec.n_tokens, "synthetic: tokens")->capture_default_str();
  app.add_option("--hidden-atoms", spec.hidden_atoms, "synthetic: atoms of the hidden dictionary")
      ->capture_default_str();
  app.add_option("--hidden-sparsity", spec.hidden_sparsity, "synthetic: atoms per vector")->capture_default_str();
  app.add_option("--noise", spec.noise, "synthetic: noise standard deviation")->capture_default_str();
  app.add_option("--seed", spec.seed, "random seed")->capture_default_str();
  app.add_flag("--fp16", spec.fp16, "store keys and values as float16");
  app.set_version_flag("--version", "lexico-harvest " LEXICO_VERSION);
  CLI11_PARSE(app, argc, argv);

  return run_app("lexico-harvest", [&] {
    if (!synthetic) usage_error("lexico-harvest", "model harvesting is not available yet; use --synthetic");
    write_synthetic_dump(out_path, spec);
    return 0;
  });
}
