#include "lexico/dictionary_training.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <numeric>
#include <optional>

#include <fmt/ranges.h>

#include "lexico/atomic_file.h"
#include "lexico/dictionary_training_checkpoint.h"
#include "lexico/dictionary_training_data.h"
#include "lexico/dictionary_training_step.h"
#include "lexico/error.h"
#include "lexico/sparse_codes.h"

namespace lexico {

namespace {

constexpr int kDefaultAtoms = 4096;
// Purposes of the derived random streams.
enum Stream : uint64_t { kData = 1, kInit = 2, kShuffle = 3 };

using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void check_options(const TrainOptions& o) {
  if (o.atoms < 0 || o.atoms > kMaxAtoms) usage_error("--atoms", "must lie in 1..{}, not {}", kMaxAtoms, o.atoms);
  if (o.sparsity < 1) usage_error("--sparsity", "must be at least 1, not {}", o.sparsity);
  if (o.epochs < 0) usage_error("--epochs", "must not be negative, not {}", o.epochs);
  if (o.batch < 1) usage_error("--batch", "must be at least 1, not {}", o.batch);
  if (!(o.lr > 0 && std::isfinite(o.lr))) usage_error("--lr", "must be a positive number, not {}", o.lr);
  if (o.kinds.empty()) usage_error("--kind", "no kind to train");
  if (o.threads < 0) usage_error("--threads", "must not be negative, not {}", o.threads);
  if (o.patience < 0) usage_error("--patience", "must not be negative, not {}", o.patience);
  if (o.init.empty()) usage_error("--init", "must be 'random' or a dictionary file");
  if (o.max_vectors < 0) usage_error("--max-vectors", "must not be negative, not {}", o.max_vectors);
  if (!(o.val_fraction > 0 && o.val_fraction <= 0.5))
    usage_error("--val-fraction", "must lie in (0, 0.5], not {}", o.val_fraction);
  if (o.dead_after < 0) usage_error("--dead-after", "must not be negative, not {}", o.dead_after);
  if (!(o.checkpoint_seconds >= 0 && std::isfinite(o.checkpoint_seconds)))
    usage_error("--checkpoint-every", "must be a number of seconds ≥ 0, not {}", o.checkpoint_seconds);
}

std::string kinds_text(const std::vector<KvKind>& kinds) {
  std::vector<std::string> names;
  for (KvKind k : kinds) names.emplace_back(kv_kind_name(k));
  return fmt::format("{}", fmt::join(names, ","));
}

// Everything the result depends on (not the thread count: it does not).
std::map<std::string, std::string> settings_of(const TrainOptions& o, int n_atoms, const DumpSet& dumps,
                                               const std::vector<int>& layers, const std::optional<Dictionary>& init) {
  std::vector<std::string> ids;
  for (const KvDumpReader& d : dumps.dumps())
    ids.push_back(fmt::format("{} ({} tokens)", std::filesystem::path(d.path()).filename().string(), d.n_tokens()));
  return {{"dumps", fmt::format("{}", fmt::join(ids, ", "))},
          {"--atoms", std::to_string(n_atoms)},
          {"--sparsity", std::to_string(o.sparsity)},
          {"--epochs", std::to_string(o.epochs)},
          {"--batch", std::to_string(o.batch)},
          {"--lr", fmt::format("{}", o.lr)},
          {"--seed", std::to_string(o.seed)},
          {"--layers", fmt::format("{}", fmt::join(layers, ","))},
          {"--kind", kinds_text(o.kinds)},
          {"--patience", std::to_string(o.patience)},
          {"--init", init ? "dictionary " + init->content_sha256() : "random"},
          {"--max-vectors", std::to_string(o.max_vectors)},
          {"--val-fraction", fmt::format("{}", o.val_fraction)},
          {"--dead-after", std::to_string(o.dead_after)}};
}

Eigen::MatrixXf initial_dictionary(const TrainOptions& o, const std::optional<Dictionary>& init, int layer, KvKind kind,
                                   int m, int n) {
  if (init) return init->at(layer, kind);
  return random_dictionary(m, n, derive_seed(o.seed, {uint64_t(layer), uint64_t(kind), kInit}));
}

// One pass over the training vectors in a fresh random order, as n_batches
// near-equal batches (no runt batch at the end). Returns the mean ‖r‖².
double train_epoch(DictionaryLearner& learner, const Eigen::MatrixXf& train, const TrainOptions& o, int64_t total_steps,
                   uint64_t shuffle_seed) {
  const int64_t n = train.cols();
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  SplitMix64 rng(shuffle_seed);
  for (int64_t i = n - 1; i > 0; --i) std::swap(order[size_t(i)], order[rng.below(uint64_t(i + 1))]);
  const int64_t n_batches = (n + o.batch - 1) / o.batch;
  Eigen::MatrixXf batch;
  double total = 0.0;
  for (int64_t b = 0; b < n_batches; ++b) {
    const int64_t first = b * n / n_batches, last = (b + 1) * n / n_batches;
    batch.resize(train.rows(), last - first);
    for (int64_t i = first; i < last; ++i) batch.col(i - first) = train.col(order[size_t(i)]);
    total += learner.step(batch, cosine_lr(o.lr, learner.steps(), total_steps));
  }
  return total / double(n);
}

EpochReport new_report(int layer, int epoch, int epochs) {
  EpochReport r;
  r.layer = layer;
  r.epoch = epoch;
  r.epochs = epochs;
  return r;
}

EpochReport::Kind kind_report(const TaskProgress& t, double train_loss, double val_rre) {
  EpochReport::Kind k;
  k.kind = t.kind;
  k.train_loss = train_loss;
  k.val_rre = val_rre;
  k.best_val_rre = t.best_val;
  k.best_epoch = t.best_epoch;
  k.stopped = t.stopped;
  return k;
}

// A run's validated inputs.
struct Setup {
  DumpSet dumps;
  std::vector<int> layers;
  std::optional<Dictionary> init;
  int m = 0, n = 0;  // head_dim, atoms
  SplitSizes sizes;
};

// Every check that can be made before training starts.
Setup prepare(const std::vector<std::string>& dump_paths, const TrainOptions& o) {
  Setup s{DumpSet(dump_paths), {}, {}, 0, 0, {}};
  const KvDumpInfo& info = s.dumps.info();
  s.m = info.head_dim;
  s.layers = o.layers.empty() ? info.layers : o.layers;
  for (int l : s.layers)
    if (l < 0 || l >= info.n_layers) usage_error("--layers", "layer {} is outside 0..{}", l, info.n_layers - 1);
  s.dumps.require_layers(s.layers);
  if (o.init != "random") {
    s.init = read_dictionary(o.init);
    check_compatible(*s.init, o.init, info, s.dumps.dumps().front().path(), s.layers);
    if (o.atoms != 0 && o.atoms != s.init->n_atoms)
      usage_error("--atoms", "{} differs from the {} atoms of the --init dictionary {}", o.atoms, s.init->n_atoms,
                  o.init);
  }
  s.n = o.atoms != 0 ? o.atoms : s.init ? s.init->n_atoms : kDefaultAtoms;
  const std::string where = s.dumps.describe();
  if (s.n < s.m)
    bad_input(where, "has head_dim {}, more than the {} atoms asked for; a dictionary needs N >= m (--atoms)", s.m,
              s.n);
  if (o.sparsity > s.m) usage_error("--sparsity", "{} exceeds head_dim {} of {}", o.sparsity, s.m, where);
  const int64_t available = s.dumps.vectors_per_layer();
  if (available < 2) bad_input(where, "holds {} vectors per layer; training needs more", available);
  s.sizes = split_sizes(available, o.max_vectors, o.val_fraction);
  if (o.epochs > 0 && s.sizes.train < s.n) {
    if (o.max_vectors > 0 && o.max_vectors < available)
      usage_error("--max-vectors", "{} leaves {} vectors for training after the validation split: too few for {} atoms",
                  o.max_vectors, s.sizes.train, s.n);
    bad_input(where,
              "has {} vectors per layer and kind, {} for training after the validation split: too few for {} atoms "
              "(at least as many vectors as atoms are needed; add dumps or lower --atoms)",
              available, s.sizes.train, s.n);
  }
  return s;
}

// The checkpoint's entry for a layer and kind, created when absent.
TaskProgress& task_of(Checkpoint& state, int layer, KvKind kind) {
  for (TaskProgress& t : state.tasks)
    if (t.layer == layer && t.kind == kind) return t;
  TaskProgress& t = state.tasks.emplace_back();
  t.layer = layer;
  t.kind = kind;
  return t;
}

// One epoch of one task, and its validation and early-stopping bookkeeping.
EpochReport::Kind train_task_epoch(TaskProgress& t, DictionaryLearner& learner, const TrainingVectors& data,
                                   const TrainOptions& o, int64_t total_steps, int epoch) {
  const auto start = Clock::now();
  const double loss =
      train_epoch(learner, data.train, o, total_steps,
                  derive_seed(o.seed, {uint64_t(t.layer), uint64_t(t.kind), kShuffle, uint64_t(epoch)}));
  const double val = learner.mean_rre(data.val);
  t.train_loss.push_back(loss);
  t.val_rre.push_back(val);
  t.epochs_done = epoch;
  t.restarted = learner.restarted();
  if (val < t.best_val) {
    t.best_val = val;
    t.best_epoch = epoch;
    t.best = learner.dictionary();
    t.since_best = 0;
  } else {
    ++t.since_best;
  }
  t.stopped = o.patience > 0 && t.since_best >= o.patience;
  t.seconds += since(start);
  return kind_report(t, loss, val);
}

// Trains a layer's unfinished dictionaries from where `state` left them,
// saving `state` to the checkpoint after the layer's last epoch and after
// any epoch that ends o.checkpoint_seconds or more after the last save
// (`saved`). Each save rewrites every finished layer's dictionaries, so a
// save per epoch would cost O(layers² · epochs) bytes over a run.
void train_layer(const Setup& s, const TrainOptions& o, int layer, Checkpoint& state, const std::string& ckpt_path,
                 Clock::time_point& saved, const EpochCallback& on_epoch) {
  for (KvKind kind : o.kinds) task_of(state, layer, kind);  // create all first: pointers stay valid
  std::vector<TaskProgress*> tasks;
  for (KvKind kind : o.kinds) tasks.push_back(&task_of(state, layer, kind));
  auto started = [](const TaskProgress* t) { return !t->val_rre.empty(); };
  auto all_finished = [&] {
    return std::all_of(tasks.begin(), tasks.end(),
                       [&](const TaskProgress* t) { return started(t) && t->finished(o.epochs); });
  };
  auto layer_seconds = [&] {
    double total = 0;
    for (const TaskProgress* t : tasks) total += t->seconds;
    return total;
  };
  if (all_finished()) return;

  // Data and a learner (new or restored) for each unfinished task; a new one
  // is validated first: epoch 0, the initial dictionary.
  LearnerOptions learner_options;
  learner_options.sparsity = o.sparsity;
  learner_options.dead_after = o.dead_after;
  learner_options.threads = o.threads;
  learner_options.encoders = o.encoders;
  std::vector<TrainingVectors> data(tasks.size());
  std::vector<std::unique_ptr<DictionaryLearner>> learners(tasks.size());
  EpochReport report = new_report(layer, 0, o.epochs);
  for (size_t k = 0; k < tasks.size(); ++k) {
    TaskProgress& t = *tasks[k];
    if (started(&t) && t.finished(o.epochs)) continue;
    const auto start = Clock::now();
    data[k] = load_training_vectors(s.dumps, layer, t.kind, o.max_vectors, o.val_fraction,
                                    derive_seed(o.seed, {uint64_t(layer), uint64_t(t.kind), kData}));
    t.n_train = data[k].train.cols();
    t.n_val = data[k].val.cols();
    learners[k] = make_learner(o.learners, initial_dictionary(o, s.init, layer, t.kind, s.m, s.n), learner_options);
    if (t.learner) {
      learners[k]->restore(std::move(*t.learner));
      t.learner.reset();
    } else {
      t.best = learners[k]->dictionary();
      t.best_val = learners[k]->mean_rre(data[k].val);
      t.val_rre = {t.best_val};
      report.kinds.push_back(kind_report(t, std::nan(""), t.best_val));
    }
    t.seconds += since(start);
  }
  if (!report.kinds.empty() && on_epoch) {
    report.seconds = report.layer_seconds = layer_seconds();
    report.layer_done = all_finished();
    on_epoch(report);
  }

  const int64_t total_steps = int64_t(o.epochs) * ((s.sizes.train + o.batch - 1) / o.batch);
  int epoch = 1;
  for (const TaskProgress* t : tasks) epoch = std::max(epoch, t->epochs_done + 1);
  for (; !all_finished(); ++epoch) {
    const auto start = Clock::now();
    report = new_report(layer, epoch, o.epochs);
    for (size_t k = 0; k < tasks.size(); ++k) {
      TaskProgress& t = *tasks[k];
      report.kinds.push_back(t.finished(o.epochs) ? kind_report(t, std::nan(""), std::nan(""))
                                                  : train_task_epoch(t, *learners[k], data[k], o, total_steps, epoch));
      if (learners[k] && t.finished(o.epochs)) learners[k].reset();
    }
    if (all_finished() || since(saved) >= o.checkpoint_seconds) {
      // The learners' states are saved while they may still be needed, then dropped.
      for (size_t k = 0; k < tasks.size(); ++k)
        if (learners[k]) tasks[k]->learner = learners[k]->state();
      write_checkpoint(ckpt_path, state);
      for (TaskProgress* t : tasks) t->learner.reset();
      saved = Clock::now();
    }
    if (on_epoch) {
      report.seconds = since(start);
      report.layer_done = all_finished();
      report.layer_seconds = layer_seconds();
      on_epoch(report);
    }
  }
}

// The dictionary file's content: the trained halves, the initial dictionary
// for halves not trained, and the metadata.
Dictionary assemble(const Setup& s, const TrainOptions& o, const std::vector<std::string>& dump_paths,
                    Checkpoint& state) {
  Dictionary d;
  d.model = s.dumps.info().model;
  d.n_layers = s.dumps.info().n_layers;
  d.head_dim = s.m;
  d.n_atoms = s.n;
  d.text_attrs = {{"train.tool", "lexico-train " LEXICO_VERSION},
                  {"train.init", o.init},
                  {"train.dumps", fmt::format("{}", fmt::join(dump_paths, ", "))},
                  {"train.seed", std::to_string(o.seed)}};  // text: exact for any 64-bit seed
  d.number_attrs = {{"train.atoms", s.n},
                    {"train.sparsity", o.sparsity},
                    {"train.epochs", o.epochs},
                    {"train.batch", o.batch},
                    {"train.lr", o.lr},
                    {"train.patience", o.patience},
                    {"train.max_vectors", double(o.max_vectors)},
                    {"train.val_fraction", o.val_fraction},
                    {"train.dead_after", o.dead_after}};
  // No wall times: they would make two runs of the same training differ
  // (outputs are compared by hash); lexico-train prints them instead.
  for (int layer : s.layers) {
    Dictionary::Layer& out = d.layers[layer];
    out.keys = initial_dictionary(o, s.init, layer, KvKind::Keys, s.m, s.n);
    out.values = initial_dictionary(o, s.init, layer, KvKind::Values, s.m, s.n);
    for (KvKind kind : o.kinds) {
      const TaskProgress& t = task_of(state, layer, kind);
      const std::string name = kv_kind_name(kind), prefix = fmt::format("train.layer.{}.{}.", layer, name);
      (kind == KvKind::Keys ? out.keys : out.values) = t.best;
      out.series["val_rre_" + name] = t.val_rre;
      if (!t.train_loss.empty()) out.series["train_loss_" + name] = t.train_loss;
      d.number_attrs[prefix + "vectors"] = double(t.n_train);
      d.number_attrs[prefix + "val_vectors"] = double(t.n_val);
      d.number_attrs[prefix + "epochs"] = t.epochs_done;
      d.number_attrs[prefix + "best_epoch"] = t.best_epoch;
      d.number_attrs[prefix + "val_rre"] = t.best_val;
      d.number_attrs[prefix + "restarted"] = double(t.restarted);
    }
    d.text_attrs[fmt::format("train.layer.{}.kinds", layer)] = kinds_text(o.kinds);
  }
  return d;
}

}  // namespace

std::string checkpoint_path(const std::string& output) { return output + ".ckpt"; }

Dictionary train_dictionary_file(const std::vector<std::string>& dump_paths, const TrainOptions& o,
                                 const std::string& output, bool resume, const EpochCallback& on_epoch) {
  check_options(o);
  const std::string ckpt_path = checkpoint_path(output);
  { AtomicOutput probe(output), probe_ckpt(ckpt_path); }  // io_error now, not after hours of training
  const Setup s = prepare(dump_paths, o);
  Checkpoint state;
  state.settings = settings_of(o, s.n, s.dumps, s.layers, s.init);
  if (resume && std::filesystem::exists(ckpt_path)) {
    Checkpoint saved = read_checkpoint(ckpt_path);
    check_settings(ckpt_path, saved.settings, state.settings);
    state.tasks = std::move(saved.tasks);
  }
  Clock::time_point saved = Clock::now();
  for (int layer : s.layers) train_layer(s, o, layer, state, ckpt_path, saved, on_epoch);
  Dictionary d = assemble(s, o, dump_paths, state);
  write_dictionary(output, d);
  std::error_code ec;
  std::filesystem::remove(ckpt_path, ec);  // the run is complete: nothing to resume
  return d;
}

}  // namespace lexico
