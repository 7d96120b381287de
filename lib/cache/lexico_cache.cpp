// GCC 12 flags Eigen's AVX-512 GEMM packing (_mm512_undefined_ps, GCC bug
// 105593) with a false -Wmaybe-uninitialized; the pragma must precede the
// first include of the intrinsics headers to cover the inlined code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include "lexico/lexico_cache.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <exception>
#include <limits>

#include <Eigen/Core>
#include <fmt/format.h>

#include "cache/cache_util.h"
#include "lexico/error.h"
#include "lexico/fp8.h"

namespace lexico {

using cache_detail::ensure;
using cache_detail::HalfRows;

namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using Map = Eigen::Map<RowMatrix>;
using ConstMap = Eigen::Map<const RowMatrix>;
using StridedConstMap = Eigen::Map<const RowMatrix, 0, Eigen::OuterStride<>>;
using StridedMap = Eigen::Map<RowMatrix, 0, Eigen::OuterStride<>>;

constexpr int kQueryBlock = 64;  // queries per task: bounds the score blocks
constexpr int kRowBlock = 256;   // (query, head) rows per block when q·D_k is needed
constexpr int kAtomChunk = 256;  // atoms per task of the q·D_k product
constexpr int kOutChunk = 16;    // output channels per task of the acc·D_vᵀ product
constexpr int kGramPad = 64;     // OmpEncoder pads G's columns to a multiple of this

void check_shape(const CacheShape& s, const std::string& who) {
  if (s.n_layers <= 0 || s.n_heads <= 0 || s.n_kv_heads <= 0 || s.head_dim <= 0 || s.n_heads % s.n_kv_heads != 0)
    internal_error(who, "bad cache shape ({} layers, {} heads, {} KV heads, head_dim {})", s.n_layers, s.n_heads,
                   s.n_kv_heads, s.head_dim);
}

}  // namespace

// ---------------------------------------------------------------------------
// Dictionaries

void check_dictionary(const Dictionary& dict, const CacheShape& shape, const std::string& where) {
  const std::string model = dict.model.empty() ? "" : fmt::format(" (model '{}')", dict.model);
  if (dict.head_dim != shape.head_dim)
    bad_input(where, "the dictionary{} has head_dim {}, this model {}: it belongs to another model", model,
              dict.head_dim, shape.head_dim);
  if (dict.n_layers != shape.n_layers)
    bad_input(where, "the dictionary{} is for a model of {} layers, this model has {}: it belongs to another model",
              model, dict.n_layers, shape.n_layers);
  if (dict.n_atoms < 1) bad_input(where, "the dictionary has no atoms");
  for (int l = 0; l < shape.n_layers; ++l) {
    if (!dict.has_layer(l))
      bad_input(where, "the dictionary has no atoms for layer {} (it holds {} of the {} layers)", l,
                dict.layers.size(), dict.n_layers);
    for (KvKind kind : {KvKind::Keys, KvKind::Values}) {
      const Eigen::MatrixXf& d = dict.at(l, kind);
      if (d.rows() != shape.head_dim || d.cols() != dict.n_atoms)
        bad_input(where, "layer {} {}: the dictionary is {}×{}, expected {}×{}", l, kv_kind_name(kind), d.rows(),
                  d.cols(), shape.head_dim, dict.n_atoms);
    }
  }
}

LexicoDictionaries::LexicoDictionaries(const Dictionary& dict, const CacheShape& shape, const std::string& where)
    : head_dim_(dict.head_dim), n_atoms_(dict.n_atoms), model_(dict.model) {
  check_dictionary(dict, shape, where);
  const int n = shape.n_layers;
  keys_.resize(n);
  values_.resize(n);
  std::string failure;
#pragma omp parallel for schedule(dynamic)
  for (int i = 0; i < 2 * n; ++i) {
    const int l = i / 2;
    const KvKind kind = i % 2 ? KvKind::Values : KvKind::Keys;
    try {
      auto encoder = std::make_unique<OmpEncoder>(dict.at(l, kind));
      (kind == KvKind::Keys ? keys_ : values_)[l] = std::move(encoder);
    } catch (const std::exception& e) {
#pragma omp critical(lexico_dictionaries)
      if (failure.empty()) failure = fmt::format("layer {} {}: {}", l, kv_kind_name(kind), e.what());
    }
  }
  if (!failure.empty()) bad_input(where, "{}", failure);
}

