#include "lexico/codes_file.h"

#include <algorithm>
#include <cmath>

#include "io/h5.h"
#include "lexico/atomic_file.h"
#include "lexico/error.h"
#include "lexico/fp8.h"

namespace lexico {

namespace {

constexpr const char* kFormat = "lexico-codes";
constexpr int64_t kVersion = 1;

std::string group(int layer, KvKind kind) { return fmt::format("/layers/{}/{}", layer, kv_kind_name(kind)); }

SparseCodes read_rows(const h5::File& f, const CodesFile& c, int layer, KvKind kind) {
  const std::string g = group(layer, kind);
  SparseCodes rows;
  rows.dim = c.head_dim;
  rows.n_atoms = c.n_atoms;
  std::vector<uint64_t> ptr = f.read_u64(g + "/row_ptr");
  rows.row_ptr.assign(ptr.begin(), ptr.end());
  for (size_t i = 0; i < ptr.size(); ++i)
    if (ptr[i] > UINT32_MAX) bad_input(f.path(), "{}/row_ptr[{}] is out of range", g, i);
  rows.indices = f.read_u16(g + "/indices");
  rows.values = f.read_u8(g + "/values");
  check_structure(rows, f.path() + ": " + g);
  const uint64_t expected = static_cast<uint64_t>(c.n_tokens) * static_cast<uint64_t>(c.n_kv_heads);
  if (rows.rows() != expected)
    bad_input(f.path(), "{} holds {} rows, expected n_tokens × n_kv_heads = {}", g, rows.rows(), expected);
  // The encoder never writes the FP8 NaN codes (it saturates): one here would
  // put NaN into every reconstruction that uses it.
  for (size_t k = 0; k < rows.values.size(); ++k) {
    if (!std::isnan(fp8_e4m3_decode(rows.values[k]))) continue;
    const size_t row = std::upper_bound(rows.row_ptr.begin(), rows.row_ptr.end(), k) - rows.row_ptr.begin() - 1;
    bad_input(f.path(), "{}/values[{}] (token {}, head {}) is the FP8 NaN code", g, k, row / c.n_kv_heads,
              row % c.n_kv_heads);
  }
  return rows;
}

void write_rows(h5::File& f, const SparseCodes& rows, int layer, KvKind kind) {
  const std::string g = group(layer, kind);
  std::vector<uint64_t> ptr(rows.row_ptr.begin(), rows.row_ptr.end());
  f.write_u64(g + "/row_ptr", ptr.data(), ptr.size());
  f.write_u16(g + "/indices", rows.indices.data(), rows.indices.size());
  f.write_u8(g + "/values", rows.values.data(), rows.values.size());
}

}  // namespace

const SparseCodes& CodesFile::at(int layer, KvKind kind) const {
  auto it = layers.find(layer);
  if (it == layers.end()) bad_input(model, "codes have no layer {}", layer);
  return kind == KvKind::Values ? it->second.values : it->second.keys;
}

CodesFile read_codes(const std::string& path) {
  h5::File f = h5::File::open_read(path);
  h5::check_format(f, kFormat, kVersion);
  CodesFile c;
  c.model = f.attr_string("/", "model");
  c.dictionary_sha256 = f.attr_string("/", "dictionary_sha256");
  c.n_layers = static_cast<int>(f.attr_int("/", "n_layers"));
  c.n_kv_heads = static_cast<int>(f.attr_int("/", "n_kv_heads"));
  c.head_dim = static_cast<int>(f.attr_int("/", "head_dim"));
  c.n_atoms = static_cast<int>(f.attr_int("/", "n_atoms"));
  c.n_tokens = f.attr_int("/", "n_tokens");
  c.sparsity = static_cast<int>(f.attr_int("/", "sparsity"));
  c.tolerance = f.attr_double("/", "tolerance");
  c.fp8_refit = f.attr_int("/", "fp8_refit") != 0;
  if (c.n_atoms < 1 || c.n_atoms > kMaxAtoms) bad_input(path, "n_atoms {} is outside 1..{}", c.n_atoms, kMaxAtoms);
  if (c.head_dim < 1 || c.n_kv_heads < 1 || c.n_tokens < 0 || c.n_layers < 1)
    bad_input(path, "implausible header (head_dim {}, n_kv_heads {}, n_tokens {})", c.head_dim, c.n_kv_heads,
              c.n_tokens);
  for (int l : f.layer_indices(c.n_layers)) {
    CodesFile::Layer layer;
    layer.keys = read_rows(f, c, l, KvKind::Keys);
    layer.values = read_rows(f, c, l, KvKind::Values);
    c.layers.emplace(l, std::move(layer));
  }
  if (c.layers.empty()) bad_input(path, "holds no layers");
  return c;
}

void write_codes(const std::string& path, const CodesFile& c) {
  AtomicOutput out(path);
  {
    h5::File f = h5::File::create(out.temp_path());
    f.set_attr("/", "format", std::string(kFormat));
    f.set_attr("/", "version", kVersion);
    f.set_attr("/", "model", c.model);
    f.set_attr("/", "dictionary_sha256", c.dictionary_sha256);
    f.set_attr("/", "n_layers", int64_t{c.n_layers});
    f.set_attr("/", "n_kv_heads", int64_t{c.n_kv_heads});
    f.set_attr("/", "head_dim", int64_t{c.head_dim});
    f.set_attr("/", "n_atoms", int64_t{c.n_atoms});
    f.set_attr("/", "n_tokens", c.n_tokens);
    f.set_attr("/", "sparsity", int64_t{c.sparsity});
    f.set_attr("/", "tolerance", c.tolerance);
    f.set_attr("/", "fp8_refit", int64_t{c.fp8_refit ? 1 : 0});
    for (const auto& [l, layer] : c.layers) {
      write_rows(f, layer.keys, l, KvKind::Keys);
      write_rows(f, layer.values, l, KvKind::Values);
    }
    f.flush();
  }
  out.commit();
}

}  // namespace lexico
