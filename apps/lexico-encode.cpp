// lexico-encode: KV dump + dictionary → codes file (OMP, FP8 coefficients).
#include <CLI/CLI.hpp>
#include <cstdio>

#include "lexico/cli.h"
#include "lexico/cli_parse.h"
#include "lexico/codes_file.h"
#include "lexico/dump_encoding.h"
#include "lexico/error.h"
#include "device_option.h"

using namespace lexico;

int main(int argc, char** argv) {
  CLI::App app{"Encode the keys and values of a KV dump as sparse codes over a dictionary.", "lexico-encode"};
  std::string dump_path, dict_path, out_path, layers, device = "auto";
  DumpEncodingOptions opt;
  bool quiet = false;
  app.add_option("dump", dump_path, "KV dump (HDF5, from lexico-harvest)")->required();
  app.add_option("-d,--dictionary", dict_path, "dictionary file (HDF5, from lexico-train)")->required();
  app.add_option("-o,--output", out_path, "codes file to write (HDF5)")->required();
  app.add_option("-s,--sparsity", opt.omp.sparsity, "atoms per vector, at most (s)")->capture_default_str();
  app.add_option("--delta", opt.omp.tolerance, "stop early once ||r|| <= delta*||x|| (0 = always s atoms)")
      ->capture_default_str();
  app.add_flag("--fp8-refit", opt.omp.fp8_refit, "refit coefficients around their FP8 rounding");
  app.add_option("-l,--layers", layers, "layers to encode, e.g. 0-3,7 (default: all in the dump)");
  app.add_option("-t,--threads", opt.omp.threads, "threads (0 = all cores)")->capture_default_str();
  app.add_option("--device", device, kDeviceHelp)->capture_default_str();
  app.add_flag("-q,--quiet", quiet, "no summary line");
  app.set_version_flag("--version", "lexico-encode " LEXICO_VERSION);
  if (int rc = parse_arguments(app, argc, argv); rc >= 0) return rc;

  return run_app("lexico-encode", [&] {
    set_threads(opt.omp.threads);
    if (opt.omp.sparsity < 1) usage_error("--sparsity", "must be at least 1, not {}", opt.omp.sparsity);
    if (!(opt.omp.tolerance >= 0 && opt.omp.tolerance < 1))
      usage_error("--delta", "must lie in [0, 1), not {}", opt.omp.tolerance);
    opt.encoders = device_encoders(device, "lexico-encode");
    KvDumpReader dump(dump_path);
    if (opt.omp.sparsity > dump.info().head_dim)
      usage_error("--sparsity", "{} exceeds head_dim {} of {}", opt.omp.sparsity, dump.info().head_dim, dump_path);
    Dictionary dict = read_dictionary(dict_path);
    opt.layers = layers.empty() ? dump.info().layers : parse_layer_list(layers, dump.info().n_layers, "--layers");
    const int64_t total = static_cast<int64_t>(2 * opt.layers.size()) * dump.n_tokens() * dump.info().n_kv_heads;
    Progress progress("encode", total, "vectors");
    EncodingReport report;
    CodesFile codes = encode_dump(dump, dict, dict_path, opt, &report, &progress);
    progress.finish();
    write_codes(out_path, codes);
    if (!quiet) {
      const RreStats k = report.overall(KvKind::Keys), v = report.overall(KvKind::Values);
      fmt::print(stderr,
                 "lexico-encode: {} vectors, {} bytes, {:.2f} bytes/vector, KV size {:.2f}% of FP16, "
                 "mean RRE keys {:.4f} values {:.4f}\n",
                 report.vectors(), report.csr_bytes(), double(report.csr_bytes()) / report.vectors(),
                 100.0 * report.csr_bytes() / report.fp16_bytes(), k.mean, v.mean);
    }
    return 0;
  });
}
