// KV dump: the keys and values of a model run, per layer, as written by
// lexico-harvest and read by lexico-train, lexico-encode and lexico-eval.
// Schema (man/lexico-formats.5): root attributes format="lexico-kv-dump",
// version, model, n_layers, n_kv_heads, head_dim, rope_applied; datasets
// /tokens and /positions (int32 [T]) and /layers/<l>/keys, /layers/<l>/values
// ([T, n_kv_heads, head_dim], float16 or float32, chunked, extendable), and
// optionally /layers/<l>/keys_prerope.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace lexico {

namespace h5 {
class File;
}

struct KvDumpInfo {
  std::string model;          // free text: the model's name or path
  int n_layers = 0;           // layers of the model (the dump may hold a subset)
  int n_kv_heads = 0;
  int head_dim = 0;
  bool rope_applied = true;   // keys as attention sees them
  bool has_prerope = false;   // keys before RoPE stored too
  bool fp16 = true;           // storage type of keys and values
  std::vector<int> layers;    // the layers present, ascending
};

// Which of a layer's arrays to read.
enum class KvKind { Keys, Values, KeysPreRope };
const char* kv_kind_name(KvKind kind);

class KvDumpReader {
 public:
  // Opens and validates the schema (format, version, shapes, layer list).
  explicit KvDumpReader(const std::string& path);
  ~KvDumpReader();
  KvDumpReader(KvDumpReader&&) noexcept;

  const std::string& path() const { return path_; }
  const KvDumpInfo& info() const { return info_; }
  int64_t n_tokens() const { return n_tokens_; }
  bool has_layer(int layer) const;
  std::vector<int32_t> tokens() const;
  std::vector<int32_t> positions() const;
  // An integer root attribute (e.g. recorded by the harvest).
  int64_t attr_int(const std::string& name) const;
  // Rows [token0, token0 + count) of one layer's array as float32,
  // [count, n_kv_heads, head_dim] row-major. Rejects NaN/Inf, naming the
  // layer and token.
  std::vector<float> read(int layer, KvKind kind, int64_t token0 = 0, int64_t count = -1) const;

 private:
  std::string path_;
  std::unique_ptr<h5::File> file_;
  KvDumpInfo info_;
  int64_t n_tokens_ = 0;
};

// Streams windows of tokens into a new dump. Write to an AtomicOutput temp
// path and commit when done.
class KvDumpWriter {
 public:
  // Creates a new file with the given schema header.
  KvDumpWriter(const std::string& path, const KvDumpInfo& info);
  ~KvDumpWriter();
  KvDumpWriter(KvDumpWriter&&) noexcept;

  int64_t n_tokens() const { return n_tokens_; }
  // Appends n tokens: ids and positions [n]; keys/values (and keys_prerope if
  // the dump has them) per present layer, in info.layers order, each
  // [n, n_kv_heads, head_dim].
  void append(const std::vector<int32_t>& tokens, const std::vector<int32_t>& positions,
              const std::vector<const float*>& keys, const std::vector<const float*>& values,
              const std::vector<const float*>& keys_prerope = {});
  // Records a free-form integer attribute (e.g. a harvest segment's windows).
  void set_attr(const std::string& name, int64_t value);
  void close();

 private:
  std::string path_;
  std::unique_ptr<h5::File> file_;
  KvDumpInfo info_;
  int64_t n_tokens_ = 0;
};

// Synthetic dump for tests and demos: vectors that are sparse combinations of
// a hidden random dictionary plus Gaussian noise, with a per-channel scale
// like real keys. Deterministic for a seed.
struct SyntheticDumpSpec {
  int n_layers = 2;
  int n_kv_heads = 2;
  int head_dim = 64;
  int64_t n_tokens = 1024;
  int hidden_atoms = 256;
  int hidden_sparsity = 6;
  float noise = 0.02f;
  uint64_t seed = 1;
  bool fp16 = false;
};
void write_synthetic_dump(const std::string& path, const SyntheticDumpSpec& spec);

}  // namespace lexico
