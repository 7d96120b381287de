// The encoder interface the batch jobs take: an empty factory is the CPU's
// OmpEncoder, a given factory is what encode_dump and the dictionary learner
// actually use, and device names parse.
#include <doctest/doctest.h>

#include <atomic>

#include "lexico/dictionary_training_step.h"
#include "lexico/dump_encoding.h"
#include "lexico/error.h"
#include "lexico/kv_dump.h"
#include "lexico/sparse_encoder.h"
#include "temp_dir.h"

using namespace lexico;

namespace {

// Codes with one atom fewer than asked (so its use shows in the results) and
// counts the encoders made and the calls.
struct CountingFactory {
  std::shared_ptr<std::atomic<int>> made = std::make_shared<std::atomic<int>>(0);
  std::shared_ptr<std::atomic<int>> calls = std::make_shared<std::atomic<int>>(0);
  EncoderFactory factory() const {
    return [made = made, calls = calls](Eigen::Ref<const Eigen::MatrixXf> d) -> std::unique_ptr<SparseEncoder> {
      struct Short final : SparseEncoder {
        OmpEncoder omp;
        std::shared_ptr<std::atomic<int>> calls;
        Short(Eigen::Ref<const Eigen::MatrixXf> d, std::shared_ptr<std::atomic<int>> c) : omp(d), calls(std::move(c)) {}
        SparseCoefs encode(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> x,
                           const OmpOptions& options) const override {
          ++*calls;
          OmpOptions fewer = options;
          fewer.sparsity = std::max(1, options.sparsity - 1);
          return omp.encode(x, fewer);
        }
      };
      ++*made;
      return std::make_unique<Short>(d, calls);
    };
  }
};

Eigen::MatrixXf unit_columns(int m, int n, unsigned seed) {
  std::srand(seed);
  Eigen::MatrixXf d = Eigen::MatrixXf::Random(m, n);
  d.colwise().normalize();
  return d;
}

}  // namespace

TEST_CASE("device names parse; anything else is a usage error naming the option") {
  CHECK(parse_device("auto") == Device::Auto);
  CHECK(parse_device("cpu") == Device::Cpu);
  CHECK(parse_device("cuda") == Device::Cuda);
  CHECK(parse_device("gpu") == Device::Cuda);
  try {
    parse_device("tpu");
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.kind() == ErrorKind::Usage);
    CHECK(std::string(e.what()).find("--device") != std::string::npos);
    CHECK(std::string(e.what()).find("tpu") != std::string::npos);
  }
}

TEST_CASE("an empty factory makes the CPU's OmpEncoder") {
  const Eigen::MatrixXf d = unit_columns(16, 64, 3);
  const Eigen::MatrixXf x = Eigen::MatrixXf::Random(16, 40);
  OmpOptions options;
  options.sparsity = 5;
  const SparseCoefs want = OmpEncoder(d).encode(x, options);
  const SparseCoefs got = make_encoder({}, d)->encode(x, options);
  CHECK(got.indices == want.indices);
  CHECK(got.values == want.values);
  CHECK(make_encoder({}, d)->encode_fp8(x, options).values == quantize_fp8(want).values);
}

TEST_CASE("encode_dump codes with the factory it is given, one encoder per layer and kind") {
  test::TempDir dir;
  SyntheticDumpSpec spec;
  spec.n_layers = 2;
  spec.n_kv_heads = 2;
  spec.head_dim = 16;
  spec.n_tokens = 300;
  write_synthetic_dump(dir / "dump.h5", spec);
  const KvDumpReader dump(dir / "dump.h5");
  Dictionary dict;
  dict.model = "synthetic";
  dict.n_layers = 2;
  dict.head_dim = 16;
  dict.n_atoms = 64;
  for (int l = 0; l < 2; ++l) dict.layers[l] = {unit_columns(16, 64, 10 + l), unit_columns(16, 64, 20 + l), {}};
  DumpEncodingOptions opt;
  opt.omp.sparsity = 4;
  opt.block_tokens = 128;  // three blocks per layer and kind
  CountingFactory counting;
  opt.encoders = counting.factory();
  EncodingReport report;
  encode_dump(dump, dict, "dict.h5", opt, &report);
  CHECK(*counting.made == 4);
  CHECK(*counting.calls == 4 * 3);
  CHECK(report.layers[1].values.nnz == size_t(300 * 2 * 3));  // the factory's s − 1 atoms, not s
}

TEST_CASE("the dictionary learner codes its batches and validation with the factory") {
  LearnerOptions options;
  options.sparsity = 3;
  CountingFactory counting;
  options.encoders = counting.factory();
  CpuDictionaryLearner learner(unit_columns(8, 32, 5), options);
  const Eigen::MatrixXf batch = Eigen::MatrixXf::Random(8, 50);
  learner.step(batch, 1e-2);
  learner.step(batch, 1e-2);
  learner.mean_rre(batch);
  CHECK(*counting.made == 3);
  CHECK(*counting.calls == 3);
}
