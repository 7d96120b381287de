// lexico-eval: scores compression. Modes: recon (reconstruction error of
// sparse codes against the KV dump they encode).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "lexico/cli.h"
#include "lexico/cli_parse.h"
#include "lexico/codes_file.h"
#include "lexico/dump_encoding.h"
#include "lexico/error.h"
#include "lexico/report_format.h"

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
  if (int rc = parse_arguments(app, argc, argv); rc >= 0) return rc;

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
