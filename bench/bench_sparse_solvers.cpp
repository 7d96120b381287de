// OMP against its alternatives on real KV vectors: reconstruction error and
// speed of Batch-OMP, iterative hard thresholding, Lasso (coordinate descent)
// and beam-search OMP, all at the same sparsity s, on the same vectors, with
// the same dictionary and thread count.
//
// IHT and Lasso can trade time for accuracy, so each is run at compute
// budgets stated as multiples of OMP's encode time (--budgets, default 1×
// and 10×). A budget is filled by calibration on separate vectors (the
// tokens after the evaluated ones): every configuration of a grid (IHT:
// normalized or fixed step × iterations; Lasso: λ-path ratio × sweeps per λ)
// is timed and scored there, and the one with the lowest error whose time is
// within the budget is then run on the evaluated vectors. When even the
// cheapest configuration exceeds a budget, the cheapest is used and its time
// ratio shows it. Errors are RRE ‖x − Dy‖/‖x‖ of float coefficients (no FP8),
// pooled over the layers. Times are CPU seconds of the encode calls (the
// dictionary's Gram matrix, built once per dictionary, is not counted), on
// one thread by default: every solver parallelizes the same way (blocks of
// vectors), and one thread's CPU time is what other jobs on a shared machine
// disturb least; vectors/s is per CPU-second.
#include <fmt/format.h>
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cmath>
#include <ctime>
#include <fstream>
#include <functional>
#include <limits>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "lexico/cli.h"
#include "lexico/cli_parse.h"
#include "lexico/dictionary.h"
#include "lexico/error.h"
#include "lexico/iht.h"
#include "lexico/kv_dump.h"
#include "lexico/lasso.h"
#include "lexico/omp.h"
#include "lexico/omp_beam.h"
#include "lexico/recon.h"

using namespace lexico;

