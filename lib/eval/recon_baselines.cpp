#include "lexico/recon_baselines.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Eigenvalues>
#include <fmt/ranges.h>

#include "lexico/cli.h"
#include "lexico/dictionary_training_data.h"
#include "lexico/dictionary_training_step.h"
#include "lexico/error.h"
#include "lexico/half.h"

namespace lexico {

namespace {

using ConstMap = Eigen::Map<const Eigen::MatrixXf>;
constexpr int64_t kBlockTokens = 8192;
constexpr uint64_t kRandomDictionary = 0x7261'6e64;  // purpose word of the random dictionaries' seeds

// Pools per-layer statistics of equal or unequal counts: E[x²] = std² + mean².
RreStats pooled(const std::vector<RreStats>& parts) {
  double sum = 0, sum_sq = 0;
  size_t count = 0;
  for (const RreStats& s : parts) {
    sum += s.mean * double(s.count);
    sum_sq += (s.std * s.std + s.mean * s.mean) * double(s.count);
    count += s.count;
  }
  RreStats out;
  out.count = count;
  if (count == 0) return out;
  out.mean = sum / double(count);
  out.std = std::sqrt(std::max(0.0, sum_sq / double(count) - out.mean * out.mean));
  return out;
}

void check_options(const BaselineOptions& o, int head_dim, int n_atoms) {
  const char* where = "baselines";
  if (o.sparsities.empty()) usage_error(where, "no sparsity given");
  for (int s : o.sparsities)
    if (s < 1 || s > std::min(head_dim, n_atoms))
      usage_error(where, "sparsity {} must lie in 1..{} (head_dim {}, {} atoms)", s, std::min(head_dim, n_atoms),
                  head_dim, n_atoms);
  for (int b : o.kivi_bits)
    if (b != 2 && b != 4) usage_error(where, "KIVI bits {} is not 2 or 4", b);
  if (o.kivi_group < 1) usage_error(where, "KIVI group {} is not positive", o.kivi_group);
  if (o.max_tokens < 0) usage_error(where, "max tokens {} is negative", o.max_tokens);
}

PcaFit::Basis fit_pca(const DumpSet& train, int layer, KvKind kind) {
  const int m = train.info().head_dim;
  PcaFit fit(m);
  for (const KvDumpReader& dump : train.dumps())
    for (int64_t t0 = 0; t0 < dump.n_tokens(); t0 += kBlockTokens) {
      const std::vector<float> x = dump.read(layer, kind, t0, kBlockTokens);
      fit.add(ConstMap(x.data(), m, Eigen::Index(x.size() / m)));
    }
  return fit.basis(fmt::format("{} ({} of layer {})", train.describe(), kv_kind_name(kind), layer));
}

}  // namespace

int pca_rank_for_bytes(double bytes, int head_dim) {
  return std::clamp(int(std::floor(bytes / 2.0)), 0, head_dim);
}

double kivi_bytes_per_vector(KvKind kind, int head_dim, int bits, int group) {
  const double scale_and_min = 2.0 * sizeof(uint16_t);
  if (kind == KvKind::Values)  // per token: packed channels and one (scale, min) per channel group
    return double((head_dim * bits + 7) / 8) + scale_and_min * double((head_dim + group - 1) / group);
  // per channel and group of G tokens: ⌈G·bits/8⌉ bytes and one (scale, min)
  return double(head_dim) * (double((group * bits + 7) / 8) + scale_and_min) / double(group);
}

PcaFit::PcaFit(int dim) : sum_(Eigen::VectorXd::Zero(dim)), scatter_(Eigen::MatrixXd::Zero(dim, dim)) {}

void PcaFit::add(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors) {
  if (vectors.rows() != sum_.size())
    internal_error("pca", "vectors of length {}, expected {}", vectors.rows(), sum_.size());
  const Eigen::MatrixXd x = vectors.cast<double>();
  sum_ += x.rowwise().sum();
  scatter_.selfadjointView<Eigen::Lower>().rankUpdate(x);
  count_ += x.cols();
}

PcaFit::Basis PcaFit::basis(const std::string& where) const {
  if (count_ == 0) bad_input(where, "holds no vectors to fit PCA on");
  const Eigen::VectorXd mean = sum_ / double(count_);
  const Eigen::MatrixXd full = scatter_.selfadjointView<Eigen::Lower>();
  const Eigen::MatrixXd covariance = full / double(count_) - mean * mean.transpose();
  const Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(covariance);
  Basis b;
  b.mean = mean.cast<float>();
  b.components = eig.eigenvectors().rowwise().reverse().cast<float>();  // eigenvalues come ascending
  return b;
}

Eigen::MatrixXf PcaFit::Basis::reconstruct(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                                           int rank) const {
  const auto u = components.leftCols(rank);
  Eigen::MatrixXf coefs = u.transpose() * (vectors.colwise() - mean);
  coefs = coefs.unaryExpr([](float c) { return half_to_float(float_to_half(c)); });
  return (u * coefs).colwise() + mean;
}

Eigen::MatrixXf kivi_reconstruct(const float* vectors, int64_t tokens, int heads, int head_dim, KvKind kind,
                                 KiviOptions options) {
  if (kind == KvKind::Keys && tokens % options.group != 0)
    internal_error("kivi baseline", "{} tokens is not a multiple of the group {}", tokens, options.group);
  options.residual = 0;
  KiviCache cache({1, heads, heads, head_dim}, options);
  // The vectors go in as both keys and values; only `kind`'s quantization is read back.
  cache.append(0, vectors, vectors, int(tokens));
  cache.append(0, nullptr, nullptr, 0);  // settling quantizes every whole key group and every value token
  Eigen::MatrixXf out(head_dim, tokens * heads);
  for (int g = 0; g < heads; ++g) {
    const std::vector<float> head = cache.dequantized(0, g, kind);  // [tokens, head_dim]
    for (int64_t t = 0; t < tokens; ++t) out.col(t * heads + g) = ConstMap(head.data() + t * head_dim, head_dim, 1);
  }
  return out;
}

SparseCodeErrors sparse_code_errors(const OmpEncoder& encoder,
                                    Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                                    const OmpOptions& options) {
  const SparseCodes codes = encoder.encode_fp8(vectors, options);
  return {relative_errors(vectors, reconstruct(encoder.dictionary(), codes)), csr_bytes(codes)};
}

BaselineReport compare_baselines(const KvDumpReader& eval, const std::vector<std::string>& train_dumps,
                                 const Dictionary& dict, const std::string& dict_path, const BaselineOptions& options,
                                 Progress* progress) {
  const KvDumpInfo& info = eval.info();
  const int m = info.head_dim, heads = info.n_kv_heads;
  BaselineReport report;
  report.head_dim = m;
  report.n_kv_heads = heads;
  report.n_atoms = dict.n_atoms;
  report.layers = info.layers;
  if (!options.layers.empty()) {
    for (int l : options.layers)
      if (!eval.has_layer(l))
        bad_input(eval.path(), "has no layer {} (it holds {})", l, fmt::join(info.layers, ","));
    report.layers = options.layers;
  }
  check_compatible(dict, dict_path, info, eval.path(), report.layers);
  check_options(options, m, dict.n_atoms);
  if (train_dumps.empty()) usage_error("baselines", "no training dump given (PCA is fitted on it)");
  const DumpSet train(train_dumps);
  if (train.info().head_dim != m)
    bad_input(train.describe(), "head_dim {} does not match the {} of {}", train.info().head_dim, m, eval.path());
  train.require_layers(report.layers);
  report.train_vectors = train.vectors_per_layer();

  const int64_t available = options.max_tokens > 0 ? std::min(options.max_tokens, eval.n_tokens()) : eval.n_tokens();
  report.tokens = available / options.kivi_group * options.kivi_group;
  if (report.tokens == 0)
    bad_input(eval.path(), "holds {} tokens; the KIVI baselines need at least one group of {}", eval.n_tokens(),
              options.kivi_group);

  for (int s : options.sparsities) {
    const int rank = pca_rank_for_bytes(lexico_bytes_per_vector(s), m);
    for (const char* method : {"lexico", "random", "pca"}) {
      BaselineRow row;
      row.method = method;
      row.sparsity = s;
      row.rank = row.method == "pca" ? rank : 0;
      row.keys_bytes = row.values_bytes = row.rank > 0 ? 2.0 * rank : lexico_bytes_per_vector(s);
      report.rows.push_back(row);
    }
  }
  for (int bits : options.kivi_bits) {
    BaselineRow row;
    row.method = fmt::format("kivi{}", bits);
    row.keys_bytes = kivi_bytes_per_vector(KvKind::Keys, m, bits, options.kivi_group);
    row.values_bytes = kivi_bytes_per_vector(KvKind::Values, m, bits, options.kivi_group);
    report.rows.push_back(row);
  }

  const auto vectors = Eigen::Index(report.tokens * heads);
  // Measured CSR bytes of the codes, per row: keys, values.
  std::vector<size_t> keys_csr(report.rows.size(), 0), values_csr(report.rows.size(), 0);
  for (int layer : report.layers)
    for (KvKind kind : {KvKind::Keys, KvKind::Values}) {
      const std::vector<float> data = eval.read(layer, kind, 0, report.tokens);
      const ConstMap x(data.data(), m, vectors);
      const PcaFit::Basis pca = fit_pca(train, layer, kind);
      const OmpEncoder trained(dict.at(layer, kind));
      const OmpEncoder random(random_dictionary(m, dict.n_atoms, derive_seed(options.seed, {uint64_t(layer),
                                                                                   uint64_t(kind), kRandomDictionary})));
      size_t r = 0;
      for (BaselineRow& row : report.rows) {
        std::vector<double> errors;
        if (row.method == "lexico" || row.method == "random") {
          OmpOptions omp;
          omp.sparsity = row.sparsity;
          omp.threads = options.threads;
          SparseCodeErrors coded = sparse_code_errors(row.method == "lexico" ? trained : random, x, omp);
          errors = std::move(coded.errors);
          (kind == KvKind::Keys ? keys_csr : values_csr)[r] += coded.csr_bytes;
        } else if (row.method == "pca") {
          errors = relative_errors(x, pca.reconstruct(x, row.rank));
        } else {
          KiviOptions kivi;
          kivi.bits = row.method == "kivi2" ? 2 : 4;
          kivi.group = options.kivi_group;
          errors = relative_errors(x, kivi_reconstruct(data.data(), report.tokens, heads, m, kind, kivi));
        }
        (kind == KvKind::Keys ? row.layer_keys : row.layer_values).push_back(rre_stats(errors));
        ++r;
      }
      if (progress) progress->add(vectors);
    }

  const double coded_vectors = double(vectors) * double(report.layers.size());
  for (size_t r = 0; r < report.rows.size(); ++r) {
    BaselineRow& row = report.rows[r];
    row.keys = pooled(row.layer_keys);
    row.values = pooled(row.layer_values);
    if (row.method == "lexico" || row.method == "random") {  // OMP may stop early: the bytes the codes took
      row.keys_bytes = double(keys_csr[r]) / coded_vectors;
      row.values_bytes = double(values_csr[r]) / coded_vectors;
    }
  }
  return report;
}

}  // namespace lexico
