// GpuDictionaryLearner against CpuDictionaryLearner (lib/sparse/dictionary_training_step.cpp).
//
// Tolerances: the first step starts from one dictionary, so its loss differs
// only by the OMP's float rounding (≤ 1e-5 relative). Later steps start from
// dictionaries that differ in float rounding; an OMP near-tie may then code a
// vector the other way, which moves the gradient of the atoms involved, so
// the dictionaries are compared atom by atom (≥ 98 % within 1e-3) and by the
// validation RRE they give (≤ 1e-3 relative). Restarts, checkpoints and
// repeated runs are compared exactly.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "gpu_test.h"
#include "lexico/cuda/dictionary_learner.h"
#include "lexico/cuda/select.h"
#include "lexico/dictionary_training_step.h"
#include "lexico/error.h"
#include "lexico/omp.h"
#include "lexico/recon.h"

using namespace lexico;
using namespace lexico::cuda;
using namespace lexico::cuda::test;

namespace {

LearnerOptions options(int s, int dead_after) {
  LearnerOptions o;
  o.sparsity = s;
  o.dead_after = dead_after;
  return o;
}

}  // namespace

TEST_CASE("GPU learner: takes the CPU learner's steps to float tolerance") {
  LEXICO_REQUIRE_GPU();
  const int m = 64, n = 512, b = 2000;
  const Eigen::MatrixXf hidden = test::random_dictionary(m, n, 11);
  const Eigen::MatrixXf train = mixed_vectors(hidden, 5 * b, 6, 12), val = mixed_vectors(hidden, 3000, 6, 13);
  const Eigen::MatrixXf init = test::random_dictionary(m, n, 14);
  const LearnerOptions o = options(8, 2);
  CpuDictionaryLearner cpu(init, o);
  GpuDictionaryLearner gpu(init, o);
  for (int step = 0; step < 5; ++step) {
    const auto batch = train.middleCols(step * b, b);
    const double lc = cpu.step(batch, 1e-3), lg = gpu.step(batch, 1e-3);
    if (step == 0) CHECK(std::abs(lg - lc) <= 1e-5 * lc);
    CHECK(std::abs(lg - lc) <= 1e-3 * lc);
  }
  CHECK(gpu.steps() == 5);
  CHECK(gpu.restarted() == cpu.restarted());
  const Eigen::MatrixXf dc = cpu.dictionary(), dg = gpu.dictionary();
  int close = 0;
  float worst = 0.0f;
  for (int j = 0; j < n; ++j) {
    const float diff = (dc.col(j) - dg.col(j)).norm();
    close += diff <= 1e-3f;
    worst = std::max(worst, diff);
    CHECK(dg.col(j).norm() == doctest::Approx(1.0).epsilon(1e-5));
  }
  const double rc = cpu.mean_rre(val), rg = gpu.mean_rre(val);
  MESSAGE("atoms within 1e-3 of the CPU's: " << close << "/" << n << ", worst " << worst << "; validation RRE GPU "
                                              << rg << " CPU " << rc << "; restarts " << gpu.restarted());
  CHECK(close >= n * 98 / 100);
  CHECK(std::abs(rg - rc) <= 1e-3 * rc);
  // mean_rre on the GPU is the CPU's formula on the GPU's own codes.
  const SparseCoefs codes = OmpEncoder(dg).encode(val, OmpOptions{.sparsity = 8});
  double sum = 0.0;
  for (double e : relative_errors(val, reconstruct(dg, codes))) sum += e;
  CHECK(rg == doctest::Approx(sum / double(val.cols())).epsilon(1e-4));
}

TEST_CASE("GPU learner: restarts an unused atom from the CPU's worst residual") {
  LEXICO_REQUIRE_GPU();
  // As the CPU test: data in span(e1, e2, e3); atom 4 = e4 is orthogonal to it.
  const int m = 4, b = 100;
  Eigen::MatrixXf d = Eigen::MatrixXf::Zero(m, 5);
  d(0, 0) = d(1, 1) = d(2, 2) = d(3, 4) = 1.f;
  d.col(3) << 1.f, 1.f, 1.f, 0.f;
  d.col(3).normalize();
  Eigen::MatrixXf x = Eigen::MatrixXf::Random(m, b);
  x.row(3).setZero();
  CpuDictionaryLearner cpu(d, options(2, 1));
  GpuDictionaryLearner gpu(d, options(2, 1));
  cpu.step(x, 1e-3);
  gpu.step(x, 1e-3);
  REQUIRE(cpu.restarted() == 1);
  CHECK(gpu.restarted() == 1);
  const DictionaryLearner::State s = gpu.state();
  CHECK((s.dictionary.col(4) - cpu.dictionary().col(4)).norm() < 1e-5f);
  CHECK(s.adam_steps[4] == 0);
  CHECK(s.adam_first.col(4).isZero());
  CHECK(s.adam_second.col(4).isZero());
  CHECK(s.idle[4] == 0);
  CHECK(s.adam_steps[0] == 1);

  GpuDictionaryLearner keep(d, options(2, 0));  // never restart
  keep.step(x, 1e-3);
  keep.step(x, 1e-3);
  CHECK(keep.restarted() == 0);
  CHECK(keep.state().idle[4] == 2);
}