size_t LexicoDictionaries::bytes() const {
  const size_t n = size_t(n_atoms_), padded = (n + kGramPad - 1) / kGramPad * kGramPad;
  return 2 * keys_.size() * (size_t(head_dim_) * n + padded * n) * sizeof(float);
}

// ---------------------------------------------------------------------------
// Cache

struct LexicoCache::Layer {
  HalfRows keys, values;  // the buffer: [T_b, n_kv_heads·head_dim], oldest first
  int64_t compressed = 0;
  std::vector<Codes> k, v;  // per KV head
};

// One thread's working memory, grown as needed and reused across calls.
struct LexicoCache::Scratch {
  std::vector<float> keys, values;  // buffered keys/values of one head, float
  std::vector<float> compressed;    // [bt, T_c] scores, then weights
  std::vector<float> buffered;      // [bt, visible] scores, then weights
};

size_t LexicoCache::Codes::bytes() const {
  return indices.size() * sizeof(uint16_t) + values.size() + counts.size() * sizeof(uint16_t);
}

LexicoCache::LexicoCache(CacheShape shape, std::shared_ptr<const LexicoDictionaries> dictionaries,
                         LexicoOptions options)
    : KvCache(shape), dicts_(std::move(dictionaries)), options_(options) {
  check_shape(shape, "lexico cache");
  if (!dicts_) usage_error("lexico cache", "needs a dictionary");
  if (dicts_->head_dim() != shape.head_dim || dicts_->n_layers() != shape.n_layers)
    bad_input("lexico cache", "the dictionaries (head_dim {}, {} layers) do not fit the model (head_dim {}, {} layers)",
              dicts_->head_dim(), dicts_->n_layers(), shape.head_dim, shape.n_layers);
  const int max_s = std::min(shape.head_dim, dicts_->n_atoms());
  if (options_.sparsity < 1 || options_.sparsity > max_s)
    usage_error("lexico cache", "sparsity s={} is outside 1..{} (min of head_dim {} and {} atoms)", options_.sparsity,
                max_s, shape.head_dim, dicts_->n_atoms());
  if (!(options_.tolerance >= 0.0f && options_.tolerance < 1.0f))
    usage_error("lexico cache", "tolerance delta={} is outside [0, 1)", options_.tolerance);
  if (options_.buffer < 0) usage_error("lexico cache", "buffer {} is negative", options_.buffer);
  if (!fixed_layout() && options_.sparsity > std::numeric_limits<uint16_t>::max())
    usage_error("lexico cache", "sparsity {} does not fit the 16-bit per-token count", options_.sparsity);
  layers_.resize(shape.n_layers);
  clear();
  scratch_.resize(std::max(1, omp_get_max_threads()));
}

LexicoCache::LexicoCache(CacheShape shape, const Dictionary& dictionary, LexicoOptions options)
    : LexicoCache(shape, std::make_shared<const LexicoDictionaries>(dictionary, shape), options) {}

LexicoCache::~LexicoCache() = default;

std::string LexicoCache::name() const {
  std::string n = fmt::format("lexico:s={}", options_.sparsity);
  if (!fixed_layout()) n += fmt::format(",delta={}", options_.tolerance);
  n += fmt::format(",buffer={}", options_.buffer);
  if (options_.fp8_refit) n += ",refit";
  return n;
}

