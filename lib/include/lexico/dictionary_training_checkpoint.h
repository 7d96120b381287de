// The state of a lexico-train run between epochs, as saved to and restored
// from "<output>.ckpt" (HDF5, format "lexico-train-checkpoint"): the settings
// that determine the result, and per layer and kind its bookkeeping and best
// dictionary, plus, while it is still training, the learner's full state
// (D, Adam moments and step counts, idle counters). Random streams are
// derived from (seed, layer, kind, epoch), so no generator state is needed.
#pragma once
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "lexico/dictionary_training_step.h"
#include "lexico/kv_dump.h"

namespace lexico {

struct TaskProgress {
  int layer = 0;
  KvKind kind = KvKind::Keys;
  int epochs_done = 0;
  bool stopped = false;  // early stopping ended it
  int best_epoch = 0;    // 0 = the initial dictionary
  double best_val = 0;
  int since_best = 0;  // epochs since best_epoch
  std::vector<double> val_rre, train_loss;
  double seconds = 0;
  int64_t n_train = 0, n_val = 0, restarted = 0;
  Eigen::MatrixXf best;                             // dictionary of best_epoch
  std::optional<DictionaryLearner::State> learner;  // only while training continues

  bool finished(int epochs) const { return stopped || epochs_done >= epochs; }
};

struct Checkpoint {
  // name → value of what must match for a resume (options, dumps).
  std::map<std::string, std::string> settings;
  std::vector<TaskProgress> tasks;
};

// Atomic write (AtomicOutput): a kill leaves the previous checkpoint intact.
void write_checkpoint(const std::string& path, const Checkpoint& checkpoint);
Checkpoint read_checkpoint(const std::string& path);
// bad_input(path, ...) naming the first setting whose stored and wanted
// values differ.
void check_settings(const std::string& path, const std::map<std::string, std::string>& stored,
                    const std::map<std::string, std::string>& wanted);

}  // namespace lexico
