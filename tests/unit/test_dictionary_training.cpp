// lexico-train's building blocks: Adam, the projected gradient step, dead-atom
// restarts, the data split; and whole runs: determinism, resume, merge,
// trained versus random dictionaries, bad inputs.
// GCC 12 flags Eigen's AVX-512 GEMM packing with a false
// -Wmaybe-uninitialized (GCC bug 105593); see lib/sparse/omp.cpp.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include "io/h5.h"
#include "lexico/adam.h"
#include "lexico/dictionary_training.h"
#include "lexico/dictionary_training_checkpoint.h"
#include "lexico/dictionary_training_data.h"
#include "lexico/dictionary_training_step.h"
#include "lexico/error.h"
#include "lexico/omp.h"
#include "lexico/recon.h"
#include "temp_dir.h"

using namespace lexico;
namespace fs = std::filesystem;

namespace {

std::string synthetic(const test::TempDir& dir, const std::string& name, int n_layers = 2, int64_t tokens = 1024,
                      int head_dim = 32, uint64_t seed = 1) {
  SyntheticDumpSpec spec;
  spec.n_layers = n_layers;
  spec.head_dim = head_dim;
  spec.n_tokens = tokens;
  spec.hidden_atoms = 96;
  spec.hidden_sparsity = 4;
  spec.seed = seed;
  write_synthetic_dump(dir / name, spec);
  return dir / name;
}

// Small and quick, but enough steps to learn: N = 96 atoms of dim 32.
TrainOptions quick_options() {
  TrainOptions o;
  o.atoms = 96;
  o.sparsity = 4;
  o.epochs = 4;
  o.batch = 64;
  o.lr = 1e-2;
  o.seed = 7;
  o.threads = 1;
  o.dead_after = 20;
  return o;
}

ErrorKind error_kind(const std::function<void()>& f, std::string* message = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (message) *message = e.what();
    return e.kind();
  }
  FAIL("no lexico::Error thrown");
  return ErrorKind::Internal;
}

void check_same(const Dictionary& a, const Dictionary& b) {
  CHECK(a.content_sha256() == b.content_sha256());
  REQUIRE(a.layers.size() == b.layers.size());
  for (const auto& [l, layer] : a.layers) CHECK(layer.series == b.layers.at(l).series);
}

}  // namespace

TEST_CASE("Adam: two steps match the hand-computed update") {
  Adam adam(2, 1);
  Eigen::MatrixXf p(2, 1), g(2, 1);
  p << 1.f, -2.f;
  g << 0.5f, -1.f;
  adam.step(p, g, 0.1);
  // Step 1: m̂ = g, v̂ = g², so θ moves by lr·sign(g).
  CHECK(p(0) == doctest::Approx(0.9).epsilon(1e-6));
  CHECK(p(1) == doctest::Approx(-1.9).epsilon(1e-6));
  g << -0.25f, 0.5f;
  adam.step(p, g, 0.1);
  // m = 0.9·0.05 + 0.1·(−0.25) = 0.02, v = 0.999·2.5e-4 + 0.001·0.0625 = 3.1225e-4,
  // θ −= 0.1 · (0.02 / 0.19) / √(3.1225e-4 / 0.001999) = 0.0266337.
  CHECK(adam.first_moment()(0) == doctest::Approx(0.02).epsilon(1e-6));
  CHECK(adam.second_moment()(0) == doctest::Approx(3.1225e-4).epsilon(1e-6));
  CHECK(p(0) == doctest::Approx(0.8733663).epsilon(1e-6));
  CHECK(p(1) == doctest::Approx(-1.8733663).epsilon(1e-6));
  CHECK(adam.steps()[0] == 2);
  // A reset column starts over: its next step is again lr·sign(g).
  adam.reset_column(0);
  CHECK(adam.steps()[0] == 0);
  CHECK(adam.first_moment()(0) == 0.f);
  const float before = p(0);
  g << 3.f, 0.f;
  adam.step(p, g, 0.1);
  CHECK(p(0) == doctest::Approx(before - 0.1).epsilon(1e-6));
}

