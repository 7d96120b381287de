#include "lexico/report_format.h"

#include <fmt/format.h>

namespace lexico {

namespace {

double per_vector(size_t total, size_t vectors) { return vectors ? double(total) / vectors : 0.0; }

}  // namespace

std::string recon_report_table(const EncodingReport& r) {
  std::string out = fmt::format("{:>5}  {:>9} {:>9}  {:>9} {:>9}  {:>7} {:>7}  {:>9}\n", "layer", "keys_rre",
                                "keys_std", "vals_rre", "vals_std", "nnz_k", "nnz_v", "bytes/vec");
  auto row = [&](const std::string& name, const RreStats& k, const RreStats& v, double nnz_k, double nnz_v,
                 double bytes) {
    out += fmt::format("{:>5}  {:>9.4f} {:>9.4f}  {:>9.4f} {:>9.4f}  {:>7.2f} {:>7.2f}  {:>9.2f}\n", name, k.mean,
                       k.std, v.mean, v.std, nnz_k, nnz_v, bytes);
  };
  size_t nnz_k = 0, nnz_v = 0, vec_k = 0, vec_v = 0;
  for (const LayerReport& l : r.layers) {
    row(std::to_string(l.layer), l.keys.rre, l.values.rre, per_vector(l.keys.nnz, l.keys.vectors),
        per_vector(l.values.nnz, l.values.vectors),
        per_vector(l.keys.csr_bytes + l.values.csr_bytes, l.keys.vectors + l.values.vectors));
    nnz_k += l.keys.nnz, nnz_v += l.values.nnz, vec_k += l.keys.vectors, vec_v += l.values.vectors;
  }
  row("all", r.overall(KvKind::Keys), r.overall(KvKind::Values), per_vector(nnz_k, vec_k), per_vector(nnz_v, vec_v),
      per_vector(r.csr_bytes(), r.vectors()));
  out += fmt::format("KV size {:.2f}% of FP16 ({} of {} bytes, head_dim {})\n",
                     r.fp16_bytes() ? 100.0 * r.csr_bytes() / r.fp16_bytes() : 0.0, r.csr_bytes(), r.fp16_bytes(),
                     r.head_dim);
  return out;
}

std::string recon_report_json(const EncodingReport& r) {
  auto kind = [](const KindReport& k) {
    return fmt::format(R"({{"rre_mean": {:.6g}, "rre_std": {:.6g}, "vectors": {}, "nnz": {}, "csr_bytes": {}}})",
                       k.rre.mean, k.rre.std, k.vectors, k.nnz, k.csr_bytes);
  };
  std::string layers;
  for (const LayerReport& l : r.layers) {
    if (!layers.empty()) layers += ",\n    ";
    layers += fmt::format(R"({{"layer": {}, "keys": {}, "values": {}}})", l.layer, kind(l.keys), kind(l.values));
  }
  const RreStats k = r.overall(KvKind::Keys), v = r.overall(KvKind::Values);
  return fmt::format(
      "{{\n  \"head_dim\": {},\n  \"vectors\": {},\n  \"csr_bytes\": {},\n  \"fp16_bytes\": {},\n"
      "  \"kv_size_percent\": {:.6g},\n  \"keys_rre_mean\": {:.6g},\n  \"keys_rre_std\": {:.6g},\n"
      "  \"values_rre_mean\": {:.6g},\n  \"values_rre_std\": {:.6g},\n  \"layers\": [\n    {}\n  ]\n}}\n",
      r.head_dim, r.vectors(), r.csr_bytes(), r.fp16_bytes(),
      r.fp16_bytes() ? 100.0 * r.csr_bytes() / r.fp16_bytes() : 0.0, k.mean, k.std, v.mean, v.std, layers);
}

}  // namespace lexico
