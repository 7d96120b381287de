#include "lexico/omp_beam.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "lexico/error.h"
#include "lexico/omp.h"
#include "sparse/sparse_solver_batch.h"

namespace lexico {

namespace {

constexpr int kVectorBlock = 32;          // vectors per Dᵀx GEMM
constexpr int kChunk = 512;               // α entries updated per pass over the support's G columns
constexpr double kMinPivotSq = 1e-5;      // as OMP: pivot² below this × G_jj means j is in span(D_I)
constexpr double kMinCorrelation = 1e-5;  // as OMP: max |α| below this × ‖x‖ means r ⟂ all atoms

// A partial support with the factors that extend it: L (row-major lower
// triangle, stride s) with L Lᵀ = G_II, z = L⁻¹ D_Iᵀx, ‖r‖² = ‖x‖² − ‖z‖².
struct Path {
  explicit Path(int s) : support(s), chol(size_t(s) * s), inv_diag(s), z(s) {}
  int k = 0;
  bool done = false;  // can no longer grow
  double residual_sq = 0.0;
  std::vector<int> support;  // selection order
  std::vector<double> chol, inv_diag, z;
};

// Expanding path `parent` by `atom` (−1: carrying a finished path as it is).
struct Candidate {
  int parent;
  int atom;
  double residual_sq;
  std::vector<int> set;  // the sorted support it reaches, for merging
};

double exact_dot(const float* a, const float* b, int n) {
  double sum = 0.0;
  for (int i = 0; i < n; ++i) sum += double(a[i]) * double(b[i]);
  return sum;
}

class BeamWorker {
 public:
  BeamWorker(const Eigen::MatrixXf& dictionary, const Eigen::MatrixXf& gram, const BeamOmpOptions& options)
      : d_(dictionary),
        gram_(gram),
        options_(options),
        alpha0_(dictionary.cols(), kVectorBlock),
        alpha_(dictionary.cols()),
        in_support_(dictionary.cols(), 0),
        row_(options.sparsity),
        gamma_(options.sparsity),
        columns_(options.sparsity),
        gamma_f_(options.sparsity) {
    for (int b = 0; b < options.beam_width; ++b)
      beam_.emplace_back(options.sparsity), next_.emplace_back(options.sparsity);
  }

  void operator()(solver::VectorBatch x, solver::RowSlots rows) {
    const int count = int(x.cols()), s = options_.sparsity;
    alpha0_.leftCols(count).noalias() = d_.transpose() * x;
    for (int i = 0; i < count; ++i) {
      const Path* best = pursue(x.col(i).data(), alpha0_.col(i));
      rows.count[i] = best ? best->k : 0;
      if (!best) continue;
      solve_gamma(*best);
      for (int t = 0; t < best->k; ++t) {
        rows.indices[size_t(i) * s + t] = uint16_t(best->support[t]);
        rows.values[size_t(i) * s + t] = float(gamma_[t]);
      }
    }
  }

 private:
  // γ = L⁻ᵀ z for a path, into gamma_.
  void solve_gamma(const Path& p) {
    const int stride = options_.sparsity;
    std::copy_n(p.z.begin(), p.k, gamma_.begin());
    for (int i = p.k - 1; i >= 0; --i) {
      gamma_[i] *= p.inv_diag[i];
      for (int t = 0; t < i; ++t) gamma_[t] -= p.chol[size_t(i) * stride + t] * gamma_[i];
    }
  }

  // The new Cholesky row for adding atom j to p (into row_); returns the
  // pivot², or a value ≤ the span threshold when j is (nearly) in span(D_I).
  double cholesky_row(const Path& p, int j) {
    const int stride = options_.sparsity;
    double pivot_sq = gram_(j, j);
    for (int i = 0; i < p.k; ++i) {
      double w = gram_(j, p.support[i]);  // column I_i, as OMP reads it
      for (int t = 0; t < i; ++t) w -= p.chol[size_t(i) * stride + t] * row_[t];
      row_[i] = w * p.inv_diag[i];
      pivot_sq -= row_[i] * row_[i];
    }
    return pivot_sq;
  }

