// OMP encode throughput: lexico's Batch-OMP against scikit-learn's
// orthogonal_mp_gram and SPAMS's omp on the same dictionary, vectors and
// thread count (the peers run in scripts/bench/omp_peers.py).
//
// Data per shape (m, N, s): a Gaussian dictionary with unit-norm columns, and
// vectors x = D_S c + e with |S| = s random atoms, c ~ N(0, 1) and Gaussian
// noise e scaled to ‖e‖ = 0.1·‖D_S c‖ (so the codes are meaningful but not
// exact). Flop model per vector: 2mN for α⁰ = Dᵀx plus 2Nk for the α update
// after the k-th atom, k = 1..s−1, i.e. 2mN + N·s(s−1); the O(s³) solves and
// the argmax scans are not counted.
#include <omp.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "lexico/error.h"
#include "lexico/omp.h"
#include "lexico/recon.h"

namespace fs = std::filesystem;
using namespace lexico;

namespace {

struct Shape {
  int m, n, s;
};

std::vector<Shape> parse_shapes(const std::string& text) {
  std::vector<Shape> shapes;
  std::stringstream list(text);
  std::string item;
  while (std::getline(list, item, ',')) {
    Shape shape{};
    char x1 = 0, x2 = 0;
    std::stringstream fields(item);
    if (!(fields >> shape.m >> x1 >> shape.n >> x2 >> shape.s) || x1 != 'x' || x2 != 'x' || !fields.eof())
      usage_error("--shapes", "'{}' is not MxNxS", item);
    shapes.push_back(shape);
  }
  return shapes;
}

// float32 m×n array in .npy format (version 1.0, Fortran order = column-major).
void write_npy(const fs::path& path, const Eigen::MatrixXf& a) {
  std::string header =
      fmt::format("{{'descr': '<f4', 'fortran_order': True, 'shape': ({}, {}), }}", a.rows(), a.cols());
  header.append(64 - (10 + header.size() + 1) % 64, ' ');
  header += '\n';
  std::ofstream out(path, std::ios::binary);
  out.write("\x93NUMPY\x01\x00", 8);
  const uint16_t length = uint16_t(header.size());
  out.write(reinterpret_cast<const char*>(&length), 2);
  out << header;
  out.write(reinterpret_cast<const char*>(a.data()), std::streamsize(sizeof(float) * a.size()));
  if (!out) io_error(path.string(), "cannot write");
}

struct Problem {
  Eigen::MatrixXf dictionary, vectors;
};

Problem make_problem(const Shape& shape, int n_vectors, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  Problem p;
  p.dictionary = Eigen::MatrixXf::NullaryExpr(shape.m, shape.n, [&] { return normal(rng); });
  p.dictionary.colwise().normalize();
  p.vectors.resize(shape.m, n_vectors);
  std::uniform_int_distribution<int> atom(0, shape.n - 1);
  for (int v = 0; v < n_vectors; ++v) {
    Eigen::VectorXf signal = Eigen::VectorXf::Zero(shape.m);
    for (int k = 0; k < shape.s; ++k) signal += normal(rng) * p.dictionary.col(atom(rng));
    Eigen::VectorXf noise = Eigen::VectorXf::NullaryExpr(shape.m, [&] { return normal(rng); });
    p.vectors.col(v) = signal + 0.1f * signal.norm() / noise.norm() * noise;
  }
  return p;
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// The peers' result lines: peer=NAME key=value ...
std::map<std::string, std::map<std::string, std::string>> run_peers(const std::string& command) {
  std::map<std::string, std::map<std::string, std::string>> peers;
  FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) internal_error("bench_omp", "cannot run {}", command);
  char line[4096];
  while (std::fgets(line, sizeof line, pipe)) {
    std::stringstream fields(line);
    std::string field, peer;
    std::map<std::string, std::string> values;
    while (fields >> field) {
      const size_t eq = field.find('=');
      if (eq == std::string::npos) continue;
      if (field.substr(0, eq) == "peer")
        peer = field.substr(eq + 1);
      else
        values[field.substr(0, eq)] = field.substr(eq + 1);
    }
    if (!peer.empty()) peers[peer] = values;
  }
  if (const int status = pclose(pipe); status != 0) fmt::print(stderr, "bench_omp: peers exited with {}\n", status);
  return peers;
}

double cpu_ghz() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("cpu MHz", 0) == 0) return std::stod(line.substr(line.find(':') + 1)) / 1000.0;
  return 0.0;
}

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown";
}

