#include "lexico/llama2c.h"

#include <bit>
#include <cstring>
#include <limits>

#include "lexico/error.h"

namespace lexico {

static_assert(std::endian::native == std::endian::little, "llama2.c files are read in place: little-endian hosts only");

Llama2cFile::Llama2cFile(const std::string& path) : file_(path) {
  const std::string& where = file_.path();
  int32_t h[7];
  if (file_.size() < sizeof(h)) bad_input(where, "truncated file: no llama2.c header");
  std::memcpy(h, file_.data(), sizeof(h));
  // -INT32_MIN does not exist: that vocab_size reads as 0 and is refused below.
  const int32_t vocab = h[5] == std::numeric_limits<int32_t>::min() ? 0 : h[5] < 0 ? -h[5] : h[5];
  header_ = {h[0], h[1], h[2], h[3], h[4], vocab, h[6], h[5] > 0};
  const Llama2cHeader& c = header_;
  if (c.dim <= 0 || c.hidden_dim <= 0 || c.n_layers <= 0 || c.n_heads <= 0 || c.n_kv_heads <= 0 ||
      c.vocab_size <= 0 || c.seq_len <= 0)
    bad_input(where, "bad llama2.c header (dim {}, hidden_dim {}, n_layers {}, n_heads {}, n_kv_heads {}, vocab {}, seq_len {})",
              h[0], h[1], h[2], h[3], h[4], h[5], h[6]);
  if (c.dim % c.n_heads != 0 || c.n_heads % c.n_kv_heads != 0 || c.head_dim() % 2 != 0)
    bad_input(where, "bad llama2.c header: dim {} with {} heads and {} KV heads", c.dim, c.n_heads, c.n_kv_heads);

  // Lay the tensors out in file order, checking each against the file size.
  // Every dimension is below 2^31, so a product of three fits in 2^93: check
  // each step against what the file can hold instead.
  const uint64_t capacity = (file_.size() - sizeof(h)) / sizeof(float);
  uint64_t offset = 0;  // in floats, after the header
  auto add = [&](const char* name, std::vector<int64_t> shape) {
    uint64_t n = 1;
    for (int64_t d : shape) {
      if (static_cast<uint64_t>(d) > capacity / n) bad_input(where, "truncated file: weight {} does not fit", name);
      n *= static_cast<uint64_t>(d);
    }
    if (n > capacity - offset) bad_input(where, "truncated file: weight {} does not fit", name);
    const auto* p = reinterpret_cast<const float*>(file_.data() + sizeof(h)) + offset;
    tensors_.push_back({name, {p, std::move(shape)}});
    offset += n;
  };
  const int64_t L = c.n_layers, dim = c.dim, hid = c.hidden_dim, kv = c.kv_dim();
  add("token_embedding_table", {c.vocab_size, dim});
  add("rms_att_weight", {L, dim});
  add("wq", {L, dim, dim});
  add("wk", {L, kv, dim});
  add("wv", {L, kv, dim});
  add("wo", {L, dim, dim});
  add("rms_ffn_weight", {L, dim});
  add("w1", {L, hid, dim});
  add("w2", {L, dim, hid});
  add("w3", {L, hid, dim});
  add("rms_final_weight", {dim});
  add("freq_cis", {2, c.seq_len, c.head_dim() / 2});  // precomputed RoPE tables, unused
  if (c.shared_classifier) {
    tensors_.push_back({"wcls", tensor("token_embedding_table")});
  } else {
    add("wcls", {c.vocab_size, dim});
  }
}

const Llama2cTensor& Llama2cFile::tensor(const std::string& name) const {
  for (const auto& [n, t] : tensors_)
    if (n == name) return t;
  bad_input(path(), "llama2.c checkpoint has no weight '{}'", name);
}

}  // namespace lexico