void LexicoCache::clear() {
  const int width = shape_.n_kv_heads * shape_.head_dim;
  for (Layer& l : layers_) {
    l.keys = HalfRows(width);
    l.values = HalfRows(width);
    l.compressed = 0;
    l.k.assign(shape_.n_kv_heads, Codes{});
    l.v.assign(shape_.n_kv_heads, Codes{});
  }
}

int64_t LexicoCache::length(int layer) const {
  const Layer& l = layers_.at(layer);
  return l.compressed + l.keys.size();
}

int64_t LexicoCache::compressed_length(int layer) const { return layers_.at(layer).compressed; }
int64_t LexicoCache::buffer_length(int layer) const { return layers_.at(layer).keys.size(); }

size_t LexicoCache::payload_bytes() const {
  size_t n = 0;
  for (const Layer& l : layers_) {
    n += l.keys.bytes() + l.values.bytes();
    for (const Codes& c : l.k) n += c.bytes();
    for (const Codes& c : l.v) n += c.bytes();
  }
  return n;
}

size_t LexicoCache::bytes() const { return payload_bytes() + dicts_->bytes(); }

int64_t LexicoCache::stored_nonzeros() const {
  int64_t n = 0;
  for (const Layer& l : layers_) {
    for (const Codes& c : l.k) n += int64_t(c.indices.size());
    for (const Codes& c : l.v) n += int64_t(c.indices.size());
  }
  return n;
}

void LexicoCache::code(int layer, int kv_head, KvKind kind, int64_t token, std::vector<uint16_t>& indices,
                       std::vector<uint8_t>& coefficients) const {
  const Layer& l = layers_.at(layer);
  if (kv_head < 0 || kv_head >= shape_.n_kv_heads || token < 0 || token >= l.compressed)
    internal_error(name(), "no compressed token {} of layer {} head {}", token, layer, kv_head);
  const Codes& c = (kind == KvKind::Values ? l.v : l.k).at(kv_head);
  size_t begin = 0, count = size_t(options_.sparsity);
  if (fixed_layout()) {
    begin = size_t(token) * count;
  } else {
    for (int64_t t = 0; t < token; ++t) begin += c.counts[t];
    count = c.counts[token];
  }
  indices.assign(c.indices.begin() + begin, c.indices.begin() + begin + count);
  coefficients.assign(c.values.begin() + begin, c.values.begin() + begin + count);
}

void LexicoCache::append(int layer, const float* k, const float* v, int n_tokens) {
  Layer& l = layers_.at(layer);
  settle(layer);  // tokens appended earlier and never attended over
  l.keys.push(k, n_tokens);
  l.values.push(v, n_tokens);
}

void LexicoCache::settle(int layer) {
  const int64_t excess = layers_[layer].keys.size() - options_.buffer;
  if (excess > 0) compress(layer, excess);
}

void LexicoCache::compress(int layer, int64_t n) {
  Layer& l = layers_[layer];
  const int nkv = shape_.n_kv_heads, hd = shape_.head_dim, s = options_.sparsity;
  const bool fixed = fixed_layout();
  float* x = ensure(compress_buf_, size_t(n) * nkv * hd);
  OmpOptions omp;
  omp.sparsity = s;
  omp.tolerance = options_.tolerance;
  omp.fp8_refit = options_.fp8_refit;
  for (KvKind kind : {KvKind::Keys, KvKind::Values}) {
    const bool is_key = kind == KvKind::Keys;
    (is_key ? l.keys : l.values).to_float(0, n, 0, nkv * hd, x);
    const OmpEncoder& encoder = is_key ? dicts_->keys(layer) : dicts_->values(layer);
    // Rows are (token, head) in token-major order, each head_dim floats.
    const SparseCoefs coefs = encoder.encode(x, n * nkv, hd, omp);
    std::vector<Codes>& heads = is_key ? l.k : l.v;
    for (int64_t r = 0; r < n * nkv; ++r) {
      Codes& c = heads[r % nkv];
      const uint32_t begin = coefs.row_ptr[r], count = coefs.row_nnz(r);
      if (!fixed) c.counts.push_back(uint16_t(count));
      const uint32_t width = fixed ? uint32_t(s) : count;
      for (uint32_t j = 0; j < width; ++j) {
        const bool real = j < count;
        c.indices.push_back(real ? coefs.indices[begin + j] : uint16_t(0));
        c.values.push_back(real ? fp8_e4m3_encode(coefs.values[begin + j]) : uint8_t(0));
      }
    }
  }
  l.keys.pop_front(n);
  l.values.pop_front(n);
  l.compressed += n;
}