std::string format_rate(double per_s) { return per_s > 0 ? fmt::format("{:.0f}", per_s) : "n/a"; }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Batch-OMP encode throughput against scikit-learn and SPAMS"};
  int threads = 0, n_vectors = 20000, sklearn_vectors = 200, repeats = 3;
  std::string shapes_text = "64x4096x8,128x4096x16,128x4096x32";
  std::string python = "python3";
  std::string peers_script = (fs::path(__FILE__).parent_path().parent_path() / "scripts/bench/omp_peers.py").string();
  bool no_peers = false;
  app.add_option("--threads", threads, "threads for lexico and SPAMS (0 = all cores)")->check(CLI::NonNegativeNumber);
  app.add_option("--vectors", n_vectors, "vectors per shape (lexico and SPAMS)")->check(CLI::PositiveNumber);
  app.add_option("--sklearn-vectors", sklearn_vectors, "vectors for scikit-learn (slow)")->check(CLI::PositiveNumber);
  app.add_option("--shapes", shapes_text, "comma-separated MxNxS (dimension x atoms x sparsity)");
  app.add_option("--repeats", repeats, "timed runs per engine; the fastest counts")->check(CLI::PositiveNumber);
  app.add_option("--python", python, "Python with numpy, scikit-learn and spams-bin");
  app.add_option("--peers-script", peers_script, "path of omp_peers.py");
  app.add_flag("--no-peers", no_peers, "time lexico only");
  CLI11_PARSE(app, argc, argv);

  try {
    const std::vector<Shape> shapes = parse_shapes(shapes_text);
    if (threads == 0) threads = omp_get_max_threads();
    const double ghz = cpu_ghz();
    const double peak = threads * ghz * 32.0;
    const fs::path temp = fs::temp_directory_path() / fmt::format("lexico-bench-omp-{}", getpid());
    fs::create_directories(temp);

    fmt::print("CPU: {} | threads: {} | {} vectors per shape (scikit-learn: {})\n", cpu_model(), threads, n_vectors,
               sklearn_vectors);
    fmt::print("vectors: s-sparse combinations of random atoms + 10% Gaussian noise\n");
    fmt::print("flops per vector: 2mN + N*s*(s-1)   (alpha0 = D^T x, then the alpha updates)\n");
    fmt::print("peak: cores used (= threads) x GHz (/proc/cpuinfo) x 32 fp32 flops/cycle (AVX2: 2 FMA units x 8 "
               "lanes x 2)\n      = {} x {:.2f} x 32 = {:.1f} GFLOP/s\n",
               threads, ghz, peak);
    fmt::print("SPAMS net: its rate after subtracting a 16-vector call (its per-call D^T D and setup);\n"
               "ratios use net. lexico's D^T D is built once per dictionary (gram_s), outside the timed encode\n\n");
    fmt::print("{:>12} {:>10} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8} {:>7} {:>7} {:>7}\n", "m x N x s", "lexico/s",
               "sklearn/s", "SPAMS/s", "SPAMSnet/s", "x sklearn", "x SPAMS", "GFLOP/s", "% peak", "RRE", "gram_s");

    OmpOptions options;
    options.threads = threads;
    for (const Shape& shape : shapes) {
      const Problem problem = make_problem(shape, n_vectors, 1234);
      auto start = std::chrono::steady_clock::now();
      const OmpEncoder encoder(problem.dictionary);
      const double gram_seconds = seconds_since(start);
      options.sparsity = shape.s;
      encoder.encode(problem.vectors.leftCols(std::min(n_vectors, 1000)), options);  // warm-up
      double best = 1e300;
      SparseCoefs codes;
      for (int r = 0; r < repeats; ++r) {
        start = std::chrono::steady_clock::now();
        codes = encoder.encode(problem.vectors, options);
        best = std::min(best, seconds_since(start));
      }
      const double lexico_rate = n_vectors / best;
      const double flops = 2.0 * shape.m * shape.n + double(shape.n) * shape.s * (shape.s - 1);
      const double gflops = lexico_rate * flops / 1e9;
      const std::vector<double> errors = relative_errors(problem.vectors, reconstruct(encoder.dictionary(), codes));
      const double rre = rre_stats(errors).mean;

      double sklearn_rate = 0, spams_rate = 0, spams_net_rate = 0;
      if (!no_peers) {
        write_npy(temp / "dictionary.npy", problem.dictionary);
        write_npy(temp / "vectors.npy", problem.vectors);
        const std::string command = fmt::format(
            "'{}' '{}' --dictionary '{}' --vectors '{}' --sparsity {} --threads {} --sklearn-vectors {} --repeats {}",
            python, peers_script, (temp / "dictionary.npy").string(), (temp / "vectors.npy").string(), shape.s,
            threads, sklearn_vectors, repeats);
        for (const auto& [peer, values] : run_peers(command)) {
          if (values.count("unavailable")) {
            fmt::print("  {} unavailable: {}\n", peer, values.at("unavailable"));
            continue;
          }
          const double count = std::stod(values.at("vectors")), seconds = std::stod(values.at("seconds"));
          const std::vector<double> same(errors.begin(), errors.begin() + int64_t(count));
          fmt::print("  {}: {} vectors in {:.3f} s, mean RRE {} (lexico on them: {:.6g}), nnz {}{}\n", peer, count,
                     seconds, values.at("mean_rre"), rre_stats(same).mean, values.at("nnz"),
                     values.count("overhead_s")
                         ? fmt::format(", {}-vector call {} s", values.at("overhead_vectors"), values.at("overhead_s"))
                         : "");
          if (std::stod(values.at("nnz")) < count * shape.s)
            fmt::print("  WARNING: {} returned fewer than s atoms per vector\n", peer);
          if (peer == "sklearn") sklearn_rate = count / seconds;
          if (peer == "spams") {
            spams_rate = count / seconds;
            const double overhead_vectors = std::stod(values.at("overhead_vectors"));
            spams_net_rate = (count - overhead_vectors) / std::max(seconds - std::stod(values.at("overhead_s")), 1e-9);
          }
        }
      }
      auto ratio = [&](double peer_rate) {
        return peer_rate > 0 ? fmt::format("{:.1f}", lexico_rate / peer_rate) : std::string("n/a");
      };
      fmt::print("{:>12} {:>10.0f} {:>10} {:>10} {:>10} {:>10} {:>8} {:>8.1f} {:>6.1f}% {:>7.4f} {:>7.3f}\n",
                 fmt::format("{}x{}x{}", shape.m, shape.n, shape.s), lexico_rate, format_rate(sklearn_rate),
                 format_rate(spams_rate), format_rate(spams_net_rate), ratio(sklearn_rate), ratio(spams_net_rate),
                 gflops, 100.0 * gflops / peak, rre, gram_seconds);
    }
    fs::remove_all(temp);
  } catch (const Error& e) {
    fmt::print(stderr, "bench_omp: {}\n", e.what());
    return e.exit_code();
  }
  return 0;
}
