// lexico-train's library side: trains per-layer key and value dictionaries on
// KV dumps and writes a dictionary file; merges per-layer files into one.
//
// Per layer and kind (keys, values) one m×N dictionary, shared by the layer's
// KV heads, is trained by DictionaryLearner (dictionary_training_step.h) for
// `epochs` passes over the training vectors in shuffled mini-batches, with
// learning rate cosine-decayed over all steps. After each epoch the held-out
// vectors give a mean RRE; the dictionary with the best one is kept, and a
// kind whose validation RRE has not improved for `patience` epochs stops.
// Layers are trained one after another, each from its own random streams, so
// a layer's result does not depend on which other layers the run trains, nor
// on the thread count.
//
// After every epoch the whole state is saved to a checkpoint beside the
// output; a run started with resume continues from it and ends with the same
// dictionaries as an uninterrupted run.
//
// Metadata written to the dictionary file (Dictionary::text_attrs/number_attrs):
//   train.tool, train.init, train.dumps, train.seed (text: exact for any
//   64-bit seed); train.atoms, train.sparsity, train.epochs, train.batch,
//   train.lr, train.patience, train.max_vectors, train.val_fraction,
//   train.dead_after (numbers); no wall times, so that the same training
//   gives the same bytes (the report and lexico-train's log carry them);
//   per trained layer l and kind k:
//   train.layer.<l>.kinds (text: "keys", "values" or "keys,values", the halves
//   this file trained; the other half holds its initial dictionary), and
//   train.layer.<l>.<k>.{vectors, val_vectors, epochs, best_epoch,
//   val_rre, restarted} (numbers). Series per layer: val_rre_<k> (epochs run
//   + 1 values: index 0 is the initial dictionary) and train_loss_<k> (mean
//   ‖x − Dy‖² over each epoch's steps).
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "lexico/dictionary.h"
#include "lexico/dictionary_learner.h"
#include "lexico/kv_dump.h"
#include "lexico/sparse_encoder.h"

namespace lexico {

struct TrainOptions {
  int atoms = 0;     // N; 0 = that of the init dictionary, or 4096 for a random start
  int sparsity = 8;  // s of the codes during training and validation
  int epochs = 20;
  int batch = 4096;  // vectors per step (fewer when the training set is smaller)
  double lr = 1e-4;  // Adam's peak learning rate, cosine-decayed to 0
  uint64_t seed = 0;
  std::vector<int> layers;  // empty: every layer of the first dump
  std::vector<KvKind> kinds = {KvKind::Keys, KvKind::Values};
  int threads = 0;              // 0 = all cores; results do not depend on it
  int patience = 3;             // epochs without a better validation RRE before stopping; 0 = never
  std::string init = "random";  // or the path of a dictionary file to fine-tune
  int64_t max_vectors = 0;      // per layer and kind: a random sample of this many; 0 = all
  double val_fraction = 0.05;   // held out for validation, in (0, 0.5]
  int dead_after = 50;          // steps unused before an atom restarts; 0 = never
  // The checkpoint is saved after each layer's last epoch and after any
  // epoch ending this long after the last save (0: after every epoch).
  double checkpoint_seconds = 30;
  // Who codes the batches and the validation vectors (empty: OmpEncoder on
  // the CPU). Results are identical run to run on one device; the GPU's codes
  // differ from the CPU's in float rounding, so a resume must use the device
  // the checkpoint was made on to continue bit for bit.
  EncoderFactory encoders;
  // Who learns each dictionary (empty: CpuDictionaryLearner, coding with
  // `encoders`); e.g. lexico::cuda::learner_factory keeps the whole step on
  // the GPU. The same resume rule holds as for `encoders`.
  LearnerFactory learners;
};

// What a progress line shows: one per layer and epoch (epoch 0 = the initial
// dictionary, before any step).
struct EpochReport {
  struct Kind {
    KvKind kind;
    double train_loss = 0;  // mean ‖x − Dy‖² over this epoch's steps (NaN at epoch 0)
    double val_rre = 0;     // this epoch's validation RRE
    double best_val_rre = 0;
    int best_epoch = 0;
    bool stopped = false;  // early-stopped (at this epoch or before: then train_loss and val_rre are NaN)
  };
  int layer = 0;
  int epoch = 0, epochs = 0;
  std::vector<Kind> kinds;
  double seconds = 0;        // wall time of this epoch (both kinds)
  bool layer_done = false;   // the layer's last report
  double layer_seconds = 0;  // wall time of the layer so far, resumed runs included
};
using EpochCallback = std::function<void(const EpochReport&)>;

// Where train_dictionary_file keeps its checkpoint: "<output>.ckpt".
std::string checkpoint_path(const std::string& output);

// Trains and writes the dictionary file `output` (atomically), then removes
// the checkpoint. With resume, continues from checkpoint_path(output) when it
// exists (bad_input if it was made with other options or dumps); otherwise
// starts afresh. Before any work: usage_error for invalid options, bad_input
// for inconsistent dumps, too few vectors for N atoms (unless epochs is 0),
// N < m, or an unusable init dictionary, io_error for an unwritable output.
// The output is written only when everything succeeded.
Dictionary train_dictionary_file(const std::vector<std::string>& dumps, const TrainOptions& options,
                                 const std::string& output, bool resume = false, const EpochCallback& on_epoch = {});

// Joins dictionary files with disjoint layers, or disjoint halves of layers
// (train.layer.<l>.kinds; a file without it counts as holding both halves),
// into one. All must share model, n_layers, head_dim and n_atoms, and agree on
// every training setting (train.* other than per-layer and train.seconds,
// which is summed). A layer half no file trained keeps the first file's.
Dictionary merge_dictionaries(const std::vector<std::string>& paths);

}  // namespace lexico
