// Reconstruction error of Lexico's sparse codes beside simple alternatives,
// on the same key or value vectors and at comparable bytes per vector (the
// comparison the Lexico paper opens with). Per vector RRE = ‖x − x̂‖ / ‖x‖.
//
//   lexico  the trained dictionary, OMP at s atoms, FP8 coefficients (CSR):
//           3s + 2 bytes per vector (lexico_bytes_per_vector).
//   random  a random unit-norm dictionary of the same size (the initial
//           dictionary of lexico-train), same OMP and storage.
//   pca     mean-centred truncated PCA fitted on the training vectors of the
//           same layer and kind: r FP16 coefficients, r = ⌊(3s + 2) / 2⌋ (at
//           most m), so 2r ≤ 3s + 2 bytes. The mean and basis, like a
//           dictionary, are shared tables and not counted per vector.
//   kivi2/4 KIVI-style asymmetric quantization exactly as KiviCache stores it
//           (keys per channel over groups of G tokens, values per token over
//           groups of G channels, FP16 scale and min): bytes per vector
//           include the scales (kivi_bytes_per_vector). No FP16 residual: every
//           vector is quantized, so the error is that of the quantized part.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Core>

#include "lexico/dictionary.h"
#include "lexico/kivi_cache.h"
#include "lexico/kv_dump.h"
#include "lexico/omp.h"
#include "lexico/recon.h"

namespace lexico {

class Progress;

// CSR bytes of one s-sparse code: s FP8 values, s 16-bit indices, a 2-byte row offset.
inline double lexico_bytes_per_vector(int sparsity) { return 3.0 * sparsity + 2.0; }
// FP16 coefficients that fit in `bytes`, capped at head_dim.
int pca_rank_for_bytes(double bytes, int head_dim);
// Packed codes plus FP16 scale and min, per vector of head_dim elements: keys
// share a (scale, min) per channel among G tokens, values have one per G channels.
double kivi_bytes_per_vector(KvKind kind, int head_dim, int bits, int group);

// Mean and principal directions of a set of vectors, accumulated in double.
class PcaFit {
 public:
  explicit PcaFit(int dim);
  void add(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors);  // m × n
  int64_t count() const { return count_; }

  struct Basis {
    Eigen::VectorXf mean;        // m
    Eigen::MatrixXf components;  // m × m, columns by decreasing variance
    // mean + U_r c with c = U_rᵀ (x − mean) rounded to FP16, for each column of x.
    Eigen::MatrixXf reconstruct(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors, int rank) const;
  };
  // Throws bad_input(where, ...) when no vector was added.
  Basis basis(const std::string& where) const;

 private:
  int64_t count_ = 0;
  Eigen::VectorXd sum_;
  Eigen::MatrixXd scatter_;  // Σ x xᵀ
};

// KIVI quantize-then-dequantize of tokens × heads vectors ([tokens, heads,
// head_dim] row-major, as in a KV dump) through a KiviCache with no residual.
// For keys, tokens must be a multiple of options.group (whole groups). Returns
// head_dim × (tokens·heads), columns in the input's order.
Eigen::MatrixXf kivi_reconstruct(const float* vectors, int64_t tokens, int heads, int head_dim, KvKind kind,
                                 KiviOptions options);

// RRE of each column of x after OMP with `encoder` and FP8 storage, and the
// codes' CSR bytes.
struct SparseCodeErrors {
  std::vector<double> errors;
  size_t csr_bytes = 0;
};
SparseCodeErrors sparse_code_errors(const OmpEncoder& encoder,
                                    Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                                    const OmpOptions& options);

struct BaselineOptions {
  std::vector<int> sparsities = {4, 8, 16, 32};
  std::vector<int> layers;   // empty: every layer of the evaluation dump
  int64_t max_tokens = 0;    // evaluate the first this many tokens; 0 = all (either way cut to whole KIVI groups)
  std::vector<int> kivi_bits = {2, 4};
  int kivi_group = 32;
  uint64_t seed = 0;         // of the random dictionaries (one per layer and kind)
  int threads = 0;           // OMP's; 0 = all cores
};

// One method at one budget: its error pooled over all vectors of all chosen
// layers (every layer has the same number), and per layer.
struct BaselineRow {
  std::string method;  // lexico, random, pca, kivi2, kivi4
  int sparsity = 0;    // the s whose budget this row matches (0 for KIVI)
  int rank = 0;        // PCA's r (0 otherwise)
  double keys_bytes = 0, values_bytes = 0;  // per vector
  RreStats keys, values;
  std::vector<RreStats> layer_keys, layer_values;  // in BaselineReport::layers order
};
struct BaselineReport {
  int head_dim = 0, n_kv_heads = 0, n_atoms = 0;
  int64_t tokens = 0;        // evaluated per layer
  int64_t train_vectors = 0; // per layer and kind, fitted by PCA
  std::vector<int> layers;
  std::vector<BaselineRow> rows;  // per s: lexico, random, pca; then KIVI per bits
};

// Checks before any work: dictionary and training dumps against the
// evaluation dump (head_dim, layers), sparsities in 1..min(m, N), KIVI bits,
// enough tokens for one KIVI group.
BaselineReport compare_baselines(const KvDumpReader& eval, const std::vector<std::string>& train_dumps,
                                 const Dictionary& dict, const std::string& dict_path, const BaselineOptions& options,
                                 Progress* progress = nullptr);

}  // namespace lexico