namespace {

std::vector<double> parse_numbers(const std::string& text, const std::string& where) {
  std::vector<double> numbers;
  std::stringstream list(text);
  std::string item;
  while (std::getline(list, item, ',')) {
    size_t used = 0;
    double value = 0;
    try {
      value = std::stod(item, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (used == 0 || used != item.size() || !(value > 0)) usage_error(where, "'{}' is not a positive number", item);
    numbers.push_back(value);
  }
  if (numbers.empty()) usage_error(where, "is empty");
  return numbers;
}

std::vector<int> parse_counts(const std::string& text, const std::string& where) {
  std::vector<int> counts;
  for (double value : parse_numbers(text, where)) {
    if (value != std::floor(value)) usage_error(where, "'{}' is not a whole number", value);
    counts.push_back(int(value));
  }
  return counts;
}

std::vector<KvKind> parse_kinds(const std::string& text) {
  std::vector<KvKind> kinds;
  std::stringstream list(text);
  std::string item;
  while (std::getline(list, item, ','))
    if (item == "keys")
      kinds.push_back(KvKind::Keys);
    else if (item == "values")
      kinds.push_back(KvKind::Values);
    else
      usage_error("--kinds", "'{}' is neither keys nor values", item);
  if (kinds.empty()) usage_error("--kinds", "is empty");
  return kinds;
}

// CPU time of the whole process (all its threads): on a shared machine,
// wall time counts other jobs' load; CPU time mostly does not.
double cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return double(t.tv_sec) + 1e-9 * double(t.tv_nsec);
}

// One layer's vectors for one kind: the evaluated ones and, after them in
// the dump, the calibration ones; m × count, one vector per column.
struct LayerVectors {
  int layer;
  Eigen::MatrixXf eval, calibration;
};

Eigen::MatrixXf read_vectors(const KvDumpReader& dump, int layer, KvKind kind, int64_t first_vector, int count) {
  const int heads = dump.info().n_kv_heads, m = dump.info().head_dim;
  const int64_t token0 = first_vector / heads, tokens = (first_vector + count + heads - 1) / heads - token0;
  const std::vector<float> rows = dump.read(layer, kind, token0, tokens);
  return Eigen::Map<const Eigen::MatrixXf>(rows.data(), m, tokens * heads)
      .middleCols(first_vector - token0 * heads, count);
}

// What a configuration costs and achieves on a set of vectors.
struct Outcome {
  double seconds = 0.0;
  std::vector<double> errors;
};

// One solver configuration, runnable on any layer's dictionary.
struct Config {
  std::string solver;  // OMP, IHT, Lasso, beam-OMP
  std::string label;   // its parameters
  std::function<SparseCoefs(int layer, const Eigen::MatrixXf& x)> encode;
};

// Runs a configuration on every layer's vectors (eval or calibration) and
// keeps each layer's fastest time of up to `repeats` runs; runs stop once a
// layer has taken kRepeatSeconds, so only short (noisy) timings repeat.
constexpr double kRepeatSeconds = 0.2;

Outcome run(const Config& config, const std::vector<LayerVectors>& layers, bool calibration,
            const std::map<int, const Eigen::MatrixXf*>& dictionaries, int repeats) {
  Outcome outcome;
  for (const LayerVectors& lv : layers) {
    const Eigen::MatrixXf& x = calibration ? lv.calibration : lv.eval;
    double best = std::numeric_limits<double>::infinity(), spent = 0.0;
    SparseCoefs codes;
    for (int r = 0; r < repeats && spent < kRepeatSeconds; ++r) {
      const double start = cpu_seconds();
      codes = config.encode(lv.layer, x);
      const double seconds = cpu_seconds() - start;
      best = std::min(best, seconds);
      spent += seconds;
    }
    outcome.seconds += best;
    const std::vector<double> errors = relative_errors(x, reconstruct(*dictionaries.at(lv.layer), codes));
    outcome.errors.insert(outcome.errors.end(), errors.begin(), errors.end());
  }
  return outcome;
}

double mean_of(const std::vector<double>& errors) { return rre_stats(errors).mean; }

struct Row {
  std::string kind;
  int s;
  std::string solver, budget, config;
  RreStats rre;
  double vectors_per_cpu_s, time_ratio;
};

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"RRE and speed of OMP, IHT, Lasso and beam-search OMP on the same KV vectors"};
  std::string dump_path, dictionary_path, layers_text, kinds_text = "keys,values", sparsity_text = "4,8,16,32";
  std::string budgets_text = "1,10", beams_text = "1,2,4", tsv_path;
  int n_vectors = 2048, n_calibration = 512, threads = 1, repeats = 3;
  app.add_option("dump", dump_path, "KV dump (lexico-harvest) holding the evaluated vectors")->required();
  app.add_option("dictionary", dictionary_path, "dictionary file (lexico-train)")->required();
  app.add_option("--layers", layers_text, "layers, e.g. 0,15,29 or 0-3 (default: every layer of the dictionary)");
  app.add_option("--kinds", kinds_text, "keys, values or both");
  app.add_option("--sparsity", sparsity_text, "comma-separated s values");
  app.add_option("--vectors", n_vectors, "evaluated vectors per layer and kind")->check(CLI::PositiveNumber);
  app.add_option("--calibration", n_calibration, "vectors per layer and kind used to fit the IHT/Lasso budgets")
      ->check(CLI::PositiveNumber);
  app.add_option("--budgets", budgets_text, "IHT/Lasso time budgets as multiples of OMP's time");
  app.add_option("--beams", beams_text,
                 "beam widths B for beam-search OMP (B = 1: the beam code's own cost of plain OMP)");
  app.add_option("--threads", threads, "threads for every solver (0 = all cores; times add up over threads)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--repeats", repeats,
                 "timed runs of a configuration while they take < 0.2 s per layer; the fastest counts")
      ->check(CLI::PositiveNumber);
  app.add_option("--tsv", tsv_path, "also write the table as TSV here");
  if (const int code = parse_arguments(app, argc, argv); code >= 0) return code;

