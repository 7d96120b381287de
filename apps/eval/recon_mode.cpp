// lexico-eval recon: relative reconstruction error of sparse codes against
// the KV dump they encode (encoding now, or reading a codes file).
#include <cstdio>
#include <memory>

#include "../device_option.h"
#include "eval_modes.h"
#include "lexico/cli.h"
#include "lexico/codes_file.h"
#include "lexico/dump_encoding.h"
#include "lexico/error.h"
#include "lexico/report_format.h"

namespace lexico::eval_app {

namespace {
struct ReconArgs {
  std::string dump_path, dict_path, codes_path, layers, device = "auto";
  DumpEncodingOptions opt;
  bool json = false;
};

int run_recon(ReconArgs& a) {
  set_threads(a.opt.omp.threads);
  if (!(a.opt.omp.tolerance >= 0 && a.opt.omp.tolerance < 1))
    usage_error("--delta", "must lie in [0, 1), not {}", a.opt.omp.tolerance);
  KvDumpReader dump(a.dump_path);
  if (a.opt.omp.sparsity < 1 || a.opt.omp.sparsity > dump.info().head_dim)
    usage_error("--sparsity", "must lie in 1..{} (head_dim of {}), not {}", dump.info().head_dim, a.dump_path,
                a.opt.omp.sparsity);
  Dictionary dict = read_dictionary(a.dict_path);
  if (!a.layers.empty()) a.opt.layers = parse_layer_list(a.layers, dump.info().n_layers, "--layers");
  EncodingReport report;
  if (a.codes_path.empty()) {
    a.opt.encoders = device_encoders(a.device, "lexico-eval");
    const auto n_layers = a.opt.layers.empty() ? dump.info().layers.size() : a.opt.layers.size();
    Progress progress("recon", static_cast<int64_t>(2 * n_layers) * dump.n_tokens() * dump.info().n_kv_heads,
                      "vectors");
    encode_dump(dump, dict, a.dict_path, a.opt, &report, &progress);
  } else {
    CodesFile codes = read_codes(a.codes_path);
    report = evaluate_codes(dump, dict, a.dict_path, codes, a.codes_path, a.opt.layers);
  }
  std::fputs((a.json ? recon_report_json(report) : recon_report_table(report)).c_str(), stdout);
  return 0;
}
}  // namespace

Mode add_recon(CLI::App& app) {
  auto a = std::make_shared<ReconArgs>();
  CLI::App* recon = app.add_subcommand("recon", "relative reconstruction error (RRE) per layer of keys and values");
  recon->add_option("dump", a->dump_path, "KV dump (HDF5)")->required();
  recon->add_option("-d,--dictionary", a->dict_path, "dictionary file (HDF5)")->required();
  recon->add_option("-c,--codes", a->codes_path, "codes file to score (default: encode the dump now)");
  recon->add_option("-s,--sparsity", a->opt.omp.sparsity, "atoms per vector when encoding now")->capture_default_str();
  recon->add_option("--delta", a->opt.omp.tolerance, "relative tolerance when encoding now")->capture_default_str();
  recon->add_flag("--fp8-refit", a->opt.omp.fp8_refit, "refit coefficients around their FP8 rounding");
  recon->add_option("-l,--layers", a->layers, "layers to score, e.g. 0-3,7 (default: all)");
  recon->add_option("-t,--threads", a->opt.omp.threads, "threads (0 = all cores)")->capture_default_str();
  recon->add_option("--device", a->device, kDeviceHelp)->capture_default_str();
  recon->add_flag("--json", a->json, "print JSON instead of a table");
  return {recon, [a] { return run_recon(*a); }};
}

}  // namespace lexico::eval_app
