#include "lexico/omp.h"

#include <omp.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstring>
#include <vector>

#include "lexico/error.h"
#include "lexico/fp8.h"

namespace lexico {

namespace {

constexpr int kAtomBlock = 64;        // rows of α handled per step of the fused loop
constexpr int kVectorBlock = 32;      // vectors per α⁰ GEMM
constexpr int kColumnGroup = 8;       // G columns applied per sweep of the α update
constexpr int kPrefetchRows = 1024;   // how far ahead a sweep fetches G's newest column
constexpr double kMinPivotSq = 1e-5;  // Cholesky pivot² below this (× G_jj): atom in span
constexpr double kMinCorrelation = 1e-5;  // max |α| below this × ‖x‖: residual ⟂ all atoms
constexpr float kUnitNormTolerance = 1e-3f;

int padded(int n_atoms) { return (n_atoms + kAtomBlock - 1) / kAtomBlock * kAtomBlock; }

// 16 float lanes (GCC/Clang vector extension): one AVX-512 register, two AVX2.
using f32x16 = float __attribute__((vector_size(64)));
using i32x16 = int32_t __attribute__((vector_size(64)));
constexpr int kLanes = 16;
static_assert(kAtomBlock == 4 * kLanes);

// Unaligned vector load and store.
inline f32x16 load(const float* p) {
  f32x16 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
inline void store(float* p, f32x16 v) { std::memcpy(p, &v, sizeof v); }

// a[0..4) −= Σ_{c in [first, last)} γ_c G_{n0.., I_c}: 64 rows, registers only.
inline void subtract_columns(f32x16 (&a)[4], const float* const* columns, const float* gamma, int first,
                             int last, int n0) {
  for (int c = first; c < last; ++c) {
    const float* g = columns[c] + n0;
    const float gc = gamma[c];
    for (int q = 0; q < 4; ++q) a[q] -= gc * load(g + q * kLanes);
  }
}

struct Pick {
  int atom = -1;
  float magnitude = -1.0f;  // |α_atom|
};

// α = α⁰ − Σ_c γ_c G_{:,I_c} and the index of its largest magnitude among atoms
// not yet chosen. Columns are applied kColumnGroup at a time in sweeps over
// the rows, so each sweep streams a few sequential columns (prefetch-friendly)
// while α stays in L1/L2 (`partial`); the last sweep does the argmax instead
// of storing α. Chosen atoms and padding are excluded by a bit each in
// `excluded` (bit t of word w: atom 16w + t). Each lane keeps its own best;
// ties go to the lowest index, as numpy.argmax.
Pick update_and_argmax(const float* alpha0, const float* const* columns, const float* gamma, int k,
                       int n_padded, const uint16_t* excluded, float* partial) {
  // The newest column (likely from memory) is fetched kPrefetchRows ahead.
  const float* newest = k > 0 ? columns[k - 1] + kPrefetchRows : nullptr;
  auto prefetch_newest = [&](int n0) {
    if (newest && n0 + kPrefetchRows < n_padded)
      for (int q = 0; q < 4; ++q) __builtin_prefetch(newest + n0 + q * kLanes, 0, 2);
  };
  const float* source = alpha0;
  int first = 0;
  for (; k - first > kColumnGroup; first += kColumnGroup) {
    for (int n0 = 0; n0 < n_padded; n0 += kAtomBlock) {
      prefetch_newest(n0);
      f32x16 a[4];
      for (int q = 0; q < 4; ++q) a[q] = load(source + n0 + q * kLanes);
      subtract_columns(a, columns, gamma, first, first + kColumnGroup, n0);
      for (int q = 0; q < 4; ++q) store(partial + n0 + q * kLanes, a[q]);
    }
    source = partial;
  }
  const i32x16 abs_mask = i32x16{} + 0x7FFFFFFF;
  i32x16 lane_index, lane_bit;
  for (int t = 0; t < kLanes; ++t) lane_index[t] = t, lane_bit[t] = 1 << t;
  f32x16 best = f32x16{} - 1.0f;
  i32x16 best_index = i32x16{} - 1;
  for (int n0 = 0; n0 < n_padded; n0 += kAtomBlock) {
    prefetch_newest(n0);
    f32x16 a[4];
    for (int q = 0; q < 4; ++q) a[q] = load(source + n0 + q * kLanes);
    subtract_columns(a, columns, gamma, first, k, n0);
    for (int q = 0; q < 4; ++q) {
      const f32x16 magnitude = f32x16(i32x16(a[q]) & abs_mask);
      const i32x16 free = ((i32x16{} + excluded[(n0 >> 4) + q]) & lane_bit) == 0;
      const i32x16 better = (magnitude > best) & free;
      best = better ? magnitude : best;
      best_index = better ? lane_index + (n0 + q * kLanes) : best_index;
    }
  }
  Pick pick;
  for (int t = 0; t < kLanes; ++t)
    if (best[t] > pick.magnitude || (best[t] == pick.magnitude && best_index[t] < pick.atom))
      pick = {best_index[t], best[t]};
  return pick;
}

// Solves A z = b in place (b becomes z) for a symmetric positive definite n×n
// A, row-major, overwritten by its Cholesky factor. False if a pivot is not
// positive (A numerically singular).
bool solve_spd(double* a, double* b, int n) {
  for (int i = 0; i < n; ++i) {
    for (int j = 0; j <= i; ++j) {
      double sum = a[i * n + j];
      for (int t = 0; t < j; ++t) sum -= a[i * n + t] * a[j * n + t];
      if (i == j) {
        if (sum <= 0.0) return false;
        a[i * n + i] = std::sqrt(sum);
      } else {
        a[i * n + j] = sum / a[j * n + j];
      }
    }
  }
  for (int i = 0; i < n; ++i) {
    for (int t = 0; t < i; ++t) b[i] -= a[i * n + t] * b[t];
    b[i] /= a[i * n + i];
  }
  for (int i = n - 1; i >= 0; --i) {
    for (int t = i + 1; t < n; ++t) b[i] -= a[t * n + i] * b[t];
    b[i] /= a[i * n + i];
  }
  return true;
}

// One thread's working memory, sized once per encode call.
struct Scratch {
  Scratch(int n_padded, int sparsity, int block_vectors)
      : alpha0(n_padded, block_vectors),
        excluded(n_padded / kLanes, 0),
        partial(n_padded),
        support(sparsity),
        columns(sparsity),
        chol(size_t(sparsity) * sparsity),
        inv_diag(sparsity),
        z(sparsity),
        gamma(sparsity),
        gamma_f(sparsity),
        alpha0_support(sparsity),
        refit_matrix(size_t(sparsity) * sparsity),
        refit_rhs(sparsity),
        refit_free(sparsity),
        refit_fixed(sparsity) {
    alpha0.setZero();  // padding rows stay zero
  }
  Eigen::MatrixXf alpha0;          // α⁰ = Dᵀx for a block of vectors, one column each
  std::vector<uint16_t> excluded;  // the current support and the padding, 1 bit per atom
  std::vector<float> partial;      // α part-way through its update
  std::vector<int> support;        // I, in selection order
  std::vector<const float*> columns;  // G_{:,I}
  std::vector<double> chol;           // L, row-major lower triangle, stride s
  std::vector<double> inv_diag;       // 1 / L_ii: the solves multiply (no division chains)
  std::vector<double> z;              // L⁻¹ α⁰_I
  std::vector<double> gamma;          // the coefficients on I
  std::vector<float> gamma_f;         // the same in float, for the α update
  std::vector<double> alpha0_support;  // α⁰_I
  std::vector<double> refit_matrix, refit_rhs;
  std::vector<int> refit_free;
  std::vector<uint8_t> refit_fixed;
};

// Greedy FP8 rounding (OmpOptions::fp8_refit) of the k coefficients in
// s.gamma: round the largest free one, then refit the free ones to
// α⁰_F − G_{F,fixed} γ_fixed, until none is free.
void refit_fp8(Scratch& s, int k) {
  std::fill(s.refit_fixed.begin(), s.refit_fixed.begin() + k, 0);
  for (int round = 0; round < k; ++round) {
    int largest = -1;
    for (int i = 0; i < k; ++i)
      if (!s.refit_fixed[i] && (largest < 0 || std::abs(s.gamma[i]) > std::abs(s.gamma[largest]))) largest = i;
    s.gamma[largest] = fp8_e4m3_decode(fp8_e4m3_encode(float(s.gamma[largest])));
    s.refit_fixed[largest] = 1;
    int n_free = 0;
    for (int i = 0; i < k; ++i)
      if (!s.refit_fixed[i]) s.refit_free[n_free++] = i;
    if (n_free == 0) break;
    for (int a = 0; a < n_free; ++a) {
      const int fa = s.refit_free[a];
      double rhs = s.alpha0_support[fa];
      for (int i = 0; i < k; ++i)
        if (s.refit_fixed[i]) rhs -= double(s.columns[i][s.support[fa]]) * s.gamma[i];
      s.refit_rhs[a] = rhs;
      for (int b = 0; b < n_free; ++b)
        s.refit_matrix[a * n_free + b] = s.columns[s.refit_free[b]][s.support[fa]];
    }
    if (!solve_spd(s.refit_matrix.data(), s.refit_rhs.data(), n_free)) continue;  // keep the OMP values
    for (int a = 0; a < n_free; ++a) s.gamma[s.refit_free[a]] = s.refit_rhs[a];
  }
}

// Back-substitution Lᵀ γ = z for the current k, by rows of L (contiguous):
// once γ_i is known, its terms leave the equations above it.
void solve_gamma(Scratch& s, int k, int stride) {
  std::copy_n(s.z.begin(), k, s.gamma.begin());
  for (int i = k - 1; i >= 0; --i) {
    const double* row = &s.chol[size_t(i) * stride];
    const double gamma_i = s.gamma[i] * s.inv_diag[i];
    s.gamma[i] = gamma_i;
    for (int t = 0; t < i; ++t) s.gamma[t] -= row[t] * gamma_i;
  }
}

// aᵀb in double; reassociated so that it vectorizes.
double exact_dot(const float* a, const float* b, int n) {
  double sum = 0.0;
#pragma omp simd reduction(+ : sum)
  for (int i = 0; i < n; ++i) sum += double(a[i]) * double(b[i]);
  return sum;
}

// What a pursuit reads of its encoder.
struct Tables {
  const Eigen::MatrixXf& dictionary;
  const Eigen::MatrixXf& gram;
  const Eigen::VectorXf& gram_diagonal;  // G_jj, without touching G's column j
};

// The pursuit for one vector; returns the number of atoms written to
// indices/values (in selection order).
int pursue(const Tables& tables, const float* x_data, const float* alpha0, double norm_sq,
           const OmpOptions& options, Scratch& s, uint16_t* indices, float* values) {
  if (norm_sq == 0.0) return 0;
  const int stride = options.sparsity, n_padded = int(tables.gram.rows());
  const Eigen::Map<const Eigen::VectorXf> x(x_data, tables.dictionary.rows());
  const double target_sq = double(options.tolerance) * options.tolerance * norm_sq;
  const float min_correlation = float(kMinCorrelation * std::sqrt(norm_sq));
  double residual_sq = norm_sq;
  int k = 0;
  auto next_pick = [&](int k) {
    return update_and_argmax(alpha0, s.columns.data(), s.gamma_f.data(), k, n_padded, s.excluded.data(),
                             s.partial.data());
  };
  Pick pick = next_pick(0);
  while (pick.magnitude > min_correlation) {
    const int j = pick.atom;
    const float* column = tables.gram.col(j).data();
    // New Cholesky row: w = L⁻¹ G_{I,j}, pivot² = G_jj − ‖w‖².
    double* row = &s.chol[size_t(k) * stride];
    double pivot_sq = tables.gram_diagonal[j];
    for (int i = 0; i < k; ++i) {
      double w = s.columns[i][j];  // G_{I_i,j} from the cached column I_i (G is symmetric)
      for (int t = 0; t < i; ++t) w -= s.chol[i * stride + t] * row[t];
      row[i] = w * s.inv_diag[i];
      pivot_sq -= row[i] * row[i];
    }
    if (pivot_sq <= kMinPivotSq * tables.gram_diagonal[j]) break;
    row[k] = std::sqrt(pivot_sq);
    // z grows by one entry (L is lower triangular), and ‖D_I γ‖² = ‖z‖².
    const double alpha0_j = exact_dot(tables.dictionary.col(j).data(), x_data, int(x.size()));
    double zk = alpha0_j;
    for (int t = 0; t < k; ++t) zk -= row[t] * s.z[t];
    s.inv_diag[k] = 1.0 / row[k];
    s.z[k] = zk * s.inv_diag[k];
    residual_sq -= s.z[k] * s.z[k];
    s.support[k] = j;
    s.columns[k] = column;
    s.alpha0_support[k] = alpha0_j;
    s.excluded[j / kLanes] |= uint16_t(1u << (j % kLanes));
    ++k;
    solve_gamma(s, k, stride);
    if (k == options.sparsity || residual_sq <= target_sq) break;
    for (int i = 0; i < k; ++i) s.gamma_f[i] = float(s.gamma[i]);
    pick = next_pick(k);
  }
  if (options.fp8_refit && k > 0) refit_fp8(s, k);
  for (int i = 0; i < k; ++i) {
    indices[i] = uint16_t(s.support[i]);
    values[i] = float(s.gamma[i]);
    s.excluded[s.support[i] / kLanes] &= uint16_t(~(1u << (s.support[i] % kLanes)));
  }
  return k;
}

void check_options(const OmpOptions& options, int dim, int n_atoms) {
  const char* where = "omp";
  const int max_sparsity = std::min(dim, n_atoms);
  if (options.sparsity < 1 || options.sparsity > max_sparsity)
    usage_error(where, "sparsity {} is outside 1..{} (min of dimension {} and atoms {})", options.sparsity,
                max_sparsity, dim, n_atoms);
  if (!(options.tolerance >= 0.0f && options.tolerance < 1.0f))
    usage_error(where, "tolerance {} is outside [0, 1)", options.tolerance);
  if (options.threads < 0) usage_error(where, "threads {} is negative", options.threads);
}

}  // namespace

void check_unit_dictionary(Eigen::Ref<const Eigen::MatrixXf> dictionary, const char* where) {
  if (dictionary.rows() < 1 || dictionary.cols() < 1)
    bad_input(where, "is empty ({}×{})", dictionary.rows(), dictionary.cols());
  if (dictionary.cols() > kMaxAtoms)
    bad_input(where, "{} atoms exceed the {} that uint16 indices address", dictionary.cols(), kMaxAtoms);
  if (!dictionary.allFinite()) bad_input(where, "holds a non-finite value");
  for (Eigen::Index a = 0; a < dictionary.cols(); ++a) {
    const float norm = dictionary.col(a).norm();
    if (std::abs(norm - 1.0f) > kUnitNormTolerance)
      bad_input(where, "atom {} has norm {}, not 1 (within {})", a, norm, kUnitNormTolerance);
  }
}

OmpEncoder::OmpEncoder(Eigen::Ref<const Eigen::MatrixXf> dictionary) : dictionary_(dictionary) {
  check_unit_dictionary(dictionary_);
  gram_.setZero(padded(n_atoms()), n_atoms());
  gram_.topRows(n_atoms()).noalias() = dictionary_.transpose() * dictionary_;
  gram_diagonal_ = gram_.topRows(n_atoms()).diagonal();
}

SparseCoefs OmpEncoder::encode(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                               const OmpOptions& options) const {
  check_options(options, dim(), n_atoms());
  if (vectors.rows() != dim())
    bad_input("omp", "vectors have length {}, the dictionary's atoms {}", vectors.rows(), dim());
  const int64_t n_vectors = vectors.cols();
  const int s = options.sparsity, n_padded = int(gram_.rows());
  if (n_vectors * s > int64_t(UINT32_MAX))
    usage_error("omp", "{} vectors × {} atoms overflow 32-bit row offsets; encode in smaller batches", n_vectors, s);
  std::vector<uint16_t> slot_indices(size_t(n_vectors) * s);
  std::vector<float> slot_values(size_t(n_vectors) * s);
  std::vector<int> counts(n_vectors);
  std::atomic<int64_t> non_finite{-1};

  const int64_t n_blocks = (n_vectors + kVectorBlock - 1) / kVectorBlock;
  const int threads = int(std::min<int64_t>(options.threads > 0 ? options.threads : omp_get_max_threads(),
                                            std::max<int64_t>(n_blocks, 1)));
  const Tables tables{dictionary_, gram_, gram_diagonal_};
#pragma omp parallel num_threads(threads)
  {
    Scratch scratch(n_padded, s, int(std::min<int64_t>(kVectorBlock, n_vectors)));
    for (int a = n_atoms(); a < n_padded; ++a)  // padding is never picked
      scratch.excluded[a / kLanes] |= uint16_t(1u << (a % kLanes));
#pragma omp for schedule(dynamic, 1)
    for (int64_t block = 0; block < n_blocks; ++block) {
      const int64_t first = block * kVectorBlock;
      const int count = int(std::min<int64_t>(kVectorBlock, n_vectors - first));
      const auto x = vectors.middleCols(first, count);
      scratch.alpha0.topLeftCorner(n_atoms(), count).noalias() = dictionary_.transpose() * x;
      for (int i = 0; i < count; ++i) {
        const int64_t v = first + i;
        const double norm_sq = x.col(i).cast<double>().squaredNorm();
        if (!std::isfinite(norm_sq)) {
          non_finite.store(v);
          continue;
        }
        counts[v] = pursue(tables, x.col(i).data(), scratch.alpha0.col(i).data(), norm_sq, options, scratch,
                           &slot_indices[size_t(v) * s], &slot_values[size_t(v) * s]);
      }
    }
  }
  if (non_finite.load() >= 0) bad_input("omp", "vector {} holds a non-finite value", non_finite.load());

  SparseCoefs coefs;
  coefs.dim = dim();
  coefs.n_atoms = n_atoms();
  coefs.row_ptr.reserve(n_vectors + 1);
  for (int64_t v = 0; v < n_vectors; ++v) coefs.row_ptr.push_back(coefs.row_ptr.back() + counts[v]);
  coefs.indices.resize(coefs.row_ptr.back());
  coefs.values.resize(coefs.row_ptr.back());
  for (int64_t v = 0; v < n_vectors; ++v) {
    std::copy_n(&slot_indices[size_t(v) * s], counts[v], &coefs.indices[coefs.row_ptr[v]]);
    std::copy_n(&slot_values[size_t(v) * s], counts[v], &coefs.values[coefs.row_ptr[v]]);
  }
  return coefs;
}

SparseCoefs OmpEncoder::encode(const float* vectors, int64_t n_vectors, int64_t stride,
                               const OmpOptions& options) const {
  if (stride < dim()) usage_error("omp", "stride {} is shorter than the vector length {}", stride, dim());
  return encode(Eigen::Map<const Eigen::MatrixXf, 0, Eigen::OuterStride<>>(vectors, dim(), n_vectors,
                                                                          Eigen::OuterStride<>(stride)),
                options);
}

SparseCodes OmpEncoder::encode_fp8(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                                   const OmpOptions& options) const {
  return quantize_fp8(encode(vectors, options));
}

}  // namespace lexico
