#include "lexico/dump_encoding.h"

#include <algorithm>
#include <cmath>

#include <fmt/ranges.h>

#include "lexico/cli.h"
#include "lexico/error.h"

namespace lexico {

namespace {

// Appends rows of `part` after the rows already in `all`.
void append_rows(SparseCodes& all, const SparseCodes& part) {
  const uint32_t base = all.row_ptr.back();
  for (size_t r = 1; r < part.row_ptr.size(); ++r) all.row_ptr.push_back(base + part.row_ptr[r]);
  all.indices.insert(all.indices.end(), part.indices.begin(), part.indices.end());
  all.values.insert(all.values.end(), part.values.begin(), part.values.end());
}

using ConstMap = Eigen::Map<const Eigen::MatrixXf>;

std::vector<double> block_errors(const std::vector<float>& x, int m, const Eigen::MatrixXf& dictionary,
                                 const SparseCodes& codes) {
  const auto n = static_cast<Eigen::Index>(x.size() / m);
  ConstMap xs(x.data(), m, n);
  Eigen::MatrixXf x_hat = reconstruct(dictionary, codes);
  return relative_errors(xs, x_hat);
}

void finish_kind(KindReport& r, const std::vector<double>& errors, const SparseCodes& codes) {
  r.rre = rre_stats(errors);
  r.vectors = codes.rows();
  r.nnz = codes.nnz();
  r.csr_bytes = csr_bytes(codes);
}

std::vector<int> chosen_layers(const KvDumpReader& dump, std::vector<int> layers) {
  if (layers.empty()) return dump.info().layers;
  for (int l : layers)
    if (!dump.has_layer(l)) bad_input(dump.path(), "has no layer {} (it holds {})", l, fmt::join(dump.info().layers, ","));
  return layers;
}

SparseCodes slice_rows(const SparseCodes& codes, size_t row0, size_t rows) {
  SparseCodes out;
  out.dim = codes.dim;
  out.n_atoms = codes.n_atoms;
  const uint32_t begin = codes.row_ptr[row0];
  for (size_t r = 1; r <= rows; ++r) out.row_ptr.push_back(codes.row_ptr[row0 + r] - begin);
  out.indices.assign(codes.indices.begin() + begin, codes.indices.begin() + codes.row_ptr[row0 + rows]);
  out.values.assign(codes.values.begin() + begin, codes.values.begin() + codes.row_ptr[row0 + rows]);
  return out;
}

}  // namespace

size_t EncodingReport::vectors() const {
  size_t n = 0;
  for (const auto& l : layers) n += l.keys.vectors + l.values.vectors;
  return n;
}

size_t EncodingReport::csr_bytes() const {
  size_t n = 0;
  for (const auto& l : layers) n += l.keys.csr_bytes + l.values.csr_bytes;
  return n;
}

RreStats EncodingReport::overall(KvKind kind) const {
  // Pools per-layer means and variances: E[x²] = std² + mean².
  double sum = 0, sum_sq = 0;
  size_t count = 0;
  for (const auto& l : layers) {
    const RreStats& s = (kind == KvKind::Values ? l.values : l.keys).rre;
    sum += s.mean * s.count;
    sum_sq += (s.std * s.std + s.mean * s.mean) * s.count;
    count += s.count;
  }
  RreStats out;
  out.count = count;
  if (count == 0) return out;
  out.mean = sum / count;
  out.std = std::sqrt(std::max(0.0, sum_sq / count - out.mean * out.mean));
  return out;
}

CodesFile encode_dump(const KvDumpReader& dump, const Dictionary& dict, const std::string& dict_path,
                      const DumpEncodingOptions& options, EncodingReport* report, Progress* progress) {
  const KvDumpInfo& info = dump.info();
  const std::vector<int> layers = chosen_layers(dump, options.layers);
  check_compatible(dict, dict_path, info, dump.path(), layers);
  if (dump.n_tokens() == 0) bad_input(dump.path(), "holds no tokens: nothing to encode");

  CodesFile codes;
  codes.model = info.model;
  codes.dictionary_sha256 = dict.content_sha256();
  codes.n_layers = info.n_layers;
  codes.n_kv_heads = info.n_kv_heads;
  codes.head_dim = info.head_dim;
  codes.n_atoms = dict.n_atoms;
  codes.n_tokens = dump.n_tokens();
  codes.sparsity = options.omp.sparsity;
  codes.tolerance = options.omp.tolerance;
  codes.fp8_refit = options.omp.fp8_refit;
  report->head_dim = info.head_dim;
  report->layers.clear();

  const int m = info.head_dim;
  for (int l : layers) {
    LayerReport lr;
    lr.layer = l;
    CodesFile::Layer& out = codes.layers[l];
    for (KvKind kind : {KvKind::Keys, KvKind::Values}) {
      const Eigen::MatrixXf& d = dict.at(l, kind);
      const std::unique_ptr<SparseEncoder> encoder = make_encoder(options.encoders, d);
      SparseCodes& all = kind == KvKind::Keys ? out.keys : out.values;
      all.dim = m;
      all.n_atoms = dict.n_atoms;
      std::vector<double> errors;
      for (int64_t t0 = 0; t0 < dump.n_tokens(); t0 += options.block_tokens) {
        const std::vector<float> x = dump.read(l, kind, t0, options.block_tokens);
        const auto n = static_cast<Eigen::Index>(x.size() / m);
        const SparseCodes part = encoder->encode_fp8(ConstMap(x.data(), m, n), options.omp);
        const std::vector<double> e = block_errors(x, m, d, part);
        errors.insert(errors.end(), e.begin(), e.end());
        append_rows(all, part);
        if (progress) progress->add(n);
      }
      finish_kind(kind == KvKind::Keys ? lr.keys : lr.values, errors, all);
    }
    report->layers.push_back(lr);
  }
  return codes;
}

EncodingReport evaluate_codes(const KvDumpReader& dump, const Dictionary& dict, const std::string& dict_path,
                              const CodesFile& codes, const std::string& codes_path, std::vector<int> layers,
                              Progress* progress) {
  const KvDumpInfo& info = dump.info();
  if (codes.dictionary_sha256 != dict.content_sha256())
    bad_input(codes_path, "was made with another dictionary than {} (checksum mismatch)", dict_path);
  if (codes.n_tokens != dump.n_tokens() || codes.n_kv_heads != info.n_kv_heads || codes.head_dim != info.head_dim)
    bad_input(codes_path, "does not match {}: {} tokens × {} heads × {} dims vs {} × {} × {}", dump.path(),
              codes.n_tokens, codes.n_kv_heads, codes.head_dim, dump.n_tokens(), info.n_kv_heads, info.head_dim);
  if (layers.empty())
    for (const auto& [l, _] : codes.layers) layers.push_back(l);
  layers = chosen_layers(dump, layers);
  check_compatible(dict, dict_path, info, dump.path(), layers);

  EncodingReport report;
  report.head_dim = info.head_dim;
  const int m = info.head_dim;
  const int64_t block = 8192;
  for (int l : layers) {
    if (!codes.layers.count(l)) bad_input(codes_path, "has no codes for layer {}", l);
    LayerReport lr;
    lr.layer = l;
    for (KvKind kind : {KvKind::Keys, KvKind::Values}) {
      const SparseCodes& all = codes.at(l, kind);
      std::vector<double> errors;
      for (int64_t t0 = 0; t0 < dump.n_tokens(); t0 += block) {
        const std::vector<float> x = dump.read(l, kind, t0, block);
        const size_t rows = x.size() / m;
        const std::vector<double> e =
            block_errors(x, m, dict.at(l, kind), slice_rows(all, static_cast<size_t>(t0) * info.n_kv_heads, rows));
        errors.insert(errors.end(), e.begin(), e.end());
        if (progress) progress->add(static_cast<int64_t>(rows));
      }
      finish_kind(kind == KvKind::Keys ? lr.keys : lr.values, errors, all);
    }
    report.layers.push_back(lr);
  }
  return report;
}

}  // namespace lexico
