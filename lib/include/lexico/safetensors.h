// Hugging Face safetensors: an 8-byte little-endian header length, a JSON
// header {name: {dtype, shape, data_offsets: [begin, end]}} and the raw data.
// A sharded checkpoint has model.safetensors.index.json whose weight_map names
// the file holding each tensor. Files are memory-mapped.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "lexico/mapped_file.h"

namespace lexico {

struct SafetensorsTensor {
  std::string name;
  std::string dtype;  // as in the header: "F32", "F16", "BF16", "I64", ...
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t n_bytes = 0;
  const std::string* file = nullptr;  // the shard holding it, for messages

  int64_t n_elements() const;
};

class Safetensors {
 public:
  // A .safetensors file, a model.safetensors.index.json, or a folder holding
  // either (model.safetensors or the index). Throws BadInput naming the file.
  explicit Safetensors(const std::string& path);

  const std::vector<SafetensorsTensor>& tensors() const { return tensors_; }
  const SafetensorsTensor* find(std::string_view name) const;
  const SafetensorsTensor& tensor(std::string_view name) const;

  // Converts an F32, F16 or BF16 tensor to float (n_elements values).
  void read(const SafetensorsTensor& t, float* out) const;
  std::vector<float> read(const SafetensorsTensor& t) const;

 private:
  void add_file(const std::string& path);
  void parse_header(const MappedFile& f);

  std::vector<std::unique_ptr<MappedFile>> files_;
  std::vector<SafetensorsTensor> tensors_;
};

}  // namespace lexico
