// The CPU forward pass on a GGUF model's weights as the file stores them
// (WeightMatrix blocks: dequantized a 64-row slice at a time for matrix
// products, read directly by a decoding step's dot products for Q4_0, Q4_1
// and Q8_0) against the same model on float32 weights dequantized at load
// (the reference, which lexico used until 2026-11-27), in the same run:
// memory of the weight matrices, prefill and decode time, and the largest
// difference of the logits.
//
//   bench_model_weights --model M.gguf [--prompt 256] [--decode 64] [--rounds 3] [--threads T]
//
// Prefill: --prompt tokens in one forward pass (all logits). Decode: then
// --decode tokens one at a time. Full FP32 cache. The two models alternate
// round by round so that load from other processes falls on both; medians.
#include <omp.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <vector>

#include "lexico/full_cache.h"
#include "lexico/model.h"
#include "lexico/synthetic_model.h"

using namespace lexico;
using Clock = std::chrono::steady_clock;

namespace {

struct Timing {
  double prefill_ms = 0, decode_ms = 0;
  Matrix logits;  // the prefill's, then every decode step's
};

Timing run(const Model& m, const std::vector<int>& tokens, int prompt) {
  Timing r;
  FullCache cache(m.config().cache_shape());
  auto t0 = Clock::now();
  r.logits = m.forward(std::span<const int>(tokens.data(), size_t(prompt)), 0, cache, Logits::All);
  auto t1 = Clock::now();
  const int n = int(tokens.size()) - prompt;
  r.logits.conservativeResize(prompt + n, Eigen::NoChange);
  for (int i = 0; i < n; ++i)
    r.logits.row(prompt + i) = m.forward(std::span<const int>(tokens.data() + prompt + i, 1), prompt + i, cache);
  auto t2 = Clock::now();
  r.prefill_ms = std::chrono::duration<double>(t1 - t0).count() * 1e3;
  r.decode_ms = std::chrono::duration<double>(t2 - t1).count() * 1e3 / std::max(n, 1);
  return r;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"CPU forward on block weights against float32 weights"};
  std::string model_path;
  int prompt = 256, decode = 64, rounds = 3, threads = 0;
  app.add_option("-m,--model", model_path, "GGUF model")->required()->check(CLI::ExistingFile);
  app.add_option("--prompt", prompt, "prefill tokens")->check(CLI::Range(1, 4096));
  app.add_option("--decode", decode, "decoded tokens")->check(CLI::Range(1, 4096));
  app.add_option("--rounds", rounds, "rounds (median)")->check(CLI::Range(1, 100));
  app.add_option("-t,--threads", threads, "threads (0 = all cores)");
  CLI11_PARSE(app, argc, argv);
  if (threads > 0) omp_set_num_threads(threads);

  const Model blocks = Model::load(model_path);
  Weights w = blocks.weights();
  for (LayerWeights& l : w.layers)
    for (WeightMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) *m = WeightMatrix(m->dense());
  w.token_embedding = WeightMatrix(w.token_embedding.dense());
  if (w.output.size()) w.output = WeightMatrix(w.output.dense());
  const Model dense(blocks.config(), std::move(w));
  const std::vector<int> tokens = synthetic_tokens(prompt + decode, blocks.config().vocab_size, 1);

  char date[32];
  const std::time_t now = std::time(nullptr);
  std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));
  std::printf("bench_model_weights  %s  %s  %d threads; %d-token prefill, %d decoded tokens, %d rounds (medians)\n",
              date, model_path.c_str(), omp_get_max_threads(), prompt, decode, rounds);
  std::vector<double> pb, pd, db, dd;
  float worst_prefill = 0, worst_decode = 0, scale = 0;
  for (int r = 0; r < rounds; ++r) {
    const Timing a = run(blocks, tokens, prompt), b = run(dense, tokens, prompt);
    pb.push_back(a.prefill_ms), db.push_back(a.decode_ms), pd.push_back(b.prefill_ms), dd.push_back(b.decode_ms);
    const Matrix diff = (a.logits - b.logits).cwiseAbs();
    worst_prefill = std::max(worst_prefill, diff.topRows(prompt).maxCoeff());
    worst_decode = std::max(worst_decode, diff.bottomRows(decode).maxCoeff());
    scale = std::max(scale, b.logits.cwiseAbs().maxCoeff());
  }
  std::printf("| weights | matrix MiB | prefill ms | decode ms/token |\n| --- | --- | --- | --- |\n");
  std::printf("| as stored (blocks) | %.1f | %.1f | %.2f |\n", blocks.weights().matrix_bytes() / 1048576.0, median(pb),
              median(db));
  std::printf("| float32 (reference) | %.1f | %.1f | %.2f |\n", dense.weights().matrix_bytes() / 1048576.0, median(pd),
              median(dd));
  std::printf("ratios (reference / blocks): memory x%.2f, prefill x%.2f, decode x%.2f\n",
              double(dense.weights().matrix_bytes()) / double(blocks.weights().matrix_bytes()), median(pd) / median(pb),
              median(dd) / median(db));
  std::printf("largest logit difference: prefill %g, decode %g (largest |logit| %g)\n", worst_prefill, worst_decode,
              scale);
  return 0;
}
