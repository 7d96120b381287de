// Dictionaries: per layer, one m×N dictionary for keys and one for values
// (unit-norm atoms), shared by the layer's KV heads. Schema
// (man/lexico-formats.5): root attributes format="lexico-dictionary",
// version, model, n_layers, head_dim, n_atoms, content_sha256, training
// metadata; datasets /layers/<l>/keys and /layers/<l>/values, float32 [N, m]
// (atom-major, so each atom is contiguous).
#pragma once
#include <Eigen/Core>
#include <map>
#include <string>
#include <vector>

#include "lexico/kv_dump.h"

namespace lexico {

struct Dictionary {
  struct Layer {
    Eigen::MatrixXf keys;    // m × N, column j = atom j
    Eigen::MatrixXf values;  // m × N
    // Per-epoch series recorded by training (e.g. "val_rre_keys").
    std::map<std::string, std::vector<double>> series;
  };

  std::string model;  // the model the KVs came from
  int n_layers = 0;   // layers of that model (this file may hold a subset)
  int head_dim = 0;   // m
  int n_atoms = 0;    // N
  std::map<int, Layer> layers;
  std::map<std::string, std::string> text_attrs;  // training metadata
  std::map<std::string, double> number_attrs;

  bool has_layer(int layer) const { return layers.count(layer) != 0; }
  // The dictionary of one layer and kind (Keys or Values); throws if absent.
  const Eigen::MatrixXf& at(int layer, KvKind kind) const;
  // SHA-256 of the content (shape, layer indices and atoms, not metadata):
  // what codes files record to refuse decoding with another dictionary.
  std::string content_sha256() const;
};

// Reads and validates: format, version, shapes, N ≤ 65536 (16-bit indices),
// finite values, unit-norm atoms (to 1e-3).
Dictionary read_dictionary(const std::string& path);
// Writes atomically (temporary name, then rename).
void write_dictionary(const std::string& path, const Dictionary& dict);
// Checks that a dictionary can encode vectors of a dump: same head_dim and a
// layer for each requested one. `where` names the files for the message.
void check_compatible(const Dictionary& dict, const std::string& dict_path, const KvDumpInfo& dump,
                      const std::string& dump_path, const std::vector<int>& layers);

}  // namespace lexico
