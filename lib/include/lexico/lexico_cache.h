// The Lexico KV cache: keys (after RoPE) and values as sparse codes over the
// layer's dictionaries, plus a full-precision buffer of the newest tokens.
//
// Policy. New tokens go to the buffer, in FP16. Compression happens only
// between steps (at the end of attend(), and at the start of an append() that
// follows an append() without attend()): every buffered token but the newest
// n_b is encoded by OMP (fixed s, or tolerance δ with at most s atoms) and
// moved out. So a prefill attends exactly, leaves n_b tokens in the buffer
// and the rest compressed; each decode step then attends over n_b + 1
// buffered tokens and compresses the oldest. The queries of a step only ever
// see compressed tokens older than all of them, so causal masking only
// concerns the buffer.
//
// Storage per (layer, KV head, keys|values): δ = 0: fixed-s rows, uint16
// indices [T_c, s] and FP8 E4M3 coefficients [T_c, s] (a code OMP ended
// early is padded with zero coefficients): 3s bytes a vector. δ > 0: CSR,
// a uint16 non-zero count per row plus 3 bytes per non-zero: 3·nnz + 2.
//
// Attention never decompresses: per query head, qD = D_kᵀq (N numbers, one
// GEMM for the queries of a block); a compressed token's score is Σ_j c_j·qD[i_j];
// buffer scores are exact; one softmax over both (max subtracted over both);
// the values' weights accumulate into acc[N] += w·c_j, and
// out = D_v·acc + Σ_buffer w·v.
//
// bytes() counts everything held: codes, buffer, and the dictionaries and
// Gram matrices (float32, counted once however many caches share them).
// payload_bytes() leaves the dictionaries and Gram matrices out: the paper's
// measure, since they are shared across requests.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "lexico/dictionary.h"
#include "lexico/kv_cache.h"
#include "lexico/omp.h"

namespace lexico {

struct LexicoOptions {
  int sparsity = 16;       // s: atoms per vector (the cap when tolerance > 0)
  float tolerance = 0.0f;  // δ: stop once ‖x − Dy‖ ≤ δ‖x‖; 0 = fixed s
  int buffer = 128;        // n_b: newest tokens kept in FP16
  bool fp8_refit = false;  // OmpOptions::fp8_refit
};

// Throws bad_input unless the dictionary fits the model: same head_dim, same
// number of layers, and a key and value dictionary for every layer.
void check_dictionary(const Dictionary& dict, const CacheShape& shape, const std::string& where = "dictionary");

// One OMP encoder (D and G = DᵀD) per layer and kind, built once and shared
// by every LexicoCache of the model.
class LexicoDictionaries {
 public:
  // check_dictionary, then builds the 2·n_layers encoders (in parallel).
  LexicoDictionaries(const Dictionary& dict, const CacheShape& shape, const std::string& where = "dictionary");
  const OmpEncoder& keys(int layer) const { return *keys_.at(layer); }
  const OmpEncoder& values(int layer) const { return *values_.at(layer); }
  int n_layers() const { return int(keys_.size()); }
  int head_dim() const { return head_dim_; }
  int n_atoms() const { return n_atoms_; }
  const std::string& model() const { return model_; }
  // float32 D (m×N) and G (N rounded up to 64 × N, as OmpEncoder pads it) per encoder.
  size_t bytes() const;

 private:
  std::vector<std::unique_ptr<OmpEncoder>> keys_, values_;
  int head_dim_ = 0, n_atoms_ = 0;
  std::string model_;
};

class LexicoCache : public KvCache {
 public:
  // Throws usage_error for options out of range (s outside 1..min(m, N),
  // δ outside [0, 1), negative buffer, s > 65535 in CSR form), bad_input when
  // the dictionaries do not fit the shape.
  LexicoCache(CacheShape shape, std::shared_ptr<const LexicoDictionaries> dictionaries, LexicoOptions options);
  LexicoCache(CacheShape shape, const Dictionary& dictionary, LexicoOptions options);
  ~LexicoCache() override;

  void append(int layer, const float* k, const float* v, int n_tokens) override;
  void attend(int layer, const float* q, int n_tokens, float* out) override;
  int64_t length(int layer) const override;
  size_t bytes() const override;
  size_t payload_bytes() const override;
  void clear() override;
  std::string name() const override;

  const LexicoOptions& options() const { return options_; }
  const LexicoDictionaries& dictionaries() const { return *dicts_; }
  bool fixed_layout() const { return options_.tolerance == 0.0f; }
  int64_t compressed_length(int layer) const;
  int64_t buffer_length(int layer) const;
  // Non-zeros stored, all layers, heads and both kinds (padding included in the fixed layout).
  int64_t stored_nonzeros() const;
  // The stored code of compressed token `token` (0 = oldest) of one head:
  // atom indices and FP8 codes, padding included. For tests and inspection.
  void code(int layer, int kv_head, KvKind kind, int64_t token, std::vector<uint16_t>& indices,
            std::vector<uint8_t>& coefficients) const;

 private:
  struct Codes {  // one (layer, KV head, kind)'s compressed tokens, oldest first
    std::vector<uint16_t> indices;
    std::vector<uint8_t> values;  // FP8 E4M3
    std::vector<uint16_t> counts;  // CSR only: non-zeros per token
    size_t bytes() const;
  };
  struct Layer;
  struct Scratch;
  void settle(int layer);  // compresses all but the newest n_b buffered tokens
  void compress(int layer, int64_t n);
  // Queries [first, first + count) of the step's n_tokens.
  void attend_block(int layer, const float* q, int n_tokens, int first, int count, float* out);

  std::shared_ptr<const LexicoDictionaries> dicts_;
  LexicoOptions options_;
  std::vector<Layer> layers_;
  std::vector<Scratch> scratch_;     // one per OpenMP thread
  std::vector<float> compress_buf_;  // float copies of the tokens being encoded
  std::vector<float> qd_, acc_;      // [block·n_heads, N]: q·D_k and the atom weights
};

}  // namespace lexico
