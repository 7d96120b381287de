#include "lexico/dictionary_training_data.h"

#include <algorithm>
#include <cmath>
#include <filesystem>

#include <fmt/ranges.h>

#include "lexico/error.h"

namespace lexico {

uint64_t SplitMix64::next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double SplitMix64::uniform() { return double(next() >> 11) * 0x1.0p-53; }

uint64_t SplitMix64::below(uint64_t n) { return uint64_t((unsigned __int128)next() * n >> 64); }

uint64_t derive_seed(uint64_t seed, std::initializer_list<uint64_t> words) {
  SplitMix64 rng(seed);
  uint64_t h = rng.next();
  for (uint64_t w : words) h = SplitMix64(h ^ w).next();
  return h;
}

DumpSet::DumpSet(const std::vector<std::string>& paths) {
  if (paths.empty()) usage_error("dumps", "at least one KV dump is required");
  std::vector<std::filesystem::path> seen;
  for (const std::string& p : paths) {
    std::error_code ec;
    auto canonical = std::filesystem::weakly_canonical(p, ec);
    if (std::find(seen.begin(), seen.end(), canonical) != seen.end())
      usage_error(p, "is given twice; each dump may be used once");
    seen.push_back(canonical);
    dumps_.emplace_back(p);
    const KvDumpInfo &a = dumps_.front().info(), &b = dumps_.back().info();
    const std::string& first = dumps_.front().path();
    if (b.model != a.model)
      bad_input(p, "holds KVs of model '{}' but {} holds model '{}'; train on dumps of one model", b.model, first,
                a.model);
    if (b.head_dim != a.head_dim)
      bad_input(p, "has head_dim {} but {} has {}; train on dumps of one model", b.head_dim, first, a.head_dim);
    if (b.n_kv_heads != a.n_kv_heads)
      bad_input(p, "has {} KV heads but {} has {}; train on dumps of one model", b.n_kv_heads, first, a.n_kv_heads);
    if (b.n_layers != a.n_layers)
      bad_input(p, "is of a {}-layer model but {} of a {}-layer one; train on dumps of one model", b.n_layers, first,
                a.n_layers);
    if (b.rope_applied != a.rope_applied)
      bad_input(p, "stores keys {} RoPE but {} {} it; use dumps of one convention", b.rope_applied ? "after" : "before",
                first, a.rope_applied ? "after" : "before");
  }
}

int64_t DumpSet::vectors_per_layer() const {
  int64_t n = 0;
  for (const KvDumpReader& d : dumps_) n += d.n_tokens() * d.info().n_kv_heads;
  return n;
}

void DumpSet::require_layers(const std::vector<int>& layers) const {
  for (const KvDumpReader& d : dumps_)
    for (int l : layers)
      if (!d.has_layer(l))
        bad_input(d.path(), "has no layer {} (it holds layers {})", l, fmt::join(d.info().layers, ","));
}

std::string DumpSet::describe() const {
  const std::string& first = dumps_.front().path();
  if (dumps_.size() == 1) return first;
  return fmt::format("{} (and {} more dump{})", first, dumps_.size() - 1, dumps_.size() == 2 ? "" : "s");
}

SplitSizes split_sizes(int64_t available, int64_t max_vectors, double val_fraction) {
  const int64_t n = max_vectors > 0 ? std::min(available, max_vectors) : available;
  SplitSizes s;
  s.val = std::min(n, std::max<int64_t>(1, std::llround(val_fraction * double(n))));
  s.train = n - s.val;
  return s;
}

TrainingVectors load_training_vectors(const DumpSet& dumps, int layer, KvKind kind, int64_t max_vectors,
                                      double val_fraction, uint64_t seed) {
  const int m = dumps.info().head_dim, heads = dumps.info().n_kv_heads;
  const SplitSizes sizes = split_sizes(dumps.vectors_per_layer(), max_vectors, val_fraction);
  TrainingVectors out{Eigen::MatrixXf(m, sizes.train), Eigen::MatrixXf(m, sizes.val)};
  // Selection sampling (Knuth's algorithm S), twice: keep each vector with
  // probability wanted/remaining, then send each kept one to validation with
  // probability val_wanted/kept_remaining. Exact sizes, one pass, in order.
  SplitMix64 keep(derive_seed(seed, {1})), hold(derive_seed(seed, {2}));
  int64_t remaining = dumps.vectors_per_layer(), wanted = sizes.train + sizes.val;
  int64_t kept_remaining = wanted, val_wanted = sizes.val, n_train = 0, n_val = 0;
  const int64_t window = std::max<int64_t>(1, (int64_t{1} << 22) / (int64_t(heads) * m));
  for (const KvDumpReader& dump : dumps.dumps()) {
    for (int64_t t0 = 0; t0 < dump.n_tokens() && wanted > 0; t0 += window) {
      const int64_t count = std::min(window, dump.n_tokens() - t0);
      const std::vector<float> data = dump.read(layer, kind, t0, count);
      for (int64_t v = 0; v < count * heads; ++v, --remaining) {
        if (int64_t(keep.below(uint64_t(remaining))) >= wanted) continue;
        --wanted;
        const bool to_val = int64_t(hold.below(uint64_t(kept_remaining--))) < val_wanted;
        const Eigen::Map<const Eigen::VectorXf> x(data.data() + v * m, m);
        if (to_val) {
          out.val.col(n_val++) = x;
          --val_wanted;
        } else {
          out.train.col(n_train++) = x;
        }
      }
    }
  }
  return out;
}

}  // namespace lexico
