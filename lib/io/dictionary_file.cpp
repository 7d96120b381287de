#include <algorithm>
#include <cmath>

#include <fmt/ranges.h>

#include "io/h5.h"
#include "lexico/atomic_file.h"
#include "lexico/dictionary.h"
#include "lexico/error.h"
#include "lexico/sha256.h"

namespace lexico {

namespace {

constexpr const char* kFormat = "lexico-dictionary";
constexpr int64_t kVersion = 1;
constexpr const char* kTextPrefix = "meta.";    // text_attrs are stored as meta.<name>
constexpr const char* kNumberPrefix = "num.";   // number_attrs as num.<name>
constexpr const char* kSeriesPrefix = "series.";

std::string dataset(int layer, KvKind kind) { return fmt::format("/layers/{}/{}", layer, kv_kind_name(kind)); }

void check_atoms(const Eigen::MatrixXf& d, const std::string& path, int layer, KvKind kind) {
  for (Eigen::Index j = 0; j < d.cols(); ++j) {
    if (!d.col(j).allFinite())
      bad_input(path, "{} dictionary of layer {} has a non-finite value in atom {}", kv_kind_name(kind), layer, j);
    const float norm = d.col(j).norm();
    if (std::abs(norm - 1.f) > 1e-3f)
      bad_input(path, "{} dictionary of layer {}: atom {} has norm {:.6g}, atoms must have unit norm",
                kv_kind_name(kind), layer, j, norm);
  }
}

}  // namespace

const Eigen::MatrixXf& Dictionary::at(int layer, KvKind kind) const {
  auto it = layers.find(layer);
  if (it == layers.end()) bad_input(model, "dictionary has no layer {}", layer);
  return kind == KvKind::Values ? it->second.values : it->second.keys;
}

std::string Dictionary::content_sha256() const {
  Sha256 h;
  const int64_t header[2] = {head_dim, n_atoms};
  h.update(header, sizeof header);
  for (const auto& [l, layer] : layers) {
    const int64_t index = l;
    h.update(&index, sizeof index);
    h.update(layer.keys.data(), sizeof(float) * static_cast<size_t>(layer.keys.size()));
    h.update(layer.values.data(), sizeof(float) * static_cast<size_t>(layer.values.size()));
  }
  return h.hex();
}

Dictionary read_dictionary(const std::string& path) {
  h5::File f = h5::File::open_read(path);
  h5::check_format(f, kFormat, kVersion);
  Dictionary d;
  d.model = f.attr_string("/", "model");
  d.n_layers = static_cast<int>(f.attr_int("/", "n_layers"));
  d.head_dim = static_cast<int>(f.attr_int("/", "head_dim"));
  d.n_atoms = static_cast<int>(f.attr_int("/", "n_atoms"));
  if (d.head_dim < 1 || d.head_dim > 1024) bad_input(path, "implausible head_dim {}", d.head_dim);
  if (d.n_atoms < 1) bad_input(path, "implausible n_atoms {}", d.n_atoms);
  if (d.n_atoms > 65536)
    bad_input(path, "has {} atoms; atom indices are 16-bit, so at most 65536 are supported", d.n_atoms);
  const std::vector<hsize_t> expected = {static_cast<hsize_t>(d.n_atoms), static_cast<hsize_t>(d.head_dim)};
  for (int l : f.layer_indices(d.n_layers)) {
    Dictionary::Layer layer;
    for (KvKind kind : {KvKind::Keys, KvKind::Values}) {
      const std::string ds = dataset(l, kind);
      auto shape = f.shape(ds);
      if (shape != expected)
        bad_input(path, "{} has shape [{}], expected [{}, {}] (n_atoms, head_dim)", ds, fmt::join(shape, ", "),
                  d.n_atoms, d.head_dim);
      std::vector<float> data = f.read_floats(ds);
      Eigen::MatrixXf m = Eigen::Map<Eigen::MatrixXf>(data.data(), d.head_dim, d.n_atoms);
      check_atoms(m, path, l, kind);
      (kind == KvKind::Keys ? layer.keys : layer.values) = std::move(m);
    }
    d.layers.emplace(l, std::move(layer));
  }
  if (d.layers.empty()) bad_input(path, "holds no layers");
  // Metadata: every root attribute with a known prefix.
  Eigen::Index n_attrs = 0;
  H5O_info_t oinfo;
  if (H5Oget_info_by_name2(f.id(), "/", &oinfo, H5O_INFO_NUM_ATTRS, H5P_DEFAULT) >= 0)
    n_attrs = static_cast<Eigen::Index>(oinfo.num_attrs);
  for (Eigen::Index i = 0; i < n_attrs; ++i) {
    char name[256] = {0};
    if (H5Aget_name_by_idx(f.id(), "/", H5_INDEX_NAME, H5_ITER_INC, static_cast<hsize_t>(i), name, sizeof name,
                           H5P_DEFAULT) < 0)
      continue;
    std::string n(name);
    if (n.rfind(kTextPrefix, 0) == 0) d.text_attrs[n.substr(5)] = f.attr_string("/", n);
    if (n.rfind(kNumberPrefix, 0) == 0) d.number_attrs[n.substr(4)] = f.attr_double("/", n);
  }
  for (auto& [l, layer] : d.layers) {
    const std::string group = fmt::format("/layers/{}", l);
    for (const char* name : {"val_rre_keys", "val_rre_values", "train_loss_keys", "train_loss_values"}) {
      const std::string attr = std::string(kSeriesPrefix) + name;
      if (f.has_attr(group, attr)) layer.series[name] = f.attr_doubles(group, attr);
    }
  }
  const std::string stored = f.has_attr("/", "content_sha256") ? f.attr_string("/", "content_sha256") : "";
  if (stored != d.content_sha256())
    bad_input(path, "content checksum mismatch (the file was modified or is corrupt)");
  return d;
}

void write_dictionary(const std::string& path, const Dictionary& d) {
  if (d.layers.empty()) internal_error(path, "write_dictionary: no layers");
  AtomicOutput out(path);
  {
    h5::File f = h5::File::create(out.temp_path());
    f.set_attr("/", "format", std::string(kFormat));
    f.set_attr("/", "version", kVersion);
    f.set_attr("/", "model", d.model);
    f.set_attr("/", "n_layers", int64_t{d.n_layers});
    f.set_attr("/", "head_dim", int64_t{d.head_dim});
    f.set_attr("/", "n_atoms", int64_t{d.n_atoms});
    f.set_attr("/", "content_sha256", d.content_sha256());
    for (const auto& [k, v] : d.text_attrs) f.set_attr("/", kTextPrefix + k, v);
    for (const auto& [k, v] : d.number_attrs) f.set_attr("/", kNumberPrefix + k, v);
    for (const auto& [l, layer] : d.layers) {
      if (layer.keys.rows() != d.head_dim || layer.keys.cols() != d.n_atoms || layer.values.rows() != d.head_dim ||
          layer.values.cols() != d.n_atoms)
        internal_error(path, "write_dictionary: layer {} has the wrong shape", l);
      const std::vector<hsize_t> shape = {static_cast<hsize_t>(d.n_atoms), static_cast<hsize_t>(d.head_dim)};
      f.write_floats(dataset(l, KvKind::Keys), layer.keys.data(), shape, h5::Storage::F32);
      f.write_floats(dataset(l, KvKind::Values), layer.values.data(), shape, h5::Storage::F32);
      for (const auto& [name, values] : layer.series)
        f.set_attr(fmt::format("/layers/{}", l), kSeriesPrefix + name, values);
    }
    f.flush();
  }
  out.commit();
}

void check_compatible(const Dictionary& dict, const std::string& dict_path, const KvDumpInfo& dump,
                      const std::string& dump_path, const std::vector<int>& layers) {
  if (dict.head_dim != dump.head_dim)
    bad_input(dict_path, "head_dim {} does not match the {} of {}", dict.head_dim, dump.head_dim, dump_path);
  for (int l : layers)
    if (!dict.has_layer(l)) bad_input(dict_path, "has no dictionary for layer {} (needed for {})", l, dump_path);
}

}  // namespace lexico
