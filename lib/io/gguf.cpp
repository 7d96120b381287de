#include "lexico/gguf.h"

#include <bit>
#include <cstring>
#include <limits>
#include <unordered_set>

#include "lexico/error.h"

namespace lexico {

static_assert(std::endian::native == std::endian::little, "GGUF files are read in place: little-endian hosts only");

namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" read as a little-endian uint32
constexpr int kMaxDims = 4;              // ggml tensors have at most 4 dimensions
constexpr int kMaxNesting = 8;           // arrays of arrays: a bound so a hostile file cannot exhaust the stack

// Bounds-checked sequential reads from the mapped file.
class Reader {
 public:
  Reader(const uint8_t* data, size_t size, const std::string& where) : data_(data), size_(size), where_(where) {}

  size_t pos() const { return pos_; }
  size_t remaining() const { return size_ - pos_; }

  void need(uint64_t n, const char* what) const {
    if (n > remaining())
      bad_input(where_, "truncated file: {} needs {} bytes at offset {}, {} left", what, n, pos_, remaining());
  }
  template <typename T>
  T get(const char* what) {
    need(sizeof(T), what);
    T v;
    std::memcpy(&v, data_ + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string string(const char* what) {
    const auto n = get<uint64_t>(what);
    need(n, what);
    std::string s(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n;
    return s;
  }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  const std::string& where_;
};

// Smallest encoding of one value of a type: bounds an array's element count by
// the bytes left before anything is allocated.
uint64_t min_value_bytes(GgufType t) {
  switch (t) {
    case GgufType::U8: case GgufType::I8: case GgufType::Bool: return 1;
    case GgufType::U16: case GgufType::I16: return 2;
    case GgufType::U32: case GgufType::I32: case GgufType::F32: return 4;
    case GgufType::U64: case GgufType::I64: case GgufType::F64: case GgufType::String: return 8;
    case GgufType::Array: return 12;
  }
  return 1;
}

GgufValue read_value(Reader& r, uint32_t raw_type, const std::string& where, const std::string& key, int depth) {
  if (raw_type > static_cast<uint32_t>(GgufType::F64))
    bad_input(where, "metadata '{}': unknown value type {}", key, raw_type);
  const auto t = static_cast<GgufType>(raw_type);
  const char* what = "metadata value";
  switch (t) {
    case GgufType::U8: return {t, uint64_t{r.get<uint8_t>(what)}};
    case GgufType::I8: return {t, int64_t{r.get<int8_t>(what)}};
    case GgufType::U16: return {t, uint64_t{r.get<uint16_t>(what)}};
    case GgufType::I16: return {t, int64_t{r.get<int16_t>(what)}};
    case GgufType::U32: return {t, uint64_t{r.get<uint32_t>(what)}};
    case GgufType::I32: return {t, int64_t{r.get<int32_t>(what)}};
    case GgufType::U64: return {t, r.get<uint64_t>(what)};
    case GgufType::I64: return {t, r.get<int64_t>(what)};
    case GgufType::F32: return {t, double{r.get<float>(what)}};
    case GgufType::F64: return {t, r.get<double>(what)};
    case GgufType::Bool: {
      const auto b = r.get<uint8_t>(what);
      if (b > 1) bad_input(where, "metadata '{}': bool value {} is neither 0 nor 1", key, b);
      return {t, b == 1};
    }
    case GgufType::String: return {t, r.string(what)};
    case GgufType::Array: {
      if (depth >= kMaxNesting) bad_input(where, "metadata '{}': arrays nested too deeply", key);
      const auto elem = r.get<uint32_t>("array type");
      const auto n = r.get<uint64_t>("array length");
      if (elem > static_cast<uint32_t>(GgufType::F64))
        bad_input(where, "metadata '{}': unknown array element type {}", key, elem);
      if (n > r.remaining() / min_value_bytes(static_cast<GgufType>(elem)))
        bad_input(where, "metadata '{}': array of {} elements runs past the end of the file", key, n);
      GgufValue::Array a;
      a.reserve(n);
      for (uint64_t i = 0; i < n; ++i) a.push_back(read_value(r, elem, where, key, depth + 1));
      return {t, std::move(a)};
    }
  }
  return {};
}

const char* value_type_name(GgufType t) {
  static const char* names[] = {"u8", "i8", "u16", "i16", "u32", "i32", "f32", "bool", "string", "array", "u64", "i64", "f64"};
  return names[static_cast<uint32_t>(t)];
}

}  // namespace

bool GgufValue::is_integer() const {
  return std::holds_alternative<uint64_t>(v_) || std::holds_alternative<int64_t>(v_);
}

int64_t GgufValue::as_int(const std::string& where) const {
  if (const auto* u = std::get_if<uint64_t>(&v_)) {
    if (*u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      bad_input(where, "integer {} is too large", *u);
    return static_cast<int64_t>(*u);
  }
  if (const auto* i = std::get_if<int64_t>(&v_)) return *i;
  bad_input(where, "expected an integer, found {}", value_type_name(type_));
}

double GgufValue::as_float(const std::string& where) const {
  if (const auto* d = std::get_if<double>(&v_)) return *d;
  if (is_integer()) return static_cast<double>(as_int(where));
  bad_input(where, "expected a number, found {}", value_type_name(type_));
}

bool GgufValue::as_bool(const std::string& where) const {
  if (const auto* b = std::get_if<bool>(&v_)) return *b;
  bad_input(where, "expected a bool, found {}", value_type_name(type_));
}

const std::string& GgufValue::as_string(const std::string& where) const {
  if (const auto* s = std::get_if<std::string>(&v_)) return *s;
  bad_input(where, "expected a string, found {}", value_type_name(type_));
}

const GgufValue::Array& GgufValue::as_array(const std::string& where) const {
  if (const auto* a = std::get_if<Array>(&v_)) return *a;
  bad_input(where, "expected an array, found {}", value_type_name(type_));
}

std::vector<std::string> GgufValue::as_strings(const std::string& where) const {
  std::vector<std::string> out;
  for (const auto& v : as_array(where)) out.push_back(v.as_string(where));
  return out;
}

std::vector<float> GgufValue::as_floats(const std::string& where) const {
  std::vector<float> out;
  for (const auto& v : as_array(where)) out.push_back(static_cast<float>(v.as_float(where)));
  return out;
}

std::vector<int32_t> GgufValue::as_ints(const std::string& where) const {
  std::vector<int32_t> out;
  for (const auto& v : as_array(where)) {
    const int64_t i = v.as_int(where);
    if (i < std::numeric_limits<int32_t>::min() || i > std::numeric_limits<int32_t>::max())
      bad_input(where, "integer {} does not fit 32 bits", i);
    out.push_back(static_cast<int32_t>(i));
  }
  return out;
}

int64_t GgufTensor::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // no overflow: checked when the file was opened
  return n;
}

GgufFile::GgufFile(const std::string& path) : file_(path) {
  const std::string& where = file_.path();
  Reader r(file_.data(), file_.size(), where);
  if (file_.size() < 4 || r.get<uint32_t>("magic") != kMagic) bad_input(where, "bad magic: not a GGUF file");
  version_ = r.get<uint32_t>("version");
  if (version_ != 2 && version_ != 3)
    bad_input(where, "unsupported GGUF version {} (2 and 3 are read; a big-endian file shows a huge number)", version_);
  const auto n_tensors = r.get<uint64_t>("tensor count");
  const auto n_kv = r.get<uint64_t>("metadata count");

  // Each key/value takes at least 8 (key length) + 4 (type) + 1 bytes.
  if (n_kv > r.remaining() / 13) bad_input(where, "{} metadata entries cannot fit in the file", n_kv);
  std::unordered_set<std::string> keys;
  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = r.string("metadata key");
    if (!keys.insert(key).second) bad_input(where, "duplicate metadata key '{}'", key);
    const auto type = r.get<uint32_t>("metadata type");
    GgufValue v = read_value(r, type, where, key, 0);
    metadata_.emplace_back(std::move(key), std::move(v));
  }
  if (const GgufValue* a = find("general.alignment")) {
    const int64_t al = a->as_int(where + ": general.alignment");
    if (al <= 0 || al % 8 != 0 || al > (1 << 20))
      bad_input(where, "general.alignment {} is not a positive multiple of 8", al);
    alignment_ = static_cast<uint64_t>(al);
  }

  // Each tensor entry takes at least 8 (name length) + 4 (n_dims) + 4 (type) + 8 (offset) bytes.
  if (n_tensors > r.remaining() / 24) bad_input(where, "{} tensors cannot fit in the file", n_tensors);
  std::unordered_set<std::string> names;
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensor t;
    t.name = r.string("tensor name");
    if (!names.insert(t.name).second) bad_input(where, "duplicate tensor '{}'", t.name);
    const auto n_dims = r.get<uint32_t>("tensor dimensions");
    if (n_dims > kMaxDims) bad_input(where, "tensor '{}': {} dimensions (at most {})", t.name, n_dims, kMaxDims);
    int64_t n_elements = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      const auto dim = r.get<uint64_t>("tensor shape");
      if (dim == 0 || dim > static_cast<uint64_t>(std::numeric_limits<int64_t>::max() / n_elements))
        bad_input(where, "tensor '{}': bad shape (dimension {} is {})", t.name, d, dim);
      n_elements *= static_cast<int64_t>(dim);
      t.shape.push_back(static_cast<int64_t>(dim));
    }
    const auto type = r.get<uint32_t>("tensor type");
    if (!ggml_type_supported(type))
      bad_input(where, "tensor '{}': unsupported tensor type {} ({})", t.name, type, ggml_type_name(type));
    t.type = static_cast<GgmlType>(type);
    t.offset = r.get<uint64_t>("tensor offset");
    if (t.offset % alignment_ != 0)
      bad_input(where, "tensor '{}': offset {} is not a multiple of the alignment {}", t.name, t.offset, alignment_);
    const int64_t bs = ggml_block_size(t.type);
    if (t.row_length() % bs != 0)
      bad_input(where, "tensor '{}': row length {} is not a multiple of the {} block size {}", t.name,
                t.row_length(), ggml_type_name(type), bs);
    // n_elements / bs blocks of block_bytes each: at most 2^63 / 32 * 210, so check.
    const uint64_t blocks = static_cast<uint64_t>(n_elements / bs);
    const uint64_t bb = static_cast<uint64_t>(ggml_block_bytes(t.type));
    if (blocks > std::numeric_limits<uint64_t>::max() / bb) bad_input(where, "tensor '{}': too large", t.name);
    t.n_bytes = blocks * bb;
    tensors_.push_back(std::move(t));
  }