void LexicoCache::attend(int layer, const float* q, int n_tokens, float* out) {
  const Layer& l = layers_.at(layer);
  if (n_tokens < 1 || n_tokens > l.keys.size())
    internal_error(name(), "attend over {} queries but layer {} buffers {} new positions", n_tokens, layer,
                   l.keys.size());
  if (scratch_.size() < size_t(omp_get_max_threads())) scratch_.resize(omp_get_max_threads());
  // With compressed tokens, a block of queries needs q·D_k and the atom
  // weights as [block·n_heads, N] matrices: about kRowBlock rows bound them.
  const int block = l.compressed > 0 ? std::max(1, kRowBlock / shape_.n_heads) : n_tokens;
  for (int first = 0; first < n_tokens; first += block)
    attend_block(layer, q, n_tokens, first, std::min(block, n_tokens - first), out);
  settle(layer);
}

void LexicoCache::attend_block(int layer, const float* q, int n_tokens, int first, int count, float* out) {
  const Layer& l = layers_[layer];
  const int nh = shape_.n_heads, nkv = shape_.n_kv_heads, hd = shape_.head_dim, group = nh / nkv;
  const int64_t tb = l.keys.size(), tc = l.compressed;
  const int64_t first_row = tb - n_tokens + first;  // buffer row of the block's first query
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const Eigen::MatrixXf& dk = dicts_->keys(layer).dictionary();
  const Eigen::MatrixXf& dv = dicts_->values(layer).dictionary();
  const int n_atoms = int(dk.cols()), s = options_.sparsity;
  const bool fixed = fixed_layout();
  const float* fp8 = kFp8E4M3Values.data();
  // The block's rows are (token, head) pairs, contiguous in q and out.
  const int rows = count * nh;
  const float* qb = q + size_t(first) * nh * hd;
  float* ob = out + size_t(first) * nh * hd;
  float* qd = tc > 0 ? ensure(qd_, size_t(rows) * n_atoms) : nullptr;
  float* acc = tc > 0 ? ensure(acc_, size_t(rows) * n_atoms) : nullptr;
  const int n_atom_chunks = tc > 0 ? (n_atoms + kAtomChunk - 1) / kAtomChunk : 0;
  const int n_out_chunks = tc > 0 ? (hd + kOutChunk - 1) / kOutChunk : 0;
  const int n_sub = (count + kQueryBlock - 1) / kQueryBlock;

#pragma omp parallel
  {
    // 1. q·D_k for every row at once (scaled), split over atoms; clear the weights.
#pragma omp for schedule(static)
    for (int c = 0; c < n_atom_chunks; ++c) {
      const int c0 = c * kAtomChunk, w = std::min(kAtomChunk, n_atoms - c0);
      StridedMap block(qd + c0, rows, w, Eigen::OuterStride<>(n_atoms));
      block.noalias() = (ConstMap(qb, rows, hd) * dk.middleCols(c0, w)) * scale;
      for (int r = 0; r < rows; ++r) std::fill_n(acc + size_t(r) * n_atoms + c0, w, 0.0f);
    }

    // 2. Per KV head and run of queries: scores, one softmax, the buffer's
    //    values, and the compressed tokens' weights into atom space.
#pragma omp for schedule(dynamic)
    for (int task = 0; task < nkv * n_sub; ++task) {
      const int g = task / n_sub;
      const int i0 = (task % n_sub) * kQueryBlock, bt = std::min(kQueryBlock, count - i0);
      const int64_t visible = first_row + i0 + bt;  // buffer rows the run's last query sees
      Scratch& sc = scratch_[omp_get_thread_num()];
      const Codes& kc = l.k[g];
      const Codes& vc = l.v[g];
      float* kb = ensure(sc.keys, size_t(visible) * hd);
      float* vb = ensure(sc.values, size_t(visible) * hd);
      l.keys.to_float(0, visible, g * hd, hd, kb);
      l.values.to_float(0, visible, g * hd, hd, vb);
      float* scores_c = tc > 0 ? ensure(sc.compressed, size_t(bt) * tc) : nullptr;
      Map sb(ensure(sc.buffered, size_t(bt) * visible), bt, visible);

      for (int h = g * group; h < (g + 1) * group; ++h) {
        const size_t offset = (size_t(i0) * nh + h) * hd;
        const StridedConstMap queries(qb + offset, bt, hd, Eigen::OuterStride<>(nh * hd));
        StridedMap o(ob + offset, bt, hd, Eigen::OuterStride<>(nh * hd));
        sb.noalias() = (queries * ConstMap(kb, visible, hd).transpose()) * scale;

        for (int i = 0; i < bt; ++i) {
          const size_t row = size_t(i0 + i) * nh + h;  // in qd and acc
          float* rc = scores_c ? scores_c + size_t(i) * tc : nullptr;
          if (tc > 0) {  // compressed scores, gathered from q·D_k
            const float* qdi = qd + row * n_atoms;
            const uint16_t* idx = kc.indices.data();
            const uint8_t* val = kc.values.data();
            for (int64_t t = 0; t < tc; ++t) {
              const int nz = fixed ? s : kc.counts[t];
              float dot = 0.0f;
              for (int j = 0; j < nz; ++j) dot += fp8[val[j]] * qdi[idx[j]];
              rc[t] = dot;
              idx += nz;
              val += nz;
            }
          }
          // One softmax over both parts; causal within the buffer.
          const int64_t nb = first_row + i0 + i + 1;
          float* rb = sb.row(i).data();
          float m = -std::numeric_limits<float>::infinity();
          for (int64_t t = 0; t < tc; ++t) m = std::max(m, rc[t]);
          for (int64_t t = 0; t < nb; ++t) m = std::max(m, rb[t]);
          float sum = 0.0f;
          for (int64_t t = 0; t < tc; ++t) sum += (rc[t] = std::exp(rc[t] - m));
          for (int64_t t = 0; t < nb; ++t) sum += (rb[t] = std::exp(rb[t] - m));
          const float inv = 1.0f / sum;
          for (int64_t t = 0; t < nb; ++t) rb[t] *= inv;
          for (int64_t t = nb; t < visible; ++t) rb[t] = 0.0f;
          if (tc > 0) {  // weights into atom space: acc[i_j] += w·c_j
            float* a = acc + row * n_atoms;
            const uint16_t* idx = vc.indices.data();
            const uint8_t* val = vc.values.data();
            for (int64_t t = 0; t < tc; ++t) {
              const int nz = fixed ? s : vc.counts[t];
              const float wt = rc[t] * inv;
              for (int j = 0; j < nz; ++j) a[idx[j]] += wt * fp8[val[j]];
              idx += nz;
              val += nz;
            }
          }
        }
        o.noalias() = sb * ConstMap(vb, visible, hd);
      }
    }

    // 3. out += acc · D_vᵀ for every row at once, split over output channels.
#pragma omp for schedule(static)
    for (int c = 0; c < n_out_chunks; ++c) {
      const int c0 = c * kOutChunk, w = std::min(kOutChunk, hd - c0);
      StridedMap o(ob + c0, rows, w, Eigen::OuterStride<>(hd));
      o.noalias() += ConstMap(acc, rows, n_atoms) * dv.middleRows(c0, w).transpose();
    }
  }
}

}  // namespace lexico
