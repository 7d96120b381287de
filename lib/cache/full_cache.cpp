#include "lexico/full_cache.h"

#include <algorithm>
#include <cmath>

#include <Eigen/Core>

#include "lexico/error.h"
#include "lexico/half.h"

namespace lexico {

namespace {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const Matrix>;
using StridedConstMap = Eigen::Map<const Matrix, 0, Eigen::OuterStride<>>;
using StridedMap = Eigen::Map<Matrix, 0, Eigen::OuterStride<>>;

constexpr int kQueryBlock = 64;  // queries per task: bounds the score block at 64 x length

// Validates before any storage is sized from the shape.
CacheShape checked(CacheShape s) {
  if (s.n_layers <= 0 || s.n_heads <= 0 || s.n_kv_heads <= 0 || s.head_dim <= 0 || s.n_heads % s.n_kv_heads != 0)
    internal_error("FullCache", "bad cache shape ({} layers, {} heads, {} KV heads, head_dim {})", s.n_layers,
                   s.n_heads, s.n_kv_heads, s.head_dim);
  return s;
}

}  // namespace

FullCache::FullCache(CacheShape shape, Storage storage)
    : KvCache(checked(shape)),
      storage_(storage),
      heads_(static_cast<size_t>(shape.n_layers) * shape.n_kv_heads),
      length_(shape.n_layers, 0) {}

void FullCache::append(int layer, const float* k, const float* v, int n_tokens) {
  if (layer < 0 || layer >= shape_.n_layers || n_tokens < 0)
    internal_error(name(), "append of {} positions to layer {} of {}", n_tokens, layer, shape_.n_layers);
  const int nkv = shape_.n_kv_heads, hd = shape_.head_dim;
  for (int g = 0; g < nkv; ++g) {
    Head& h = head(layer, g);
    for (int t = 0; t < n_tokens; ++t) {
      const float* kt = k + (static_cast<size_t>(t) * nkv + g) * hd;
      const float* vt = v + (static_cast<size_t>(t) * nkv + g) * hd;
      if (storage_ == Storage::F32) {
        h.k32.insert(h.k32.end(), kt, kt + hd);
        h.v32.insert(h.v32.end(), vt, vt + hd);
      } else {
        for (int i = 0; i < hd; ++i) {
          h.k16.push_back(float_to_half(kt[i]));
          h.v16.push_back(float_to_half(vt[i]));
        }
      }
    }
  }
  length_[layer] += n_tokens;
}

void FullCache::attend(int layer, const float* q, int n_tokens, float* out) {
  const int nh = shape_.n_heads, nkv = shape_.n_kv_heads, hd = shape_.head_dim, group = nh / nkv;
  if (layer < 0 || layer >= shape_.n_layers) internal_error(name(), "attend on layer {} of {}", layer, shape_.n_layers);
  const int64_t len = length_[layer];
  if (n_tokens > len) internal_error(name(), "attend over {} queries but layer {} holds {} positions", n_tokens, layer, len);
  const int64_t first = len - n_tokens;  // position of the first query
  const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
  const int n_blocks = (n_tokens + kQueryBlock - 1) / kQueryBlock;

  // Tasks are (KV head, block of queries): the heads of a group share one
  // conversion of the FP16 keys and values.
#pragma omp parallel
  {
    Matrix k_buf, v_buf, scores;
#pragma omp for schedule(dynamic)
    for (int task = 0; task < nkv * n_blocks; ++task) {
      const int g = task / n_blocks;
      const int t0 = (task % n_blocks) * kQueryBlock, bt = std::min(kQueryBlock, n_tokens - t0);
      const int64_t visible = first + t0 + bt;  // positions the last query of the block sees
      const Head& h = head(layer, g);
      const float *kp = h.k32.data(), *vp = h.v32.data();
      if (storage_ == Storage::F16) {
        k_buf.resize(visible, hd);
        v_buf.resize(visible, hd);
        for (int64_t i = 0; i < visible * hd; ++i) {
          k_buf.data()[i] = half_to_float(h.k16[i]);
          v_buf.data()[i] = half_to_float(h.v16[i]);
        }
        kp = k_buf.data();
        vp = v_buf.data();
      }
      const ConstMap keys(kp, visible, hd), values(vp, visible, hd);
      for (int qh = g * group; qh < (g + 1) * group; ++qh) {
        const size_t offset = (static_cast<size_t>(t0) * nh + qh) * hd;
        const StridedConstMap queries(q + offset, bt, hd, Eigen::OuterStride<>(nh * hd));
        StridedMap o(out + offset, bt, hd, Eigen::OuterStride<>(nh * hd));
        scores.noalias() = (queries * keys.transpose()) * scale;
        for (int i = 0; i < bt; ++i) {
          const int64_t n = first + t0 + i + 1;  // causal: positions 0 .. own
          auto row = scores.row(i);
          const float m = row.head(n).maxCoeff();
          row.head(n) = (row.head(n).array() - m).exp();
          row.head(n) /= row.head(n).sum();
          row.tail(visible - n).setZero();
        }
        o.noalias() = scores * values;
      }
    }
  }
}

size_t FullCache::bytes() const {
  size_t n = 0;
  for (const Head& h : heads_)
    n += (h.k32.size() + h.v32.size()) * sizeof(float) + (h.k16.size() + h.v16.size()) * sizeof(uint16_t);
  return n;
}

void FullCache::clear() {
  for (Head& h : heads_) h = Head{};
  std::fill(length_.begin(), length_.end(), 0);
}

}  // namespace lexico