  // Appends p's expansions (or p itself when it cannot grow) to candidates_.
  // The first one appended for a growing path is its greedy (OMP) child.
  void expand(int parent, const float* x, Eigen::Ref<const Eigen::VectorXf> alpha0, float min_correlation) {
    Path& p = beam_[parent];
    const int n = int(d_.cols()), width = options_.beam_width;
    if (!p.done) {
      solve_gamma(p);
      for (int i = 0; i < p.k; ++i) {
        gamma_f_[i] = float(gamma_[i]);
        columns_[i] = gram_.col(p.support[i]).data();
      }
      // α = α⁰ − G_I γ in L1-sized chunks: α⁰ and each column read once.
      for (int n0 = 0; n0 < n; n0 += kChunk) {
        const int len = std::min(kChunk, n - n0);
        float* a = alpha_.data() + n0;
        std::copy_n(alpha0.data() + n0, len, a);
        for (int i = 0; i < p.k; ++i) {
          const float* g = columns_[i] + n0;
          const float c = gamma_f_[i];
#pragma omp simd
          for (int t = 0; t < len; ++t) a[t] -= c * g[t];
        }
      }
      // The `width` free atoms of largest |α| (ties: lower index), best first.
      for (int i = 0; i < p.k; ++i) in_support_[p.support[i]] = 1;
      top_.clear();
      float floor = -1.0f;  // |α| of the weakest kept atom once `width` are kept
      for (int j = 0; j < n; ++j) {
        const float magnitude = std::abs(alpha_[j]);
        if (magnitude <= floor || in_support_[j]) continue;
        auto at = std::find_if(top_.begin(), top_.end(), [&](int t) { return magnitude > std::abs(alpha_[t]); });
        top_.insert(at, j);
        if (int(top_.size()) > width) top_.pop_back();
        if (int(top_.size()) == width) floor = std::abs(alpha_[top_.back()]);
      }
      for (int i = 0; i < p.k; ++i) in_support_[p.support[i]] = 0;
      const size_t before = n_candidates_;
      for (int j : top_) {
        if (std::abs(alpha_[j]) <= min_correlation) break;
        const double pivot_sq = cholesky_row(p, j);
        if (pivot_sq <= kMinPivotSq * gram_(j, j)) {
          if (j == top_.front()) break;  // OMP stops here: so does the greedy path's expansion
          continue;
        }
        double zk = exact_dot(d_.col(j).data(), x, int(d_.rows()));
        for (int t = 0; t < p.k; ++t) zk -= row_[t] * p.z[t];
        zk /= std::sqrt(pivot_sq);
        add_candidate(parent, j, p.residual_sq - zk * zk);
      }
      if (n_candidates_ == before) p.done = true;
    }
    if (p.done) add_candidate(parent, -1, p.residual_sq);
  }

  // Appends a candidate, reusing the storage of earlier steps' candidates.
  void add_candidate(int parent, int atom, double residual_sq) {
    if (n_candidates_ == candidates_.size()) candidates_.emplace_back();
    Candidate& c = candidates_[n_candidates_++];
    const Path& p = beam_[parent];
    c.parent = parent;
    c.atom = atom;
    c.residual_sq = residual_sq;
    c.set.assign(p.support.begin(), p.support.begin() + p.k);
    if (atom >= 0) c.set.push_back(atom);
    std::sort(c.set.begin(), c.set.end());
  }

  // next_[slot] = candidate c applied to its parent.
  void build(const Candidate& c, int slot, const float* x) {
    const Path& p = beam_[c.parent];
    Path& q = next_[slot];
    const int stride = options_.sparsity;
    q.k = p.k;
    q.done = p.done;
    q.residual_sq = c.residual_sq;
    std::copy_n(p.support.begin(), p.k, q.support.begin());
    std::copy_n(p.chol.begin(), size_t(p.k) * stride, q.chol.begin());
    std::copy_n(p.inv_diag.begin(), p.k, q.inv_diag.begin());
    std::copy_n(p.z.begin(), p.k, q.z.begin());
    if (c.atom < 0) return;
    const int j = c.atom, k = p.k;
    const double pivot = std::sqrt(cholesky_row(p, j));
    std::copy_n(row_.begin(), k, q.chol.begin() + size_t(k) * stride);
    q.chol[size_t(k) * stride + k] = pivot;
    q.inv_diag[k] = 1.0 / pivot;
    double zk = exact_dot(d_.col(j).data(), x, int(d_.rows()));
    for (int t = 0; t < k; ++t) zk -= row_[t] * p.z[t];
    q.z[k] = zk / pivot;
    q.support[k] = j;
    q.k = k + 1;
    // As OMP with tolerance 0: a path whose residual vanishes stops there.
    if (q.k == options_.sparsity || q.residual_sq <= 0.0) q.done = true;
  }