TEST_CASE("GPU learner: runs repeat bit for bit, and a restored state continues bit for bit") {
  LEXICO_REQUIRE_GPU();
  const int m = 128, n = 1024, b = 100;  // 1,600 atom uses a step: some atoms go unused
  const Eigen::MatrixXf hidden = test::random_dictionary(m, n, 21);
  const Eigen::MatrixXf train = mixed_vectors(hidden, 4 * b, 10, 22);
  const Eigen::MatrixXf init = test::random_dictionary(m, n, 23);
  const LearnerOptions o = options(16, 1);
  const auto run = [&](GpuDictionaryLearner& l, int from, int to) {
    for (int k = from; k < to; ++k) l.step(train.middleCols(k * b, b), 2e-3);
  };
  GpuDictionaryLearner a(init, o), again(init, o);
  run(a, 0, 4);
  run(again, 0, 4);
  CHECK(a.restarted() > 0);  // dead_after 1: the restart path is in the comparison
  CHECK(a.dictionary() == again.dictionary());

  GpuDictionaryLearner first(init, o);
  run(first, 0, 2);
  GpuDictionaryLearner resumed(test::random_dictionary(m, n, 99), o);
  resumed.restore(first.state());
  run(resumed, 2, 4);
  const DictionaryLearner::State sa = a.state(), sr = resumed.state();
  CHECK(sr.dictionary == sa.dictionary);
  CHECK(sr.adam_first == sa.adam_first);
  CHECK(sr.adam_second == sa.adam_second);
  CHECK(sr.adam_steps == sa.adam_steps);
  CHECK(sr.idle == sa.idle);
  CHECK(sr.steps == 4);
  CHECK(sr.restarted == sa.restarted);

  GpuDictionaryLearner wrong(test::random_dictionary(m, n / 2, 5), o);
  CHECK(error_text([&] { wrong.restore(a.state()); }).find("wrong shape") != std::string::npos);
  DictionaryLearner::State corrupt = a.state();  // e.g. a damaged checkpoint: refused, as the CPU's next step would
  corrupt.dictionary.col(3) *= 2.0f;
  CHECK(error_text([&] { resumed.restore(corrupt); }).find("atom 3 has norm") != std::string::npos);
}

TEST_CASE("GPU learner: bad input gets the CPU learner's errors") {
  LEXICO_REQUIRE_GPU();
  const Eigen::MatrixXf init = test::random_dictionary(32, 256, 31);
  Eigen::MatrixXf x = random_vectors(32, 50, 32);
  x(5, 7) = std::nanf("");
  for (const LearnerOptions& o : {options(4, 50), options(0, 50)}) {
    CpuDictionaryLearner cpu(init, o);
    GpuDictionaryLearner gpu(init, o);
    const std::string ec = error_text([&] { cpu.step(x, 1e-3); }), eg = error_text([&] { gpu.step(x, 1e-3); });
    CHECK(eg == ec);
    CHECK(eg != "(no error)");
    CHECK(gpu.steps() == 0);
  }
  const Eigen::MatrixXf shorter = random_vectors(31, 10, 33);
  CpuDictionaryLearner cpu(init, options(4, 50));
  GpuDictionaryLearner gpu(init, options(4, 50));
  CHECK(error_text([&] { gpu.step(shorter, 1e-3); }) == error_text([&] { cpu.step(shorter, 1e-3); }));
  // An empty batch: loss 0, and Adam's momentum still moves the atoms, as on the CPU.
  const Eigen::MatrixXf fine = random_vectors(32, 50, 34), none(32, 0);
  cpu.step(fine, 1e-3);
  gpu.step(fine, 1e-3);
  CHECK(cpu.step(none, 1e-3) == 0.0);
  CHECK(gpu.step(none, 1e-3) == 0.0);
  CHECK(gpu.steps() == 2);
  CHECK((gpu.dictionary() - cpu.dictionary()).cwiseAbs().maxCoeff() < 1e-4f);
  Eigen::MatrixXf not_unit = init;
  not_unit.col(3) *= 2.0f;
  CHECK(error_text([&] { GpuDictionaryLearner(not_unit, options(4, 50)); }).find("atom 3 has norm") != std::string::npos);
}

TEST_CASE("learner_factory: the GPU learner where it fits, else the CPU's, saying why") {
  LEXICO_REQUIRE_GPU();
  CHECK(!learner_factory(Device::Cpu));
  std::vector<std::string> heard;
  const LearnerFactory factory = learner_factory(Device::Cuda, [&](const std::string& l) { heard.push_back(l); });
  const auto on_gpu = factory(test::random_dictionary(64, 512, 41), options(8, 50));
  CHECK(dynamic_cast<GpuDictionaryLearner*>(on_gpu.get()) != nullptr);
  REQUIRE(heard.size() == 1);
  CHECK(heard[0].find("run on " + device_info().name) != std::string::npos);
  const auto wide = factory(test::random_dictionary(200, 512, 42), options(8, 50));
  CHECK(dynamic_cast<CpuDictionaryLearner*>(wide.get()) != nullptr);
  REQUIRE(heard.size() == 2);
  CHECK(heard[1].find("up to 128, not 200: the training step, OMP included, runs on the CPU") != std::string::npos);
  (void)wide->step(test::random_vectors(200, 64, 43), 1e-3);  // its OMP says nothing more: one line for the shape
  CHECK(heard.size() == 2);
}
