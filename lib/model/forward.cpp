// The Llama-family forward pass, one batch of tokens at a time:
//   x = embed(tokens)
//   per layer:  x += Wo · attend(rope(Wq·norm(x)), rope(Wk·norm(x)), Wv·norm(x))
//               x += Wdown · (silu(Wgate·norm(x)) * Wup·norm(x))
//   logits = Wout · norm(x)
// Rows of the activation matrices are tokens, so a prefill of T tokens is a
// GEMM X[T x in] · Wᵀ. The KV cache does attention.
#include <algorithm>
#include <cmath>
#include <vector>

#include "lexico/error.h"
#include "lexico/model.h"

namespace lexico {

namespace {

// y = x · wᵀ in fixed slices of kSlice rows of w (output columns), shared
// out over the threads; Eigen's own threading is off (EIGEN_DONT_PARALLELIZE).
// The slices do not depend on the thread count, and Eigen's summation order
// for an output depends on its slice's shape: so the result is bitwise the
// same on any number of threads. (Slicing by thread count made perplexities
// of a coarse cache such as int4 move by 2 % between 2 and 3 threads: the last
// bits of a key decide some of its 4-bit codes.) A quantized w is dequantized
// a slice at a time into the thread's scratch: the same float32 values in the
// same layout, so the same products as a float32 w; except for one row of x
// (a decoding step, bound by reading w) over Q4_0/Q4_1/Q8_0 blocks, whose dot
// products read the blocks directly.
void matmul(const Matrix& x, const WeightMatrix& w, Matrix& y) {
  constexpr Eigen::Index kSlice = 64;
  y.resize(x.rows(), w.rows());
  const Eigen::Index n = w.rows(), slices = (n + kSlice - 1) / kSlice;
#pragma omp parallel
  {
    std::vector<float> scratch;
#pragma omp for schedule(static)
    for (Eigen::Index p = 0; p < slices; ++p) {
      const Eigen::Index r0 = p * kSlice, len = std::min(kSlice, n - r0);
      if (x.rows() == 1 && w.direct_dot())
        w.dot_rows(r0, len, x.data(), y.data() + r0);
      else
        y.middleCols(r0, len).noalias() = x * w.rows_view(r0, len, scratch).transpose();
    }
  }
}

// y = x / rms(x) * weight, per row.
void rms_norm(const Matrix& x, const Vector& weight, float eps, Matrix& y) {
  y.resize(x.rows(), x.cols());
  for (Eigen::Index t = 0; t < x.rows(); ++t) {
    const float ms = x.row(t).squaredNorm() / static_cast<float>(x.cols());
    y.row(t) = x.row(t).cwiseProduct(weight.transpose()) * (1.0f / std::sqrt(ms + eps));
  }
}

}  // namespace

Matrix Model::forward(std::span<const int> tokens, int64_t pos, KvCache& cache, Logits which,
                      const KvObserver& observer) const {
  const ModelConfig& c = config_;
  const int n = static_cast<int>(tokens.size());
  const CacheShape& cs = cache.shape();
  if (cs.n_layers != c.n_layers || cs.n_heads != c.n_heads || cs.n_kv_heads != c.n_kv_heads ||
      cs.head_dim != c.head_dim)
    internal_error(cache.name(), "cache shape does not match the model");
  if (n == 0) internal_error("forward", "no tokens");

  Matrix x(n, c.dim);
  for (int t = 0; t < n; ++t) {
    if (tokens[t] < 0 || tokens[t] >= c.vocab_size)
      bad_input("tokens", "token id {} is out of range (vocabulary of {})", tokens[t], c.vocab_size);
    weights_.token_embedding.rows_to_float(tokens[t], 1, x.row(t).data());
  }
  const RopeAngles angles = rope_.angles(pos, n);

  Matrix xn, q, k, v, k_pre, att(n, int64_t{c.n_heads} * c.head_dim), proj, gate, up;
  for (int l = 0; l < c.n_layers; ++l) {
    const LayerWeights& w = weights_.layers[l];
    rms_norm(x, w.attn_norm, c.rms_eps, xn);
    matmul(xn, w.wq, q);
    matmul(xn, w.wk, k);
    matmul(xn, w.wv, v);
    if (c.qkv_bias) {
      q.rowwise() += w.bq.transpose();
      k.rowwise() += w.bk.transpose();
      v.rowwise() += w.bv.transpose();
    }
    if (observer) k_pre = k;
    Rope::rotate(angles, q.data(), c.n_heads);
    Rope::rotate(angles, k.data(), c.n_kv_heads);
    if (observer) observer(l, pos, n, k_pre.data(), k.data(), v.data());
    cache.append(l, k.data(), v.data(), n);
    cache.attend(l, q.data(), n, att.data());
    matmul(att, w.wo, proj);
    x += proj;

    rms_norm(x, w.ffn_norm, c.rms_eps, xn);
    matmul(xn, w.w_gate, gate);
    matmul(xn, w.w_up, up);
    gate = gate.array() / (1.0f + (-gate.array()).exp()) * up.array();  // SiLU(gate) * up
    matmul(gate, w.w_down, proj);
    x += proj;
  }

  if (which == Logits::Last) x = x.bottomRows(1).eval();
  rms_norm(x, weights_.final_norm, c.rms_eps, xn);
  Matrix logits;
  matmul(xn, weights_.classifier(), logits);
  return logits;
}

}  // namespace lexico
