#include "lexico/dictionary_training_checkpoint.h"

#include <sstream>

#include "io/h5.h"
#include "lexico/atomic_file.h"
#include "lexico/error.h"

namespace lexico {

namespace {

constexpr const char* kFormat = "lexico-train-checkpoint";
constexpr int64_t kVersion = 1;

std::string group(size_t task) { return fmt::format("/tasks/{}", task); }

void write_matrix(h5::File& f, const std::string& name, const Eigen::MatrixXf& m) {
  // Atom-major [N, m], as in dictionary files.
  f.write_floats(name, m.data(), {hsize_t(m.cols()), hsize_t(m.rows())}, h5::Storage::F32);
}

void write_counts(h5::File& f, const std::string& name, const std::vector<int64_t>& v) {
  const std::vector<uint64_t> u(v.begin(), v.end());
  f.write_u64(name, u.data(), u.size());
}

Eigen::MatrixXf read_matrix(const h5::File& f, const std::string& name, Eigen::Index rows, Eigen::Index cols) {
  const auto shape = f.shape(name);
  if (shape != std::vector<hsize_t>{hsize_t(cols), hsize_t(rows)})
    bad_input(f.path(), "{} does not have the checkpoint's shape [{}, {}]", name, cols, rows);
  std::vector<float> data = f.read_floats(name);
  return Eigen::Map<Eigen::MatrixXf>(data.data(), rows, cols);
}

std::vector<int64_t> read_counts(const h5::File& f, const std::string& name, size_t n) {
  const std::vector<uint64_t> u = f.read_u64(name);
  if (u.size() != n) bad_input(f.path(), "{} holds {} values, expected {}", name, u.size(), n);
  return {u.begin(), u.end()};
}

}  // namespace

void write_checkpoint(const std::string& path, const Checkpoint& checkpoint) {
  AtomicOutput out(path);
  {
    h5::File f = h5::File::create(out.temp_path());
    f.set_attr("/", "format", std::string(kFormat));
    f.set_attr("/", "version", kVersion);
    std::string settings;
    for (const auto& [name, value] : checkpoint.settings) settings += name + '=' + value + '\n';
    f.set_attr("/", "settings", settings);
    f.set_attr("/", "n_tasks", int64_t(checkpoint.tasks.size()));
    for (size_t i = 0; i < checkpoint.tasks.size(); ++i) {
      const TaskProgress& t = checkpoint.tasks[i];
      const std::string g = group(i);
      write_matrix(f, g + "/best", t.best);
      f.set_attr(g, "layer", int64_t(t.layer));
      f.set_attr(g, "kind", int64_t(t.kind));
      f.set_attr(g, "epochs_done", int64_t(t.epochs_done));
      f.set_attr(g, "stopped", int64_t(t.stopped));
      f.set_attr(g, "best_epoch", int64_t(t.best_epoch));
      f.set_attr(g, "best_val", t.best_val);
      f.set_attr(g, "since_best", int64_t(t.since_best));
      f.set_attr(g, "val_rre", t.val_rre);
      f.set_attr(g, "train_loss", t.train_loss);
      f.set_attr(g, "seconds", t.seconds);
      f.set_attr(g, "n_train", t.n_train);
      f.set_attr(g, "n_val", t.n_val);
      f.set_attr(g, "restarted", t.restarted);
      f.set_attr(g, "has_learner", int64_t(t.learner.has_value()));
      if (!t.learner) continue;
      const DictionaryLearner::State& s = *t.learner;
      write_matrix(f, g + "/dictionary", s.dictionary);
      write_matrix(f, g + "/adam_first", s.adam_first);
      write_matrix(f, g + "/adam_second", s.adam_second);
      write_counts(f, g + "/adam_steps", s.adam_steps);
      write_counts(f, g + "/idle", s.idle);
      f.set_attr(g, "steps", s.steps);
      f.set_attr(g, "learner_restarted", s.restarted);
    }
    f.flush();
  }
  out.commit();
}

Checkpoint read_checkpoint(const std::string& path) {
  h5::File f = h5::File::open_read(path);
  h5::check_format(f, kFormat, kVersion);
  Checkpoint c;
  std::istringstream settings(f.attr_string("/", "settings"));
  for (std::string line; std::getline(settings, line);) {
    const size_t eq = line.find('=');
    if (eq == std::string::npos) bad_input(path, "malformed settings line '{}'", line);
    c.settings[line.substr(0, eq)] = line.substr(eq + 1);
  }
  const int64_t n_tasks = f.attr_int("/", "n_tasks");
  for (int64_t i = 0; i < n_tasks; ++i) {
    const std::string g = group(size_t(i));
    if (!f.exists(g + "/best")) bad_input(path, "has no {}/best", g);
    const auto shape = f.shape(g + "/best");
    if (shape.size() != 2) bad_input(path, "{}/best is not a matrix", g);
    const Eigen::Index atoms = Eigen::Index(shape[0]), dim = Eigen::Index(shape[1]);
    TaskProgress t;
    t.best = read_matrix(f, g + "/best", dim, atoms);
    t.layer = int(f.attr_int(g, "layer"));
    const int64_t kind = f.attr_int(g, "kind");
    if (kind != int64_t(KvKind::Keys) && kind != int64_t(KvKind::Values)) bad_input(path, "{} has kind {}", g, kind);
    t.kind = KvKind(kind);
    t.epochs_done = int(f.attr_int(g, "epochs_done"));
    t.stopped = f.attr_int(g, "stopped") != 0;
    t.best_epoch = int(f.attr_int(g, "best_epoch"));
    t.best_val = f.attr_double(g, "best_val");
    t.since_best = int(f.attr_int(g, "since_best"));
    t.val_rre = f.attr_doubles(g, "val_rre");
    t.train_loss = f.attr_doubles(g, "train_loss");
    t.seconds = f.attr_double(g, "seconds");
    t.n_train = f.attr_int(g, "n_train");
    t.n_val = f.attr_int(g, "n_val");
    t.restarted = f.attr_int(g, "restarted");
    if (f.attr_int(g, "has_learner") != 0) {
      DictionaryLearner::State s;
      s.dictionary = read_matrix(f, g + "/dictionary", dim, atoms);
      s.adam_first = read_matrix(f, g + "/adam_first", dim, atoms);
      s.adam_second = read_matrix(f, g + "/adam_second", dim, atoms);
      s.adam_steps = read_counts(f, g + "/adam_steps", size_t(atoms));
      s.idle = read_counts(f, g + "/idle", size_t(atoms));
      s.steps = f.attr_int(g, "steps");
      s.restarted = f.attr_int(g, "learner_restarted");
      t.learner = std::move(s);
    }
    c.tasks.push_back(std::move(t));
  }
  return c;
}

void check_settings(const std::string& path, const std::map<std::string, std::string>& stored,
                    const std::map<std::string, std::string>& wanted) {
  for (const auto& [name, value] : wanted) {
    auto it = stored.find(name);
    const std::string old = it == stored.end() ? "(none)" : it->second;
    if (old != value)
      bad_input(path,
                "was made with other settings: {} was {}, this run has {}; resume with the same options "
                "and dumps, or start over without --resume",
                name, old, value);
  }
  for (const auto& [name, value] : stored)
    if (!wanted.count(name)) bad_input(path, "was made with other settings: unknown setting {}", name);
}

}  // namespace lexico