  // The best path found for one vector, or null for a zero vector.
  const Path* pursue(const float* x, Eigen::Ref<const Eigen::VectorXf> alpha0) {
    const double norm_sq = exact_dot(x, x, int(d_.rows()));
    if (norm_sq == 0.0) return nullptr;
    const float min_correlation = float(kMinCorrelation * std::sqrt(norm_sq));
    beam_[0].k = 0;
    beam_[0].done = false;
    beam_[0].residual_sq = norm_sq;
    int n_beam = 1;  // beam_[0] is always the greedy path
    for (int step = 0; step < options_.sparsity; ++step) {
      n_candidates_ = 0;
      for (int b = 0; b < n_beam; ++b) expand(b, x, alpha0, min_correlation);
      if (std::all_of(candidates_.begin(), candidates_.begin() + n_candidates_,
                      [](const Candidate& c) { return c.atom < 0; }))
        break;
      // The greedy child is candidate 0; the rest compete by residual.
      order_.resize(n_candidates_);
      std::iota(order_.begin(), order_.end(), size_t(0));
      std::stable_sort(order_.begin() + 1, order_.end(),
                       [&](size_t a, size_t b) { return candidates_[a].residual_sq < candidates_[b].residual_sq; });
      kept_.clear();
      for (size_t c : order_) {
        if (int(kept_.size()) == options_.beam_width) break;
        const bool merged =
            std::any_of(kept_.begin(), kept_.end(), [&](size_t k) { return candidates_[k].set == candidates_[c].set; });
        if (!merged) kept_.push_back(c);
      }
      for (size_t slot = 0; slot < kept_.size(); ++slot) build(candidates_[kept_[slot]], int(slot), x);
      n_beam = int(kept_.size());
      std::swap(beam_, next_);
    }
    const Path* best = &beam_[0];
    for (int b = 1; b < n_beam; ++b)
      if (beam_[b].residual_sq < best->residual_sq) best = &beam_[b];
    return best;
  }

  const Eigen::MatrixXf& d_;
  const Eigen::MatrixXf& gram_;
  const BeamOmpOptions& options_;
  Eigen::MatrixXf alpha0_;  // Dᵀx for a block
  Eigen::VectorXf alpha_;   // α = Dᵀx − G_I γ for the path being expanded
  std::vector<char> in_support_;
  std::vector<double> row_, gamma_;
  std::vector<Path> beam_, next_;
  std::vector<const float*> columns_;  // G_{:,I} of the path being expanded
  std::vector<float> gamma_f_;         // its γ in float, for the α update
  std::vector<Candidate> candidates_;  // the first n_candidates_ are this step's
  size_t n_candidates_ = 0;
  std::vector<size_t> order_, kept_;
  std::vector<int> top_;
};

}  // namespace

BeamOmpEncoder::BeamOmpEncoder(Eigen::Ref<const Eigen::MatrixXf> dictionary) : dictionary_(dictionary) {
  check_unit_dictionary(dictionary_, "beam omp dictionary");
  gram_.noalias() = dictionary_.transpose() * dictionary_;
}

SparseCoefs BeamOmpEncoder::encode(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                                   const BeamOmpOptions& options) const {
  const char* where = "beam omp";
  solver::check_sparsity_and_threads(options.sparsity, options.threads, dim(), n_atoms(), where);
  if (options.beam_width < 1) usage_error(where, "beam width {} is below 1", options.beam_width);
  return solver::encode_in_blocks(dim(), n_atoms(), vectors, options.sparsity, options.threads, kVectorBlock, where,
                                  [&] { return BeamWorker(dictionary_, gram_, options); });
}

}  // namespace lexico
