#include "lexico/kv_dump.h"

#include <algorithm>
#include <cmath>
#include <random>

#include <fmt/ranges.h>

#include "io/h5.h"
#include "lexico/atomic_file.h"
#include "lexico/error.h"

namespace lexico {

namespace {

constexpr const char* kFormat = "lexico-kv-dump";
constexpr int64_t kVersion = 1;

std::string layer_path(int layer, KvKind kind) { return fmt::format("/layers/{}/{}", layer, kv_kind_name(kind)); }

KvDumpInfo read_info(const h5::File& f) {
  h5::check_format(f, kFormat, kVersion);
  KvDumpInfo info;
  info.model = f.attr_string("/", "model");
  info.n_layers = static_cast<int>(f.attr_int("/", "n_layers"));
  info.n_kv_heads = static_cast<int>(f.attr_int("/", "n_kv_heads"));
  info.head_dim = static_cast<int>(f.attr_int("/", "head_dim"));
  info.rope_applied = f.attr_int("/", "rope_applied") != 0;
  if (info.n_layers < 1 || info.n_kv_heads < 1 || info.head_dim < 1 || info.head_dim > 1024)
    bad_input(f.path(), "implausible header: n_layers {}, n_kv_heads {}, head_dim {}", info.n_layers,
              info.n_kv_heads, info.head_dim);
  info.layers = f.layer_indices(info.n_layers);
  if (info.layers.empty()) bad_input(f.path(), "holds no layers");
  info.has_prerope = f.exists(layer_path(info.layers[0], KvKind::KeysPreRope));
  return info;
}

}  // namespace

const char* kv_kind_name(KvKind kind) {
  switch (kind) {
    case KvKind::Keys: return "keys";
    case KvKind::Values: return "values";
    case KvKind::KeysPreRope: return "keys_prerope";
  }
  return "?";
}

KvDumpReader::KvDumpReader(const std::string& path)
    : path_(path), file_(std::make_unique<h5::File>(h5::File::open_read(path))) {
  info_ = read_info(*file_);
  n_tokens_ = static_cast<int64_t>(file_->shape("/tokens").at(0));
  if (file_->shape("/positions") != file_->shape("/tokens"))
    bad_input(path_, "/positions and /tokens differ in length");
  const std::vector<hsize_t> expected = {static_cast<hsize_t>(n_tokens_), static_cast<hsize_t>(info_.n_kv_heads),
                                         static_cast<hsize_t>(info_.head_dim)};
  for (int l : info_.layers) {
    for (KvKind kind : {KvKind::Keys, KvKind::Values}) {
      std::string name = layer_path(l, kind);
      auto shape = file_->shape(name);
      if (shape.size() != 3 || shape[1] != expected[1] || shape[2] != expected[2])
        bad_input(path_, "{} has shape [{}], expected [T, {}, {}]", name, fmt::join(shape, ", "), info_.n_kv_heads,
                  info_.head_dim);
      if (shape[0] != expected[0])
        bad_input(path_, "{} holds {} tokens but /tokens holds {}", name, shape[0], n_tokens_);
      if (!file_->is_float_dataset(name)) bad_input(path_, "{} is not a floating-point array", name);
    }
  }
}

KvDumpReader::~KvDumpReader() = default;
KvDumpReader::KvDumpReader(KvDumpReader&&) noexcept = default;

bool KvDumpReader::has_layer(int layer) const {
  return std::find(info_.layers.begin(), info_.layers.end(), layer) != info_.layers.end();
}

std::vector<int32_t> KvDumpReader::tokens() const { return file_->read_ints("/tokens"); }
std::vector<int32_t> KvDumpReader::positions() const { return file_->read_ints("/positions"); }
int64_t KvDumpReader::attr_int(const std::string& name) const { return file_->attr_int("/", name); }

std::vector<float> KvDumpReader::read(int layer, KvKind kind, int64_t token0, int64_t count) const {
  if (!has_layer(layer)) bad_input(path_, "has no layer {} (it holds layers {})", layer, fmt::join(info_.layers, ","));
  if (kind == KvKind::KeysPreRope && !info_.has_prerope) bad_input(path_, "holds no pre-RoPE keys");
  if (count < 0) count = n_tokens_ - token0;
  std::vector<float> data = file_->read_floats(layer_path(layer, kind), static_cast<hsize_t>(token0),
                                               static_cast<hsize_t>(count));
  const size_t per_token = static_cast<size_t>(info_.n_kv_heads) * info_.head_dim;
  for (size_t i = 0; i < data.size(); ++i) {
    if (!std::isfinite(data[i]))
      bad_input(path_, "{} of layer {} has a non-finite value ({}) at token {}, head {}, channel {}",
                kv_kind_name(kind), layer, data[i], token0 + static_cast<int64_t>(i / per_token),
                (i % per_token) / info_.head_dim, i % info_.head_dim);
  }
  return data;
}

KvDumpWriter::KvDumpWriter(const std::string& path, const KvDumpInfo& info) : path_(path), info_(info) {
  if (info_.layers.empty()) usage_error(path, "a KV dump needs at least one layer");
  file_ = std::make_unique<h5::File>(h5::File::create(path));
  h5::File& f = *file_;
  f.set_attr("/", "format", std::string(kFormat));
  f.set_attr("/", "version", kVersion);
  f.set_attr("/", "model", info.model);
  f.set_attr("/", "n_layers", int64_t{info.n_layers});
  f.set_attr("/", "n_kv_heads", int64_t{info.n_kv_heads});
  f.set_attr("/", "head_dim", int64_t{info.head_dim});
  f.set_attr("/", "rope_applied", int64_t{info.rope_applied ? 1 : 0});
  f.write_ints("/tokens", nullptr, 0, true);
  f.write_ints("/positions", nullptr, 0, true);
  const std::vector<hsize_t> shape = {0, static_cast<hsize_t>(info.n_kv_heads), static_cast<hsize_t>(info.head_dim)};
  const auto storage = info.fp16 ? h5::Storage::F16 : h5::Storage::F32;
  for (int l : info.layers) {
    f.write_floats(layer_path(l, KvKind::Keys), nullptr, shape, storage, true);
    f.write_floats(layer_path(l, KvKind::Values), nullptr, shape, storage, true);
    if (info.has_prerope) f.write_floats(layer_path(l, KvKind::KeysPreRope), nullptr, shape, storage, true);
  }
}

KvDumpWriter::~KvDumpWriter() = default;
KvDumpWriter::KvDumpWriter(KvDumpWriter&&) noexcept = default;

void KvDumpWriter::append(const std::vector<int32_t>& tokens, const std::vector<int32_t>& positions,
                          const std::vector<const float*>& keys, const std::vector<const float*>& values,
                          const std::vector<const float*>& keys_prerope) {
  const size_t n_layers = info_.layers.size();
  if (tokens.size() != positions.size() || keys.size() != n_layers || values.size() != n_layers ||
      (info_.has_prerope && keys_prerope.size() != n_layers))
    internal_error(path_, "KvDumpWriter::append: inconsistent arguments");
  const hsize_t n = tokens.size();
  h5::File& f = *file_;
  for (size_t i = 0; i < n_layers; ++i) {
    f.append_floats(layer_path(info_.layers[i], KvKind::Keys), keys[i], n);
    f.append_floats(layer_path(info_.layers[i], KvKind::Values), values[i], n);
    if (info_.has_prerope) f.append_floats(layer_path(info_.layers[i], KvKind::KeysPreRope), keys_prerope[i], n);
  }
  // Tokens last: a reader trusts /tokens' length, so a crash mid-append never
  // exposes a token whose vectors are missing.
  f.append_ints("/positions", positions.data(), n);
  f.append_ints("/tokens", tokens.data(), n);
  n_tokens_ += static_cast<int64_t>(n);
}

void KvDumpWriter::set_attr(const std::string& name, int64_t value) { file_->set_attr("/", name, value); }
void KvDumpWriter::close() {
  if (file_) {
    file_->flush();
    file_->close();
  }
}

void write_synthetic_dump(const std::string& path, const SyntheticDumpSpec& spec) {
  if (spec.n_layers < 1 || spec.n_kv_heads < 1 || spec.head_dim < 1 || spec.n_tokens < 1 ||
      spec.hidden_atoms < 1 || spec.hidden_sparsity < 1 || spec.hidden_sparsity > spec.hidden_atoms)
    usage_error(path, "invalid synthetic dump size");
  KvDumpInfo info;
  info.model = "synthetic";
  info.n_layers = spec.n_layers;
  info.n_kv_heads = spec.n_kv_heads;
  info.head_dim = spec.head_dim;
  info.fp16 = spec.fp16;
  for (int l = 0; l < spec.n_layers; ++l) info.layers.push_back(l);

  AtomicOutput out(path);
  KvDumpWriter writer(out.temp_path(), info);
  std::mt19937_64 rng(spec.seed);
  std::normal_distribution<float> normal(0.f, 1.f);
  std::uniform_int_distribution<int> pick(0, spec.hidden_atoms - 1);
  const int m = spec.head_dim;
  const size_t per_token = static_cast<size_t>(spec.n_kv_heads) * m;
  // One hidden dictionary and channel scale per layer and kind.
  std::vector<std::vector<float>> atoms(2 * spec.n_layers), scale(2 * spec.n_layers);
  for (size_t d = 0; d < atoms.size(); ++d) {
    atoms[d].resize(static_cast<size_t>(spec.hidden_atoms) * m);
    for (int a = 0; a < spec.hidden_atoms; ++a) {
      float norm = 0;
      for (int i = 0; i < m; ++i) norm += std::pow(atoms[d][a * m + i] = normal(rng), 2.f);
      for (int i = 0; i < m; ++i) atoms[d][a * m + i] /= std::sqrt(norm);
    }
    scale[d].resize(m);
    for (int i = 0; i < m; ++i) scale[d][i] = 0.5f + std::abs(normal(rng));
  }
  const int64_t window = 256;
  for (int64_t t0 = 0; t0 < spec.n_tokens; t0 += window) {
    const int64_t n = std::min(window, spec.n_tokens - t0);
    std::vector<int32_t> tokens(n), positions(n);
    for (int64_t t = 0; t < n; ++t) {
      tokens[t] = static_cast<int32_t>((t0 + t) % 32000);
      positions[t] = static_cast<int32_t>(t0 + t);
    }
    std::vector<std::vector<float>> data(atoms.size(), std::vector<float>(n * per_token, 0.f));
    for (size_t d = 0; d < atoms.size(); ++d) {
      for (int64_t v = 0; v < n * spec.n_kv_heads; ++v) {
        float* x = data[d].data() + v * m;
        for (int k = 0; k < spec.hidden_sparsity; ++k) {
          const float c = normal(rng);
          const float* a = atoms[d].data() + static_cast<size_t>(pick(rng)) * m;
          for (int i = 0; i < m; ++i) x[i] += c * a[i];
        }
        for (int i = 0; i < m; ++i) x[i] = (x[i] + spec.noise * normal(rng)) * scale[d][i];
      }
    }
    std::vector<const float*> keys, values;
    for (int l = 0; l < spec.n_layers; ++l) {
      keys.push_back(data[2 * l].data());
      values.push_back(data[2 * l + 1].data());
    }
    writer.append(tokens, positions, keys, values);
  }
  writer.close();
  out.commit();
}

}  // namespace lexico
