// Codes file: the sparse codes of a KV dump, written by lexico-encode.
// Schema (man/lexico-formats.5): root attributes format="lexico-codes",
// version, model, n_layers, n_kv_heads, head_dim, n_atoms, n_tokens, sparsity,
// tolerance, fp8_refit, dictionary_sha256 (the content checksum of the
// dictionary used: decoding with any other is refused); per layer and kind
// /layers/<l>/<keys|values>/{row_ptr uint32 [rows+1], indices uint16 [nnz],
// values uint8 FP8 E4M3 [nnz]}, rows in dump order (token-major, then head).
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "lexico/kv_dump.h"
#include "lexico/sparse_codes.h"

namespace lexico {

struct CodesFile {
  struct Layer {
    SparseCodes keys, values;
  };
  std::string model;
  std::string dictionary_sha256;
  int n_layers = 0;
  int n_kv_heads = 0;
  int head_dim = 0;
  int n_atoms = 0;
  int64_t n_tokens = 0;
  int sparsity = 0;
  double tolerance = 0;
  bool fp8_refit = false;
  std::map<int, Layer> layers;

  const SparseCodes& at(int layer, KvKind kind) const;
};

// Reads and validates (format, version, CSR structure, row counts).
CodesFile read_codes(const std::string& path);
// Writes atomically.
void write_codes(const std::string& path, const CodesFile& codes);

}  // namespace lexico
