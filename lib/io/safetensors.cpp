#include "lexico/safetensors.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <unordered_set>

#include "lexico/error.h"
#include "lexico/half.h"
#include "lexico/json.h"

namespace lexico {

static_assert(std::endian::native == std::endian::little, "safetensors files are read in place: little-endian hosts only");

namespace fs = std::filesystem;

namespace {

constexpr uint64_t kMaxHeader = 100u << 20;  // the format's own limit on the JSON header

// Bytes per element of the dtypes the format defines; 0 for unknown ones.
int dtype_bytes(const std::string& d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "I8" || d == "U8" || d == "BOOL" || d == "F8_E4M3" || d == "F8_E5M2") return 1;
  return 0;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) bad_input(path, "cannot open");
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int64_t SafetensorsTensor::n_elements() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;  // no overflow: checked when the file was opened
  return n;
}

Safetensors::Safetensors(const std::string& path) {
  std::string p = path;
  if (fs::is_directory(p)) {
    if (fs::exists(fs::path(p) / "model.safetensors.index.json"))
      p = (fs::path(p) / "model.safetensors.index.json").string();
    else if (fs::exists(fs::path(p) / "model.safetensors"))
      p = (fs::path(p) / "model.safetensors").string();
    else
      bad_input(path, "folder has neither model.safetensors nor model.safetensors.index.json");
  }
  if (!p.ends_with(".json")) {
    add_file(p);
    return;
  }
  // Sharded: open each file the weight map names, once, and check that every
  // mapped tensor is where the index says.
  const json::Value index = json::parse(read_text(p), p);
  const json::Value* map_value = index.find("weight_map");
  if (!map_value || !map_value->is_object()) bad_input(p, "no weight_map object");
  const json::Value& map = *map_value;
  std::vector<std::string> shards;
  for (const auto& [name, file] : map.as_object()) {
    if (!file.is_string()) bad_input(p, "tensor '{}': shard name is not a string", name);
    const std::string& f = file.as_string();
    if (f.empty() || f.find('/') != std::string::npos) bad_input(p, "tensor '{}': bad shard name '{}'", name, f);
    if (std::find(shards.begin(), shards.end(), f) == shards.end()) shards.push_back(f);
  }
  const fs::path dir = fs::path(p).parent_path();
  for (const auto& f : shards) add_file((dir / f).string());
  for (const auto& [name, file] : map.as_object()) {
    const SafetensorsTensor* t = find(name);
    if (!t || fs::path(*t->file).filename() != file.as_string())
      bad_input(p, "tensor '{}' is not in {} as the weight map says", name, file.as_string());
  }
}

void Safetensors::add_file(const std::string& path) {
  files_.push_back(std::make_unique<MappedFile>(path));
  const MappedFile& f = *files_.back();
  const std::string& where = f.path();
  try {
    parse_header(f);
  } catch (const Error& e) {
    if (!e.where().empty()) throw;
    bad_input(where, "{}", e.what());  // JSON accessors do not know the file
  }
}

void Safetensors::parse_header(const MappedFile& f) {
  const std::string& where = f.path();
  uint64_t header_len = 0;
  if (f.size() < 8) bad_input(where, "truncated file: no safetensors header");
  std::memcpy(&header_len, f.data(), 8);
  if (header_len > kMaxHeader || header_len > f.size() - 8)
    bad_input(where, "bad safetensors header length {} (file has {} bytes)", header_len, f.size());
  const uint8_t* data = f.data() + 8 + header_len;
  const uint64_t data_size = f.size() - 8 - header_len;
  const json::Value header =
      json::parse(std::string_view(reinterpret_cast<const char*>(f.data() + 8), header_len), where);
  if (!header.is_object()) bad_input(where, "safetensors header is not a JSON object");

  std::unordered_set<std::string> seen;
  for (const auto& t : tensors_) seen.insert(t.name);
  for (const auto& [name, info] : header.as_object()) {
    if (name == "__metadata__") continue;
    if (!seen.insert(name).second) bad_input(where, "duplicate tensor '{}'", name);
    SafetensorsTensor t;
    t.name = name;
    t.file = &where;
    t.dtype = info.at("dtype").as_string();
    uint64_t n = 1;
    for (const auto& d : info.at("shape").as_array()) {
      const int64_t dim = d.as_int();
      if (dim < 0 || (dim > 0 && n > std::numeric_limits<uint64_t>::max() / 8 / static_cast<uint64_t>(dim)))
        bad_input(where, "tensor '{}': bad shape", name);
      n *= static_cast<uint64_t>(dim);
      t.shape.push_back(dim);
    }
    const auto& offsets = info.at("data_offsets").as_array();
    if (offsets.size() != 2) bad_input(where, "tensor '{}': data_offsets must hold [begin, end]", name);
    const int64_t begin = offsets[0].as_int(), end = offsets[1].as_int();
    if (begin < 0 || end < begin || static_cast<uint64_t>(end) > data_size)
      bad_input(where, "tensor '{}': data out of bounds ([{}, {}) in {} data bytes)", name, begin, end, data_size);
    const int elem = dtype_bytes(t.dtype);
    if (elem > 0 && static_cast<uint64_t>(end - begin) != n * static_cast<uint64_t>(elem))
      bad_input(where, "tensor '{}': {} bytes of data for {} {} values", name, end - begin, n, t.dtype);
    t.data = data + begin;
    t.n_bytes = static_cast<size_t>(end - begin);
    tensors_.push_back(std::move(t));
  }
}

const SafetensorsTensor* Safetensors::find(std::string_view name) const {
  for (const auto& t : tensors_)
    if (t.name == name) return &t;
  return nullptr;
}

const SafetensorsTensor& Safetensors::tensor(std::string_view name) const {
  if (const SafetensorsTensor* t = find(name)) return *t;
  bad_input(files_.empty() ? std::string() : files_.front()->path(), "tensor '{}' is missing", name);
}

void Safetensors::read(const SafetensorsTensor& t, float* out) const {
  const size_t n = static_cast<size_t>(t.n_elements());
  if (n == 0) return;  // empty tensors have no data (and `out` may be null)
  if (t.dtype == "F32") {
    std::memcpy(out, t.data, n * 4);
    return;
  }
  if (t.dtype != "F16" && t.dtype != "BF16")
    bad_input(*t.file, "tensor '{}': unsupported dtype {} (F32, F16 and BF16 are read)", t.name, t.dtype);
  const bool bf16 = t.dtype == "BF16";
  for (size_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, t.data + 2 * i, 2);
    out[i] = bf16 ? bf16_to_float(h) : half_to_float(h);
  }
}

std::vector<float> Safetensors::read(const SafetensorsTensor& t) const {
  std::vector<float> out(static_cast<size_t>(t.n_elements()));
  read(t, out.data());
  return out;
}

}  // namespace lexico