TEST_CASE("column renormalisation and the radial projection of the gradient") {
  Eigen::MatrixXf d = Eigen::MatrixXf::Random(8, 20);
  d.col(3).setZero();
  normalize_columns(d);
  for (Eigen::Index j = 0; j < d.cols(); ++j) CHECK(d.col(j).norm() == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(d(3, 3) == 1.f);  // a zero column becomes e_(j mod m)

  const Eigen::MatrixXf g0 = Eigen::MatrixXf::Random(8, 20);
  Eigen::MatrixXf g = g0;
  project_radial(d, g);
  for (Eigen::Index j = 0; j < d.cols(); ++j) {
    CHECK(std::abs(d.col(j).dot(g.col(j))) < 1e-6f);
    // Only the radial part was removed.
    CHECK((g0.col(j) - g.col(j) - d.col(j) * d.col(j).dot(g0.col(j))).norm() < 1e-5f);
  }
}

TEST_CASE("the reconstruction gradient is -(2/b) R Y^T") {
  const int m = 6, n = 10, b = 40;
  Eigen::MatrixXf d = random_dictionary(m, n, 3);
  const Eigen::MatrixXf x = Eigen::MatrixXf::Random(m, b);
  OmpOptions omp;
  omp.sparsity = 3;
  const SparseCoefs codes = OmpEncoder(d).encode(x, omp);
  const Eigen::MatrixXf r = x - reconstruct(d, codes);
  Eigen::MatrixXf y = Eigen::MatrixXf::Zero(n, b);
  for (int v = 0; v < b; ++v)
    for (uint32_t k = codes.row_ptr[v]; k < codes.row_ptr[v + 1]; ++k) y(codes.indices[k], v) = codes.values[k];
  const Eigen::MatrixXf expected = -2.f / b * r * y.transpose();
  CHECK((reconstruction_gradient(r, codes) - expected).norm() < 1e-5f * expected.norm());
  // And it is the derivative of the loss: a small step along −∇ lowers it as predicted.
  auto loss = [&](const Eigen::MatrixXf& dd) { return (x - dd * y).squaredNorm() / b; };
  const Eigen::MatrixXf step = 1e-3f * expected;
  CHECK(loss(d) - loss(d - step) == doctest::Approx(1e-3 * expected.squaredNorm()).epsilon(0.02));
}

TEST_CASE("cosine learning-rate decay") {
  CHECK(cosine_lr(1e-3, 0, 100) == doctest::Approx(1e-3));
  CHECK(cosine_lr(1e-3, 50, 100) == doctest::Approx(5e-4));
  CHECK(cosine_lr(1e-3, 100, 100) == doctest::Approx(0.0));
}

TEST_CASE("an atom no vector uses is restarted from the worst-reconstructed vector") {
  // Data in span(e1, e2, e3); atom 4 = e4 is orthogonal to all of it.
  const int m = 4, b = 100;
  Eigen::MatrixXf d = Eigen::MatrixXf::Zero(m, 5);
  d(0, 0) = d(1, 1) = d(2, 2) = d(3, 4) = 1.f;
  d.col(3) << 1.f, 1.f, 1.f, 0.f;
  d.col(3).normalize();
  Eigen::MatrixXf x = Eigen::MatrixXf::Random(m, b);
  x.row(3).setZero();
  OmpOptions omp;
  omp.sparsity = 2;
  const SparseCoefs codes = OmpEncoder(d).encode(x, omp);
  std::set<int> used(codes.indices.begin(), codes.indices.end());
  REQUIRE(used == std::set<int>{0, 1, 2, 3});
  const Eigen::MatrixXf r = x - reconstruct(d, codes);
  Eigen::Index worst = 0;
  for (Eigen::Index v = 1; v < b; ++v)
    if (r.col(v).squaredNorm() > r.col(worst).squaredNorm()) worst = v;

  LearnerOptions options;
  options.sparsity = 2;
  options.dead_after = 1;
  options.threads = 1;
  CpuDictionaryLearner learner(d, options);
  learner.step(x, 1e-3);
  CHECK(learner.restarted() == 1);
  CHECK((learner.dictionary().col(4) - r.col(worst).normalized()).norm() < 1e-5f);
  CHECK(learner.adam().steps()[4] == 0);
  CHECK(learner.adam().first_moment().col(4).isZero());
  CHECK(learner.idle()[4] == 0);
  for (Eigen::Index j = 0; j < 5; ++j) CHECK(learner.dictionary().col(j).norm() == doctest::Approx(1.0).epsilon(1e-5));

  options.dead_after = 0;  // never restart
  CpuDictionaryLearner keep(d, options);
  keep.step(x, 1e-3);
  keep.step(x, 1e-3);
  CHECK(keep.restarted() == 0);
  CHECK(keep.idle()[4] == 2);
}

TEST_CASE("training vectors: exact sample sizes, a split of the dump's own vectors, seeded") {
  test::TempDir dir;
  const std::string dump = synthetic(dir, "d.h5", 1, 200, 8);
  const DumpSet set({dump});
  CHECK(set.vectors_per_layer() == 400);
  const SplitSizes sizes = split_sizes(400, 0, 0.05);
  CHECK(sizes.val == 20);
  CHECK(sizes.train == 380);
  CHECK(split_sizes(400, 100, 0.001).val == 1);  // at least one

  auto columns = [](const Eigen::MatrixXf& a) {
    std::multiset<std::vector<float>> s;
    for (Eigen::Index c = 0; c < a.cols(); ++c)
      s.insert(std::vector<float>(a.col(c).data(), a.col(c).data() + a.rows()));
    return s;
  };
  const std::vector<float> raw = KvDumpReader(dump).read(0, KvKind::Values);
  const auto all = columns(Eigen::Map<const Eigen::MatrixXf>(raw.data(), 8, 400));

  TrainingVectors full = load_training_vectors(set, 0, KvKind::Values, 0, 0.05, 11);
  CHECK(full.train.cols() == 380);
  CHECK(full.val.cols() == 20);
  auto joined = columns(full.train);
  for (const auto& c : columns(full.val)) joined.insert(c);
  CHECK(joined == all);

  TrainingVectors sample = load_training_vectors(set, 0, KvKind::Values, 50, 0.1, 11);
  CHECK(sample.train.cols() == 45);
  CHECK(sample.val.cols() == 5);
  for (const auto& c : columns(sample.train)) CHECK(all.count(c) == 1);
  TrainingVectors again = load_training_vectors(set, 0, KvKind::Values, 50, 0.1, 11);
  CHECK(again.train == sample.train);
  CHECK(again.val == sample.val);
  CHECK(load_training_vectors(set, 0, KvKind::Values, 50, 0.1, 12).train != sample.train);
}

TEST_CASE("training is deterministic: same seed, same dictionaries, whatever the thread count") {
  test::TempDir dir;
  const std::string dump = synthetic(dir, "d.h5");
  TrainOptions o = quick_options();
  const Dictionary a = train_dictionary_file({dump}, o, dir / "a.h5");
  const Dictionary b = train_dictionary_file({dump}, o, dir / "b.h5");
  check_same(a, b);
  check_same(read_dictionary(dir / "a.h5"), a);
  o.threads = 2;
  check_same(train_dictionary_file({dump}, o, dir / "c.h5"), a);
  o.seed = 8;
  CHECK(train_dictionary_file({dump}, o, dir / "d.h5").content_sha256() != a.content_sha256());
  CHECK(!fs::exists(checkpoint_path(dir / "a.h5")));  // removed once the output is written
}

TEST_CASE("a resumed run ends with the same dictionaries as an uninterrupted one") {
  test::TempDir dir;
  const std::string dump = synthetic(dir, "d.h5");
  TrainOptions o = quick_options();
  o.patience = 2;
  o.checkpoint_seconds = 0;  // a save after every epoch: each can be resumed from
  const Dictionary whole = train_dictionary_file({dump}, o, dir / "whole.h5");

  for (const auto& [layer, epoch] : std::vector<std::pair<int, int>>{{0, 2}, {1, 1}, {1, 4}}) {
    CAPTURE(layer);
    CAPTURE(epoch);
    const std::string out = dir / fmt::format("resumed-{}-{}.h5", layer, epoch);
    struct Interrupt {};
    auto stop = [&](const EpochReport& r) {
      if (r.layer == layer && r.epoch == epoch) throw Interrupt{};
    };
    CHECK_THROWS_AS(train_dictionary_file({dump}, o, out, false, stop), Interrupt);
    CHECK(!fs::exists(out));
    REQUIRE(fs::exists(checkpoint_path(out)));

    // Other settings: refused, the checkpoint kept.
    TrainOptions other = o;
    other.lr = 2e-2;
    std::string message;
    CHECK(error_kind([&] { train_dictionary_file({dump}, other, out, true); }, &message) == ErrorKind::BadInput);
    CHECK(message.find(checkpoint_path(out)) != std::string::npos);
    CHECK(message.find("--lr") != std::string::npos);
    CHECK(fs::exists(checkpoint_path(out)));
    CHECK(!fs::exists(out));

    o.threads = 2;  // the thread count may change
    check_same(train_dictionary_file({dump}, o, out, true), whole);
    o.threads = 1;
    CHECK(!fs::exists(checkpoint_path(out)));
  }
}

TEST_CASE("within the checkpoint interval only finished layers are saved, and a resume starts after them") {
  test::TempDir dir;
  const std::string dump = synthetic(dir, "d.h5");
  TrainOptions o = quick_options();
  o.checkpoint_seconds = 3600;
  const Dictionary whole = train_dictionary_file({dump}, o, dir / "whole.h5");
  const std::string out = dir / "stopped.h5";
  struct Interrupt {};
  auto stop = [&](const EpochReport& r) {
    if (r.layer == 1 && r.epoch == 2) throw Interrupt{};
  };
  CHECK_THROWS_AS(train_dictionary_file({dump}, o, out, false, stop), Interrupt);
  const Checkpoint saved = read_checkpoint(checkpoint_path(out));
  REQUIRE(!saved.tasks.empty());
  for (const TaskProgress& t : saved.tasks) {
    CHECK(t.layer == 0);  // layer 1's two epochs were not saved
    CHECK(t.finished(o.epochs));
    CHECK(!t.learner);
  }
  std::vector<int> layers_trained;
  check_same(train_dictionary_file({dump}, o, out, true,
                                   [&](const EpochReport& r) {
                                     if (r.epoch == 1) layers_trained.push_back(r.layer);
                                   }),
             whole);
  CHECK(layers_trained == std::vector<int>{1});
  TrainOptions bad = o;
  bad.checkpoint_seconds = -1;
  CHECK(error_kind([&] { train_dictionary_file({dump}, bad, dir / "bad.h5"); }) == ErrorKind::Usage);
}

TEST_CASE("a trained dictionary clearly beats a random one; epochs 0 writes the random one") {
  test::TempDir dir;
  const std::string dump = synthetic(dir, "d.h5", 1, 2048);
  TrainOptions o = quick_options();
  o.epochs = 8;
  const Dictionary trained = train_dictionary_file({dump}, o, dir / "trained.h5");
  o.epochs = 0;
  const Dictionary random = read_dictionary((train_dictionary_file({dump}, o, dir / "random.h5"), dir / "random.h5"));
  for (const char* kind : {"keys", "values"}) {
    CAPTURE(kind);
    const auto& t = trained.layers.at(0).series.at(std::string("val_rre_") + kind);
    const auto& r = random.layers.at(0).series.at(std::string("val_rre_") + kind);
    REQUIRE(t.size() == 9);
    REQUIRE(r.size() == 1);
    CHECK(t[0] == r[0]);  // the same initial dictionary
    CHECK(*std::min_element(t.begin(), t.end()) < 0.5 * r[0]);
    CHECK(trained.number_attrs.at(fmt::format("train.layer.0.{}.val_rre", kind)) < 0.5 * r[0]);
  }
  // The random baseline is the seeded uniform initialisation, unit-norm.
  for (Eigen::Index j = 0; j < random.n_atoms; ++j)
    CHECK(random.layers.at(0).keys.col(j).norm() == doctest::Approx(1.0).epsilon(1e-5));
  CHECK(trained.layers.at(0).series.at("train_loss_keys").size() == 8);
  CHECK(trained.number_attrs.at("train.layer.0.keys.epochs") == 8);
  for (const auto& [name, value] : trained.number_attrs)  // wall times would break byte-identical reruns
    CHECK_MESSAGE(name.find("seconds") == std::string::npos, name);
  CHECK(trained.text_attrs.at("train.layer.0.kinds") == "keys,values");
}

TEST_CASE("fine-tuning starts from the given dictionary") {
  test::TempDir dir;
  const std::string dump = synthetic(dir, "d.h5", 1, 1024);
  TrainOptions o = quick_options();
  o.epochs = 0;
  const Dictionary base = train_dictionary_file({dump}, o, dir / "base.h5");
  o.init = dir / "base.h5";
  o.atoms = 0;  // taken from the init dictionary
  const Dictionary same = train_dictionary_file({dump}, o, dir / "same.h5");
  CHECK(same.content_sha256() == base.content_sha256());
  CHECK(same.text_attrs.at("train.init") == o.init);
  o.epochs = 2;
  const Dictionary tuned = train_dictionary_file({dump}, o, dir / "tuned.h5");
  CHECK(tuned.layers.at(0).series.at("val_rre_keys")[0] == base.layers.at(0).series.at("val_rre_keys")[0]);
  CHECK(tuned.number_attrs.at("train.layer.0.keys.val_rre") < base.number_attrs.at("train.layer.0.keys.val_rre"));
  o.atoms = 128;
  CHECK(error_kind([&] { train_dictionary_file({dump}, o, dir / "x.h5"); }) == ErrorKind::Usage);
}

TEST_CASE("early stopping keeps the best dictionary") {
  test::TempDir dir;
  const std::string dump = synthetic(dir, "d.h5", 1, 1024);
  TrainOptions o = quick_options();
  o.epochs = 12;
  o.lr = 3e-2;
  const Dictionary converged = train_dictionary_file({dump}, o, dir / "converged.h5");
  // Far too large a rate knocks a converged dictionary off its optimum: no
  // epoch beats the start, so training stops after `patience` epochs and the
  // initial dictionary is what gets written.
  o.init = dir / "converged.h5";
  o.atoms = 0;
  o.lr = 0.3;
  o.epochs = 6;
  o.patience = 2;
  std::vector<EpochReport> reports;
  const Dictionary stopped =
      train_dictionary_file({dump}, o, dir / "stopped.h5", false, [&](const EpochReport& r) { reports.push_back(r); });
  REQUIRE(reports.size() == 3);
  CHECK(reports.back().layer_done);
  for (const EpochReport::Kind& k : reports.back().kinds) {
    CHECK(k.stopped);
    CHECK(k.best_epoch == 0);
  }
  CHECK(stopped.layers.at(0).series.at("val_rre_keys").size() == 3);
  CHECK(stopped.number_attrs.at("train.layer.0.values.epochs") == 2);
  CHECK(stopped.number_attrs.at("train.layer.0.values.best_epoch") == 0);
  CHECK(stopped.content_sha256() == converged.content_sha256());
}

TEST_CASE("merging per-layer and per-kind files equals training them together") {
  test::TempDir dir;
  const std::string dump = synthetic(dir, "d.h5");
  TrainOptions o = quick_options();
  o.epochs = 2;
  const Dictionary both = train_dictionary_file({dump}, o, dir / "both.h5");
  o.layers = {0};
  train_dictionary_file({dump}, o, dir / "l0.h5");
  o.layers = {1};
  o.kinds = {KvKind::Keys};
  train_dictionary_file({dump}, o, dir / "l1k.h5");
  o.kinds = {KvKind::Values};
  train_dictionary_file({dump}, o, dir / "l1v.h5");

  const Dictionary merged = merge_dictionaries({dir / "l1v.h5", dir / "l0.h5", dir / "l1k.h5"});
  check_same(merged, both);
  for (const auto& [name, value] : both.text_attrs) CHECK(merged.text_attrs.at(name) == value);
  for (const auto& [name, value] : both.number_attrs)
    if (name.find("seconds") == std::string::npos) CHECK(merged.number_attrs.at(name) == value);

  std::string message;
  CHECK(error_kind([&] { merge_dictionaries({dir / "l0.h5", dir / "both.h5"}); }, &message) == ErrorKind::BadInput);
  CHECK(message.find("both.h5") != std::string::npos);
  o.lr = 5e-3;
  o.layers = {1};
  o.kinds = {KvKind::Keys, KvKind::Values};
  train_dictionary_file({dump}, o, dir / "l1-other.h5");
  CHECK(error_kind([&] { merge_dictionaries({dir / "l0.h5", dir / "l1-other.h5"}); }, &message) == ErrorKind::BadInput);
  CHECK(message.find("train.lr") != std::string::npos);
}

TEST_CASE("bad inputs: a clear error naming the file, and no output") {
  test::TempDir dir;
  const std::string dump = synthetic(dir, "d.h5");
  const std::string out = dir / "out.h5";
  TrainOptions o = quick_options();
  std::string message;
  auto fails = [&](ErrorKind kind, const std::vector<std::string>& dumps, const TrainOptions& opt,
                   const std::string& named, const std::string& output) {
    CHECK(error_kind([&] { train_dictionary_file(dumps, opt, output); }, &message) == kind);
    CHECK_MESSAGE(message.find(named) != std::string::npos, message);
    CHECK(!fs::exists(output));
    CHECK(!fs::exists(checkpoint_path(output)));
  };

  SUBCASE("dumps of different head_dims") {
    fails(ErrorKind::BadInput, {dump, synthetic(dir, "other.h5", 2, 1024, 16)}, o, "other.h5", out);
  }
  SUBCASE("dumps of different models") {
    KvDumpInfo info = KvDumpReader(dump).info();
    info.model = "another-model";
    const std::string other = dir / "other.h5";
    {
      KvDumpWriter w(other, info);
      std::vector<float> zeros(size_t(info.n_kv_heads) * info.head_dim, 0.5f);
      w.append({1}, {0}, {zeros.data(), zeros.data()}, {zeros.data(), zeros.data()});
      w.close();
    }
    fails(ErrorKind::BadInput, {dump, other}, o, "other.h5", out);
    CHECK(message.find("another-model") != std::string::npos);
  }
  SUBCASE("too few vectors for N atoms") {
    o.atoms = 4096;
    fails(ErrorKind::BadInput, {dump}, o, "d.h5", out);
  }
  SUBCASE("N < m") {
    o.atoms = 16;
    fails(ErrorKind::BadInput, {dump}, o, "d.h5", out);
  }
  SUBCASE("NaN in the data") {
    {
      h5::File f = h5::File::open_rw(dump);
      auto shape = f.shape("/layers/0/keys");
      auto data = f.read_floats("/layers/0/keys");
      data[100] = std::nanf("");
      H5Ldelete(f.id(), "/layers/0/keys", H5P_DEFAULT);
      f.write_floats("/layers/0/keys", data.data(), shape, h5::Storage::F32);
    }
    fails(ErrorKind::BadInput, {dump}, o, "d.h5", out);
  }
  SUBCASE("an unwritable output path") {
    fails(ErrorKind::Io, {dump}, o, "no-such-folder", dir / "no-such-folder/out.h5");
  }
  SUBCASE("a missing layer") {
    o.layers = {0, 5};
    fails(ErrorKind::Usage, {dump}, o, "--layers", out);
  }
}
