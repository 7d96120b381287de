// Encoding a whole KV dump with a dictionary, and measuring how well codes
// reconstruct it: the library side of lexico-encode and `lexico-eval recon`.
#pragma once
#include <string>
#include <vector>

#include "lexico/codes_file.h"
#include "lexico/dictionary.h"
#include "lexico/kv_dump.h"
#include "lexico/omp.h"
#include "lexico/recon.h"
#include "lexico/sparse_encoder.h"

namespace lexico {

class Progress;

// Reconstruction quality of one layer's keys or values.
struct KindReport {
  RreStats rre;          // RRE after FP8 storage
  size_t vectors = 0;
  size_t nnz = 0;        // stored non-zeros
  size_t csr_bytes = 0;  // 3·nnz + 2·rows
};
struct LayerReport {
  int layer = 0;
  KindReport keys, values;
};
struct EncodingReport {
  std::vector<LayerReport> layers;
  int head_dim = 0;
  size_t vectors() const;
  size_t csr_bytes() const;
  size_t fp16_bytes() const { return vectors() * 2 * static_cast<size_t>(head_dim); }
  RreStats overall(KvKind kind) const;  // pooled over layers
};

struct DumpEncodingOptions {
  OmpOptions omp;
  std::vector<int> layers;      // empty = every layer of the dump
  int64_t block_tokens = 8192;  // tokens read and encoded at a time
  EncoderFactory encoders;      // the device that codes (empty: OmpEncoder on the CPU)
};

// Encodes the chosen layers of `dump` (OMP, then FP8) and measures RRE.
// Checks that the dictionary fits the dump first.
CodesFile encode_dump(const KvDumpReader& dump, const Dictionary& dict, const std::string& dict_path,
                      const DumpEncodingOptions& options, EncodingReport* report, Progress* progress = nullptr);

// Measures the RRE of stored codes against the dump they came from. Refuses
// codes made with another dictionary (checksum) or from another dump (shape).
EncodingReport evaluate_codes(const KvDumpReader& dump, const Dictionary& dict, const std::string& dict_path,
                              const CodesFile& codes, const std::string& codes_path, std::vector<int> layers,
                              Progress* progress = nullptr);

}  // namespace lexico