  return run_app("bench_sparse_solvers", [&] {
    const std::vector<int> sparsities = parse_counts(sparsity_text, "--sparsity");
    const std::vector<double> budgets = parse_numbers(budgets_text, "--budgets");
    const std::vector<int> beams = parse_counts(beams_text, "--beams");
    const std::vector<KvKind> kinds = parse_kinds(kinds_text);
    const KvDumpReader dump(dump_path);
    const Dictionary dictionary = read_dictionary(dictionary_path);
    std::vector<int> layers;
    if (layers_text.empty())
      for (const auto& [layer, unused] : dictionary.layers) layers.push_back(layer);
    else
      layers = parse_layer_list(layers_text, dump.info().n_layers, "--layers");
    check_compatible(dictionary, dictionary_path, dump.info(), dump_path, layers);
    const int heads = dump.info().n_kv_heads;
    const int64_t needed_tokens = (int64_t(n_vectors) + n_calibration + heads - 1) / heads;
    if (dump.n_tokens() < needed_tokens)
      usage_error("--vectors", "{} + {} calibration vectors need {} tokens of {} heads; {} has {}", n_vectors,
                  n_calibration, needed_tokens, heads, dump_path, dump.n_tokens());
    const int max_s = *std::max_element(sparsities.begin(), sparsities.end());
    if (max_s > std::min(dictionary.head_dim, dictionary.n_atoms))
      usage_error("--sparsity", "{} exceeds min(m = {}, N = {})", max_s, dictionary.head_dim, dictionary.n_atoms);
    const double max_budget = *std::max_element(budgets.begin(), budgets.end());
    set_threads(threads);

    fmt::print("{}: m = {}, N = {}, layers {}, {} vectors per layer and kind ({} for calibration), threads: {}\n",
               dictionary_path, dictionary.head_dim, dictionary.n_atoms, fmt::join(layers, ","), n_vectors,
               n_calibration, threads > 0 ? threads : omp_get_max_threads());
    fmt::print("{:<6} {:>3}  {:<9} {:>6}  {:<24} {:>8} {:>8} {:>11} {:>9}\n", "kind", "s", "solver", "budget", "config",
               "RRE", "RRE std", "vec/cpu-s", "time/OMP");
    std::vector<Row> rows;
    for (KvKind kind : kinds) {
      const std::string kind_name = kv_kind_name(kind);
      std::vector<LayerVectors> vectors;
      std::map<int, const Eigen::MatrixXf*> dictionaries;
      std::map<int, OmpEncoder> omp;
      std::map<int, IhtEncoder> iht;
      std::map<int, LassoEncoder> lasso;
      std::map<int, BeamOmpEncoder> beam;
      for (int layer : layers) {
        vectors.push_back({layer, read_vectors(dump, layer, kind, 0, n_vectors),
                           read_vectors(dump, layer, kind, int64_t(n_vectors), n_calibration)});
        const Eigen::MatrixXf& d = dictionary.at(layer, kind);
        dictionaries[layer] = &d;
        omp.emplace(layer, d);
        iht.emplace(layer, d);
        lasso.emplace(layer, d);
        beam.emplace(layer, d);
      }
      for (int s : sparsities) {
        const Config omp_config{"OMP", "Batch-OMP", [&, s](int layer, const Eigen::MatrixXf& x) {
                                  OmpOptions o;
                                  o.sparsity = s;
                                  o.threads = threads;
                                  return omp.at(layer).encode(x, o);
                                }};
        // The grid: for each IHT step and Lasso path ratio, configurations
        // in increasing cost, stopped once one exceeds the largest budget.
        std::vector<std::vector<Config>> families;
        for (IhtStep step : {IhtStep::Normalized, IhtStep::Fixed}) {
          std::vector<Config> family;
          for (int iterations : {1, 2, 3, 4, 6, 8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512})
            family.push_back({"IHT",
                              fmt::format("{} it={}", step == IhtStep::Normalized ? "NIHT" : "fixed-step", iterations),
                              [&, s, step, iterations](int layer, const Eigen::MatrixXf& x) {
                                return iht.at(layer).encode(x, IhtOptions{s, iterations, step, threads});
                              }});
          families.push_back(std::move(family));
        }
        for (double ratio : {0.5, 0.7, 0.85, 0.95}) {
          std::vector<Config> family;
          for (int sweeps : {1, 2, 4, 8, 16, 32, 64})
            family.push_back({"Lasso", fmt::format("ratio={} sweeps={}", ratio, sweeps),
                              [&, s, ratio, sweeps](int layer, const Eigen::MatrixXf& x) {
                                return lasso.at(layer).encode(x, LassoOptions{s, ratio, sweeps, 1e-4, threads});
                              }});
          families.push_back(std::move(family));
        }

        const double omp_calibration_seconds = run(omp_config, vectors, true, dictionaries, repeats).seconds;
        struct Scored {
          const Config* config;
          double seconds, rre;
        };
        std::vector<Scored> scored;
        for (const auto& family : families)
          for (const Config& config : family) {
            const Outcome o = run(config, vectors, true, dictionaries, repeats);
            scored.push_back({&config, o.seconds, mean_of(o.errors)});
            if (o.seconds > 1.25 * max_budget * omp_calibration_seconds) break;
          }

        const Outcome omp_outcome = run(omp_config, vectors, false, dictionaries, repeats);
        const double total = double(omp_outcome.errors.size());
        auto add_row = [&](const std::string& solver, const std::string& budget, const std::string& label,
                           const Outcome& o) {
          rows.push_back({kind_name, s, solver, budget, label, rre_stats(o.errors), total / o.seconds,
                          o.seconds / omp_outcome.seconds});
          const Row& r = rows.back();
          fmt::print("{:<6} {:>3}  {:<9} {:>6}  {:<24} {:>8.4f} {:>8.4f} {:>11.0f} {:>9.2f}\n", r.kind, r.s, r.solver,
                     r.budget, r.config, r.rre.mean, r.rre.std, r.vectors_per_cpu_s, r.time_ratio);
          std::fflush(stdout);
        };
        add_row("OMP", "-", omp_config.label, omp_outcome);
        for (const std::string solver : {"IHT", "Lasso"})
          for (double budget : budgets) {
            const Scored* pick = nullptr;
            const Scored* cheapest = nullptr;
            for (const Scored& c : scored) {
              if (c.config->solver != solver) continue;
              if (!cheapest || c.seconds < cheapest->seconds) cheapest = &c;
              if (c.seconds <= budget * omp_calibration_seconds && (!pick || c.rre < pick->rre)) pick = &c;
            }
            if (!pick) pick = cheapest;
            add_row(solver, fmt::format("{:g}x", budget), pick->config->label,
                    run(*pick->config, vectors, false, dictionaries, repeats));
          }
        for (int width : beams) {
          const Config config{"beam-OMP", fmt::format("B={}", width),
                              [&, s, width](int layer, const Eigen::MatrixXf& x) {
                                return beam.at(layer).encode(x, BeamOmpOptions{s, width, threads});
                              }};
          add_row(config.solver, "-", config.label, run(config, vectors, false, dictionaries, repeats));
        }
      }
    }

    if (!tsv_path.empty()) {
      std::ofstream tsv(tsv_path);
      tsv << "kind\ts\tsolver\tbudget\tconfig\trre_mean\trre_std\tvectors_per_cpu_s\ttime_over_"
             "omp\tvectors\tm\tN\tlayers\n";
      for (const Row& r : rows)
        tsv << fmt::format("{}\t{}\t{}\t{}\t{}\t{:.6f}\t{:.6f}\t{:.1f}\t{:.3f}\t{}\t{}\t{}\t{}\n", r.kind, r.s,
                           r.solver, r.budget, r.config, r.rre.mean, r.rre.std, r.vectors_per_cpu_s, r.time_ratio,
                           r.rre.count, dictionary.head_dim, dictionary.n_atoms, fmt::join(layers, ","));
      if (!tsv) io_error(tsv_path, "cannot write");
    }
    return 0;
  });
}
