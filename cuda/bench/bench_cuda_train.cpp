// Dictionary training on the GPU (lexico-train --device cuda) against the
// same training with only the OMP on the GPU and against the CPU, in the same run.
//
//   bench_cuda_train [--quick] [--vectors V] [--epochs E] [--omp-epochs O] [--cpu-epochs C]
//
// One dictionary of the target shape: m = 64, N = 4096, s = 8, batch
// 4096, over V vectors (default 1,000,000, drawn as sparse combinations of a
// hidden dictionary plus noise). Three learners on one learning-rate schedule
// of E epochs:
//   GPU       GpuDictionaryLearner, the whole step on the device, E epochs (default 20);
//   GPU OMP   CpuDictionaryLearner coding with the GPU's OMP, the gradient and
//             Adam on the host's cores, O epochs (default 2);
//   CPU       CpuDictionaryLearner on all cores, C epochs (default 1).
// Each epoch is the training steps plus the validation RRE of 5 % of the
// vectors, as lexico-train runs it. Prints seconds per epoch and the ratios,
// the time for 1M vectors × 20 epochs against the 2-minute target, the
// validation RRE after each learner's first epoch (the same recipe must learn
// the same: they differ only in float rounding), and the peak GPU memory.
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <random>
#include <string>

#include <Eigen/Core>
#include <omp.h>

#include "lexico/cuda/device.h"
#include "lexico/cuda/select.h"
#include "lexico/dictionary_training_step.h"
#include "lexico/cuda/dictionary_learner.h"

using namespace lexico;

namespace {

constexpr double kTargetSeconds = 120.0;  // issue: one layer's dictionary, 1M vectors × 20 epochs

Eigen::MatrixXf synthetic_vectors(int m, int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal;
  const int hidden = 2048, k = 6;
  Eigen::MatrixXf atoms = Eigen::MatrixXf::NullaryExpr(m, hidden, [&] { return normal(rng); });
  atoms.colwise().normalize();
  std::uniform_int_distribution<int> pick(0, hidden - 1);
  Eigen::MatrixXf x(m, n);
  for (int64_t v = 0; v < n; ++v) {
    Eigen::VectorXf col = 0.05f * Eigen::VectorXf::NullaryExpr(m, [&] { return normal(rng); });
    for (int i = 0; i < k; ++i) col += normal(rng) * atoms.col(pick(rng));
    x.col(v) = col;
  }
  return x;
}

struct EpochResult {
  double seconds = 0, val_rre = 0;
};

// `epochs` epochs of steps over train (in order) of a cosine schedule that
// spans `schedule_epochs`, then the validation RRE.
EpochResult run(const Eigen::MatrixXf& train, const Eigen::MatrixXf& val, const LearnerFactory& learners, int epochs,
                int schedule_epochs, int batch) {
  LearnerOptions options;
  options.sparsity = 8;
  const std::unique_ptr<DictionaryLearner> learner =
      make_learner(learners, random_dictionary(int(train.rows()), 4096, 7), options);
  const int64_t steps_per_epoch = (train.cols() + batch - 1) / batch;
  const auto t0 = std::chrono::steady_clock::now();
  double rre = 0;
  for (int e = 0; e < epochs; ++e) {
    for (int64_t b = 0; b < steps_per_epoch; ++b) {
      const int64_t first = b * batch, count = std::min<int64_t>(batch, train.cols() - first);
      learner->step(train.middleCols(first, count),
                    cosine_lr(1e-3, e * steps_per_epoch + b, schedule_epochs * steps_per_epoch));
    }
    rre = learner->mean_rre(val);
    if (e == 0) std::printf("    epoch 1: %.2f s, validation RRE %.4f\n",
                            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(), rre);
  }
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return {s / epochs, rre};
}

// CpuDictionaryLearners coding with `encoders`.
LearnerFactory cpu_learners(EncoderFactory encoders) {
  return [encoders](Eigen::MatrixXf init, const LearnerOptions& options) -> std::unique_ptr<DictionaryLearner> {
    LearnerOptions o = options;
    o.encoders = encoders;
    return std::make_unique<CpuDictionaryLearner>(std::move(init), o);
  };
}

}  // namespace