  // Tensor data starts at the next multiple of the alignment.
  const uint64_t pad = (alignment_ - r.pos() % alignment_) % alignment_;
  data_offset_ = r.pos() + pad;
  const uint64_t avail = data_offset_ <= file_.size() ? file_.size() - data_offset_ : 0;
  for (auto& t : tensors_) {
    if (t.offset > avail || t.n_bytes > avail - t.offset)
      bad_input(where, "tensor '{}': data out of bounds ({} bytes at offset {}, data section has {})", t.name,
                t.n_bytes, t.offset, avail);
    t.data = file_.data() + data_offset_ + t.offset;
  }
}

const GgufValue* GgufFile::find(std::string_view key) const {
  for (const auto& [k, v] : metadata_)
    if (k == key) return &v;
  return nullptr;
}

const GgufValue& GgufFile::at(std::string_view key) const {
  if (const GgufValue* v = find(key)) return *v;
  bad_input(path(), "metadata key '{}' is missing", key);
}

const GgufTensor* GgufFile::find_tensor(std::string_view name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

const GgufTensor& GgufFile::tensor(std::string_view name) const {
  if (const GgufTensor* t = find_tensor(name)) return *t;
  bad_input(path(), "tensor '{}' is missing", name);
}

void GgufFile::read_rows(const GgufTensor& t, int64_t row0, int64_t n_rows, float* out) const {
  if (row0 < 0 || n_rows < 0 || row0 > t.n_rows() - n_rows)
    internal_error(path(), "rows [{}, {}) of tensor '{}' with {} rows", row0, row0 + n_rows, t.name, t.n_rows());
  const int64_t len = t.row_length();
  const size_t row_bytes = static_cast<size_t>(len / ggml_block_size(t.type) * ggml_block_bytes(t.type));
  for (int64_t i = 0; i < n_rows; ++i)
    dequantize_row(t.type, t.data + static_cast<size_t>(row0 + i) * row_bytes, out + i * len, len);
}

std::vector<float> GgufFile::read(const GgufTensor& t) const {
  std::vector<float> out(static_cast<size_t>(t.n_elements()));
  read_rows(t, 0, t.n_rows(), out.data());
  return out;
}

}  // namespace lexico
