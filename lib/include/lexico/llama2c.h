// llama2.c checkpoints ("v0" format): 7 little-endian int32 (dim, hidden_dim,
// n_layers, n_heads, n_kv_heads, vocab_size, seq_len) then fp32 weights in a
// fixed order. A negative vocab_size means the classifier is stored after the
// other weights instead of being the token embedding.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "lexico/mapped_file.h"

namespace lexico {

struct Llama2cHeader {
  int dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0, seq_len = 0;
  bool shared_classifier = true;
  int head_dim() const { return dim / n_heads; }
  int kv_dim() const { return head_dim() * n_kv_heads; }
};

// One weight of the checkpoint, all layers stacked: shape is [n_layers, rows,
// cols] for per-layer weights, [rows, cols] otherwise; row-major, [out, in].
struct Llama2cTensor {
  const float* data = nullptr;
  std::vector<int64_t> shape;
};

class Llama2cFile {
 public:
  // Maps the file and checks the header and the file size.
  explicit Llama2cFile(const std::string& path);

  const std::string& path() const { return file_.path(); }
  const Llama2cHeader& header() const { return header_; }

  // By llama2.c's names: token_embedding_table, rms_att_weight, wq, wk, wv, wo,
  // rms_ffn_weight, w1 (gate), w2 (down), w3 (up), rms_final_weight, wcls.
  const Llama2cTensor& tensor(const std::string& name) const;

 private:
  MappedFile file_;
  Llama2cHeader header_;
  std::vector<std::pair<std::string, Llama2cTensor>> tensors_;
};

}  // namespace lexico