int main(int argc, char** argv) {
  int64_t vectors = 1000000;
  int epochs = 20, omp_epochs = 2, cpu_epochs = 1;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--quick") {
      vectors = 100000, epochs = 2, omp_epochs = 1;
    } else if (a == "--vectors" && i + 1 < argc) {
      vectors = std::stoll(argv[++i]);
    } else if (a == "--epochs" && i + 1 < argc) {
      epochs = std::stoi(argv[++i]);
    } else if (a == "--omp-epochs" && i + 1 < argc) {
      omp_epochs = std::stoi(argv[++i]);
    } else if (a == "--cpu-epochs" && i + 1 < argc) {
      cpu_epochs = std::stoi(argv[++i]);
    } else {
      std::fprintf(stderr,
                   "usage: bench_cuda_train [--quick] [--vectors V] [--epochs E] [--omp-epochs O] [--cpu-epochs C]\n");
      return 2;
    }
  }
  const std::time_t now = std::time(nullptr);
  char date[32];
  std::strftime(date, sizeof date, "%Y-%m-%d", std::gmtime(&now));
  std::printf("bench_cuda_train  %s  GPU: %s  CPU threads: %d\n", date, cuda::device_info().summary().c_str(),
              omp_get_max_threads());
  if (!cuda::gpu_usable()) {
    std::printf("no usable GPU: nothing to measure\n");
    return 0;
  }
  const int m = 64, batch = 4096;
  const Eigen::MatrixXf all = synthetic_vectors(m, vectors + vectors / 20, 1);
  const Eigen::MatrixXf train = all.leftCols(vectors), val = all.rightCols(vectors / 20);
  std::printf("one dictionary: m = %d, N = 4096, s = 8, batch %d, %lld training + %lld validation vectors\n", m, batch,
              (long long)vectors, (long long)(vectors / 20));

  cuda::reset_device_bytes_peak();
  std::printf("  GPU (%d epochs):\n", epochs);
  const EpochResult gpu = run(train, val, [](Eigen::MatrixXf init, const LearnerOptions& options) {
    return std::make_unique<cuda::GpuDictionaryLearner>(init, options);
  }, epochs, epochs, batch);
  std::printf("  GPU OMP, gradient and Adam on the host (%d epoch%s):\n", omp_epochs, omp_epochs == 1 ? "" : "s");
  const EpochResult omp = run(train, val, cpu_learners(cuda::encoder_factory(Device::Cuda)), omp_epochs, epochs, batch);
  std::printf("  CPU (%d epoch%s):\n", cpu_epochs, cpu_epochs == 1 ? "" : "s");
  const EpochResult cpu = run(train, val, cpu_learners({}), cpu_epochs, epochs, batch);

  std::printf("\n%-10s %8s %12s %14s %10s\n", "learner", "epochs", "s/epoch", "last val RRE", "GPU x");
  std::printf("%-10s %8d %12.3f %14.4f %10s\n", "GPU", epochs, gpu.seconds, gpu.val_rre, "1");
  std::printf("%-10s %8d %12.3f %14.4f %10.1f\n", "GPU OMP", omp_epochs, omp.seconds, omp.val_rre,
              omp.seconds / gpu.seconds);
  std::printf("%-10s %8d %12.3f %14.4f %10.1f\n", "CPU", cpu_epochs, cpu.seconds, cpu.val_rre,
              cpu.seconds / gpu.seconds);
  const double scale = 1e6 / double(vectors) * 20.0;  // seconds per epoch → 1M vectors × 20 epochs
  std::printf("\n1M vectors x 20 epochs on the GPU: %.1f s (target < %.0f s: %s)\n", gpu.seconds * scale,
              kTargetSeconds, gpu.seconds * scale < kTargetSeconds ? "met" : "NOT met");
  std::printf("peak GPU memory held by lexico: %.1f MiB\n", double(cuda::device_bytes_peak()) / (1 << 20));
  return 0;
}
