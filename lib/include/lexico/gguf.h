// GGUF (versions 2 and 3), the file format of llama.cpp: a header, typed
// metadata key/values, a tensor table, then aligned tensor data. The file is
// memory-mapped; every offset and size is checked against it when opened, so
// later reads cannot leave the file.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "lexico/mapped_file.h"
#include "lexico/quant.h"

namespace lexico {

// Metadata value types, numbered as in the file.
enum class GgufType : uint32_t {
  U8 = 0, I8 = 1, U16 = 2, I16 = 3, U32 = 4, I32 = 5, F32 = 6, Bool = 7,
  String = 8, Array = 9, U64 = 10, I64 = 11, F64 = 12,
};

class GgufValue {
 public:
  using Array = std::vector<GgufValue>;
  GgufValue() = default;
  GgufValue(GgufType type, std::variant<uint64_t, int64_t, double, bool, std::string, Array> v)
      : type_(type), v_(std::move(v)) {}

  GgufType type() const { return type_; }
  bool is_integer() const;
  bool is_float() const { return type_ == GgufType::F32 || type_ == GgufType::F64; }

  // Accessors throw BadInput naming `where` (file and key) on a type mismatch.
  // as_int takes any integer type; as_float any number.
  int64_t as_int(const std::string& where) const;
  double as_float(const std::string& where) const;
  bool as_bool(const std::string& where) const;
  const std::string& as_string(const std::string& where) const;
  const Array& as_array(const std::string& where) const;
  // Arrays as plain vectors (tokenizer vocabularies, scores, token types).
  std::vector<std::string> as_strings(const std::string& where) const;
  std::vector<float> as_floats(const std::string& where) const;
  std::vector<int32_t> as_ints(const std::string& where) const;

 private:
  GgufType type_ = GgufType::U8;
  std::variant<uint64_t, int64_t, double, bool, std::string, Array> v_;
};

struct GgufTensor {
  std::string name;
  GgmlType type;
  std::vector<int64_t> shape;  // as in the file: shape[0] is the row length (fastest)
  uint64_t offset = 0;         // from the start of the data section
  const uint8_t* data = nullptr;
  size_t n_bytes = 0;

  int64_t n_elements() const;
  int64_t row_length() const { return shape.empty() ? 1 : shape[0]; }
  int64_t n_rows() const { return n_elements() / row_length(); }
};

class GgufFile {
 public:
  // Maps and validates the whole file; throws BadInput naming the file.
  explicit GgufFile(const std::string& path);

  const std::string& path() const { return file_.path(); }
  uint32_t version() const { return version_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }

  const std::vector<std::pair<std::string, GgufValue>>& metadata() const { return metadata_; }
  const GgufValue* find(std::string_view key) const;  // nullptr when absent
  const GgufValue& at(std::string_view key) const;    // throws when absent

  const std::vector<GgufTensor>& tensors() const { return tensors_; }
  const GgufTensor* find_tensor(std::string_view name) const;
  const GgufTensor& tensor(std::string_view name) const;

  // Dequantizes rows [row0, row0 + n_rows) of a tensor into out (n_rows x row_length floats).
  void read_rows(const GgufTensor& t, int64_t row0, int64_t n_rows, float* out) const;
  std::vector<float> read(const GgufTensor& t) const;

 private:
  MappedFile file_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  std::vector<std::pair<std::string, GgufValue>> metadata_;
  std::vector<GgufTensor> tensors_;
};

}  // namespace lexico
