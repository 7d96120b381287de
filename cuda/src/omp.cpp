#include "lexico/cuda/omp.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include <cuda_fp16.h>

#include "lexico/error.h"
#include "lexico/cuda/device.h"
#include "omp_kernel.cuh"

namespace lexico::cuda {

using omp_detail::LaunchArgs;
using omp_detail::Tile;

namespace {

constexpr int64_t kMaxChunkVectors = int64_t(1) << 20;  // host calls run in pieces of this many

int padded_dim(int dim) { return dim <= 64 ? 64 : 128; }
int max_sparsity_tier(int s) { return s <= 16 ? 16 : 32; }

// Same checks and messages as lib/sparse/omp.cpp's check_options.
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

struct GpuOmpEncoder::Impl {
  int dim = 0, n_atoms = 0, n_pad = 0, n_dicts = 0, pdim = 0;
  float e_max = 0.0f, dn_max = 0.0f;
  DeviceBuffer<__half> dict_half;
  DeviceBuffer<float> dict_float;
  // Per-call buffers, grown as needed.
  mutable DeviceBuffer<float> x;
  mutable DeviceBuffer<int32_t> counts;
  mutable DeviceBuffer<uint16_t> indices;
  mutable DeviceBuffer<float> values;
  mutable DeviceBuffer<float> r_scratch;
  mutable DeviceBuffer<double> b_scratch, g_scratch;
  mutable DeviceBuffer<Tile> tiles;
  mutable std::vector<Tile> tiles_host;
  mutable DeviceBuffer<unsigned long long> counters{4, "omp counters"};
  DeviceBuffer<unsigned> bounds{2, "GPU OMP rounding bounds"};  // update_dictionary's
  mutable GpuOmpStats stats;
  mutable bool stats_pending = false;
  bool split_tiles = true;
  cudaEvent_t start = nullptr, stop = nullptr;

  explicit Impl(const std::vector<Eigen::MatrixXf>& dictionaries) {
    require_gpu("GPU OMP");
    if (dictionaries.empty()) bad_input("omp dictionary", "no dictionary given");
    for (const auto& d : dictionaries) {
      check_unit_dictionary(d);
      if (d.rows() != dictionaries[0].rows() || d.cols() != dictionaries[0].cols())
        bad_input("omp dictionary", "dictionaries differ in shape ({}×{} and {}×{})", dictionaries[0].rows(),
                  dictionaries[0].cols(), d.rows(), d.cols());
    }
    dim = int(dictionaries[0].rows());
    n_atoms = int(dictionaries[0].cols());
    n_dicts = int(dictionaries.size());
    if (dim > kGpuOmpMaxDim)
      throw Error(ErrorKind::Internal, "cuda",
                  fmt::format("GPU OMP handles vectors of length up to {}, not {}", kGpuOmpMaxDim, dim));
    pdim = padded_dim(dim);
    n_pad = (n_atoms + omp_detail::kChunkAtoms - 1) / omp_detail::kChunkAtoms * omp_detail::kChunkAtoms;
    const size_t per = size_t(n_pad) * pdim;
    std::vector<__half> h(per * n_dicts, __float2half_rn(0.0f));
    std::vector<float> f(per * n_dicts, 0.0f);
    double e_max_d = 0.0, dn_max_d = 0.0;
    for (int k = 0; k < n_dicts; ++k) {
      const auto& d = dictionaries[k];
      for (int j = 0; j < n_atoms; ++j) {
        double err2 = 0.0, n2 = 0.0;
        for (int e = 0; e < dim; ++e) {
          const float value = d(e, j);
          const __half hv = __float2half_rn(value);
          const double back = double(__half2float(hv));
          h[k * per + size_t(j) * pdim + e] = hv;
          f[k * per + size_t(j) * pdim + e] = value;
          err2 += (back - value) * (back - value);
          n2 += back * back;
        }
        e_max_d = std::max(e_max_d, std::sqrt(err2));
        dn_max_d = std::max(dn_max_d, std::sqrt(n2));
      }
    }
    e_max = float(e_max_d) * 1.001f;
    dn_max = float(dn_max_d) * 1.001f;
    dict_half.resize(h.size(), "GPU OMP dictionaries (FP16)");
    dict_float.resize(f.size(), "GPU OMP dictionaries (float)");
    LEXICO_CUDA_CHECK(cudaMemcpy(dict_half.data(), h.data(), h.size() * sizeof(__half), cudaMemcpyHostToDevice));
    LEXICO_CUDA_CHECK(cudaMemcpy(dict_float.data(), f.data(), f.size() * sizeof(float), cudaMemcpyHostToDevice));
    LEXICO_CUDA_CHECK(cudaEventCreate(&start));
    LEXICO_CUDA_CHECK(cudaEventCreate(&stop));
  }
  ~Impl() {
    if (start) cudaEventDestroy(start);
    if (stop) cudaEventDestroy(stop);
  }

  void check_supported(const OmpOptions& options) const {
    check_options(options, dim, n_atoms);
    const std::string why = unsupported_reason(dim, n_atoms, options);
    if (!why.empty()) throw Error(ErrorKind::Internal, "cuda", why);
  }

  // Vectors per tile: 64, or fewer so that the tiles fill every resident
  // block slot in each round (the per-vector work dominates a block's time).
  int tile_size(int64_t n, const OmpOptions& options) const {
    const int64_t slots = omp_detail::omp_max_grid(pdim, max_sparsity_tier(options.sparsity), false);
    const int64_t full = (n + omp_detail::kTileVectors - 1) / omp_detail::kTileVectors;
    const int64_t rounds = std::max<int64_t>(1, (full + slots - 1) / slots);
    const int64_t size = (n + rounds * slots - 1) / (rounds * slots);
    return int(std::clamp<int64_t>(size, 16, omp_detail::kTileVectors));
  }

  // Tiles of ≤ tile vectors, one dictionary each, from group offsets.
  void set_tiles(const std::vector<int64_t>& group_begin, int64_t n, cudaStream_t stream,
                 int tile = omp_detail::kTileVectors) const {
    if (int(group_begin.size()) != n_dicts + 1 || group_begin.front() != 0 || group_begin.back() != n)
      usage_error("omp", "group offsets must have {} entries from 0 to the vector count {}", n_dicts + 1, n);
    std::vector<Tile> t;
    for (int d = 0; d < n_dicts; ++d) {
      if (group_begin[d + 1] < group_begin[d]) usage_error("omp", "group offsets decrease at dictionary {}", d);
      for (int64_t first = group_begin[d]; first < group_begin[d + 1]; first += tile)
        t.push_back({d, int(first), int(std::min<int64_t>(tile, group_begin[d + 1] - first)), 0});
    }
    const bool same = t.size() == tiles_host.size() &&
                      std::equal(t.begin(), t.end(), tiles_host.begin(), [](const Tile& a, const Tile& b) {
                        return a.dictionary == b.dictionary && a.first == b.first && a.count == b.count;
                      });
    if (same) return;
    tiles_host = std::move(t);
    tiles.reserve(std::max<size_t>(tiles_host.size(), 1), "GPU OMP tiles");
    if (!tiles_host.empty())
      LEXICO_CUDA_CHECK(cudaMemcpyAsync(tiles.data(), tiles_host.data(), tiles_host.size() * sizeof(Tile),
                                        cudaMemcpyHostToDevice, stream));
  }

  // Launches the pursuit over the current tiles (d_x: n rows of `stride`).
  void launch(const float* d_x, int64_t n, int64_t stride, const OmpOptions& options, DeviceSlots out,
              cudaStream_t stream) const {
    if (n > INT32_MAX) usage_error("omp", "{} vectors in one call exceed the {} a call handles", n, INT32_MAX);
    LaunchArgs a;
    a.padded_dim = pdim;
    a.max_sparsity = max_sparsity_tier(options.sparsity);
    a.dict_half = dict_half.data();
    a.dict_float = dict_float.data();
    a.dim = dim;
    a.n_atoms = n_atoms;
    a.n_pad = n_pad;
    a.tiles = tiles.data();
    a.n_tiles = int(tiles_host.size());
    // Few small tiles (e.g. the per-token step, 8 vectors a dictionary):
    // 16-column blocks, one per SM, with a deeper pipeline — streaming D, not
    // the tensor cores, limits them.
    int largest = 0;
    for (const Tile& t : tiles_host) largest = std::max(largest, t.count);
    a.small_tiles = largest <= omp_detail::kSmallTileVectors && a.n_tiles <= 2 * device_info().sm_count;
    a.grid = std::min(a.n_tiles, omp_detail::omp_max_grid(a.padded_dim, a.max_sparsity, a.small_tiles));
    // Fewer small tiles than half the SMs leave SMs idle: two blocks (a
    // cluster) then share each tile's atoms, halving the stream of D per block.
    if (split_tiles && a.small_tiles && 2 * a.n_tiles <= device_info().sm_count &&
        n_pad / omp_detail::kChunkAtoms >= 2 && omp_detail::omp_split_available(a.padded_dim, a.max_sparsity)) {
      a.split = 2;
      a.grid = 2 * a.n_tiles;
    }
    a.x = d_x;
    a.x_stride = stride;
    a.sparsity = options.sparsity;
    a.tolerance = options.tolerance;
    a.e_max = e_max;
    a.dn_max = dn_max;
    a.acc_tol = float(a.padded_dim) * 2.4e-7f;  // M·2^-22: f32 accumulation, with margin
    a.counts = out.counts;
    a.indices = out.indices;
    a.values = out.values;
    a.fp8 = out.fp8;
    a.n_vectors = n;
    a.fp8_refit = options.fp8_refit;
    const size_t slots = size_t(std::max(a.grid, 1)) * omp_detail::kTileVectors;
    r_scratch.reserve(slots * a.padded_dim, "GPU OMP residuals");
    b_scratch.reserve(slots * a.max_sparsity * a.max_sparsity, "GPU OMP Cholesky factors");
    g_scratch.reserve(slots * a.max_sparsity, "GPU OMP coefficients");
    a.r_scratch = r_scratch.data();
    a.b_scratch = b_scratch.data();
    a.g_scratch = g_scratch.data();
    a.counters = counters.data();
    // Counters 0, 0 and ~0 by memsets: a copy from pageable host memory would
    // make the host wait for the stream (and, on a cache's side stream, for
    // the main stream's whole step) before it could launch anything more.
    LEXICO_CUDA_CHECK(cudaMemsetAsync(counters.data(), 0, 2 * sizeof(unsigned long long), stream));
    LEXICO_CUDA_CHECK(cudaMemsetAsync(counters.data() + 2, 0xFF, sizeof(unsigned long long), stream));
    LEXICO_CUDA_CHECK(cudaMemsetAsync(counters.data() + 3, 0, sizeof(unsigned long long), stream));
    LEXICO_CUDA_CHECK(cudaEventRecord(start, stream));
    omp_detail::launch_omp(a, stream);
    if (options.fp8_refit) {
      if (!out.counts || !out.indices || !out.values)
        usage_error("omp", "fp8_refit needs the counts, indices and values outputs");
      omp_detail::launch_refit(a, stream);
    }
    LEXICO_CUDA_CHECK(cudaEventRecord(stop, stream));
    stats_pending = true;
    stats.blocks_per_tile = a.split;
  }

  void collect_stats() const {
    if (!stats_pending) return;
    LEXICO_CUDA_CHECK(cudaEventSynchronize(stop));
    unsigned long long c[4];
    LEXICO_CUDA_CHECK(cudaMemcpy(c, counters.data(), sizeof(c), cudaMemcpyDeviceToHost));
    float ms = 0.0f;
    LEXICO_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
    stats.vector_steps = int64_t(c[0]);
    stats.exact_scans = int64_t(c[1]);
    stats.list_rescans = int64_t(c[3]);
    stats.kernel_ms = ms;
    stats_pending = false;
  }

  int64_t bad_vector() const {
    unsigned long long c = 0;
    LEXICO_CUDA_CHECK(cudaMemcpy(&c, counters.data() + 2, sizeof(c), cudaMemcpyDeviceToHost));
    return c == ~0ull ? -1 : int64_t(c);
  }

  // Host path for n vectors of one dictionary (or grouped rows), in pieces.
  SparseCoefs encode_host(const float* vectors, int64_t n, int64_t stride, const OmpOptions& options,
                          int dictionary) const {
    check_supported(options);
    if (stride < dim) usage_error("omp", "stride {} is shorter than the vector length {}", stride, dim);
    if (dictionary < 0 || dictionary >= n_dicts)
      usage_error("omp", "dictionary {} is outside 0..{}", dictionary, n_dicts - 1);
    const int s = options.sparsity;
    SparseCoefs coefs;
    coefs.dim = dim;
    coefs.n_atoms = n_atoms;
    coefs.row_ptr.reserve(n + 1);
    GpuOmpStats total;
    for (int64_t first = 0; first < n; first += kMaxChunkVectors) {
      const int64_t count = std::min(kMaxChunkVectors, n - first);
      x.reserve(size_t(count) * dim, "GPU OMP input vectors");
      counts.reserve(count, "GPU OMP counts");
      indices.reserve(size_t(count) * s, "GPU OMP indices");
      values.reserve(size_t(count) * s, "GPU OMP values");
      LEXICO_CUDA_CHECK(cudaMemcpy2D(x.data(), dim * sizeof(float), vectors + first * stride, stride * sizeof(float),
                                     dim * sizeof(float), count, cudaMemcpyHostToDevice));
      std::vector<int64_t> groups(n_dicts + 1, 0);
      for (int d = dictionary + 1; d <= n_dicts; ++d) groups[d] = count;
      set_tiles(groups, count, nullptr, tile_size(count, options));
      launch(x.data(), count, dim, options, DeviceSlots{counts.data(), indices.data(), values.data(), nullptr},
             nullptr);
      LEXICO_CUDA_CHECK(cudaDeviceSynchronize());
      const int64_t bad = bad_vector();
      if (bad >= 0) bad_input("omp", "vector {} holds a non-finite value", first + bad);
      collect_stats();
      total.vector_steps += stats.vector_steps;
      total.exact_scans += stats.exact_scans;
      total.list_rescans += stats.list_rescans;
      total.kernel_ms += stats.kernel_ms;
      total.blocks_per_tile = std::max(total.blocks_per_tile, stats.blocks_per_tile);
      std::vector<int32_t> c(count);
      std::vector<uint16_t> idx(size_t(count) * s);
      std::vector<float> val(size_t(count) * s);
      LEXICO_CUDA_CHECK(cudaMemcpy(c.data(), counts.data(), c.size() * sizeof(int32_t), cudaMemcpyDeviceToHost));
      LEXICO_CUDA_CHECK(cudaMemcpy(idx.data(), indices.data(), idx.size() * sizeof(uint16_t), cudaMemcpyDeviceToHost));
      LEXICO_CUDA_CHECK(cudaMemcpy(val.data(), values.data(), val.size() * sizeof(float), cudaMemcpyDeviceToHost));
      for (int64_t v = 0; v < count; ++v) {
        coefs.row_ptr.push_back(coefs.row_ptr.back() + uint32_t(c[v]));
        coefs.indices.insert(coefs.indices.end(), idx.begin() + v * s, idx.begin() + v * s + c[v]);
        coefs.values.insert(coefs.values.end(), val.begin() + v * s, val.begin() + v * s + c[v]);
      }
    }
    stats = total;
    return coefs;
  }
};

GpuOmpEncoder::GpuOmpEncoder(Eigen::Ref<const Eigen::MatrixXf> dictionary)
    : impl_(std::make_unique<Impl>(std::vector<Eigen::MatrixXf>{Eigen::MatrixXf(dictionary)})) {}
GpuOmpEncoder::GpuOmpEncoder(const std::vector<Eigen::MatrixXf>& dictionaries)
    : impl_(std::make_unique<Impl>(dictionaries)) {}
GpuOmpEncoder::~GpuOmpEncoder() = default;
GpuOmpEncoder::GpuOmpEncoder(GpuOmpEncoder&&) noexcept = default;
GpuOmpEncoder& GpuOmpEncoder::operator=(GpuOmpEncoder&&) noexcept = default;

int GpuOmpEncoder::dim() const { return impl_->dim; }
int GpuOmpEncoder::n_atoms() const { return impl_->n_atoms; }
int GpuOmpEncoder::n_dictionaries() const { return impl_->n_dicts; }
size_t GpuOmpEncoder::device_bytes() const { return impl_->dict_half.bytes() + impl_->dict_float.bytes(); }
int GpuOmpEncoder::atom_stride() const { return impl_->pdim; }
const uint16_t* GpuOmpEncoder::device_atoms_fp16(int dictionary) const {
  if (dictionary < 0 || dictionary >= impl_->n_dicts)
    usage_error("omp", "dictionary {} is outside 0..{}", dictionary, impl_->n_dicts - 1);
  const __half* atoms = impl_->dict_half.data() + size_t(dictionary) * impl_->n_pad * impl_->pdim;
  return reinterpret_cast<const uint16_t*>(atoms);
}

std::string GpuOmpEncoder::unsupported_reason(int dim, int n_atoms, const OmpOptions& options) {
  if (dim > kGpuOmpMaxDim)
    return fmt::format("GPU OMP handles vectors of length up to {}, not {}", kGpuOmpMaxDim, dim);
  if (n_atoms > kMaxAtoms) return fmt::format("GPU OMP handles up to {} atoms, not {}", kMaxAtoms, n_atoms);
  if (options.sparsity > kGpuOmpMaxSparsity)
    return fmt::format("GPU OMP handles sparsity up to {}, not {}", kGpuOmpMaxSparsity, options.sparsity);
  return {};
}

SparseCoefs GpuOmpEncoder::encode(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                                  const OmpOptions& options, int dictionary) const {
  check_options(options, dim(), n_atoms());
  if (vectors.rows() != dim())
    bad_input("omp", "vectors have length {}, the dictionary's atoms {}", vectors.rows(), dim());
  return impl_->encode_host(vectors.data(), vectors.cols(), vectors.outerStride(), options, dictionary);
}

SparseCoefs GpuOmpEncoder::encode(const float* vectors, int64_t n_vectors, int64_t stride, const OmpOptions& options,
                                  int dictionary) const {
  check_options(options, dim(), n_atoms());
  if (stride < dim()) usage_error("omp", "stride {} is shorter than the vector length {}", stride, dim());
  return impl_->encode_host(vectors, n_vectors, stride, options, dictionary);
}

SparseCodes GpuOmpEncoder::encode_fp8(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                                      const OmpOptions& options, int dictionary) const {
  return quantize_fp8(encode(vectors, options, dictionary));
}

SparseCoefs GpuOmpEncoder::encode_multi(Eigen::Ref<const Eigen::MatrixXf, 0, Eigen::OuterStride<>> vectors,
                                        const std::vector<int>& dictionary_of, const OmpOptions& options) const {
  check_options(options, dim(), n_atoms());
  if (vectors.rows() != dim())
    bad_input("omp", "vectors have length {}, the dictionary's atoms {}", vectors.rows(), dim());
  const int64_t n = vectors.cols();
  if (int64_t(dictionary_of.size()) != n)
    usage_error("omp", "{} dictionary choices for {} vectors", dictionary_of.size(), n);
  for (int64_t v = 0; v < n; ++v)
    if (dictionary_of[v] < 0 || dictionary_of[v] >= n_dictionaries())
      usage_error("omp", "vector {} names dictionary {}, outside 0..{}", v, dictionary_of[v], n_dictionaries() - 1);
  impl_->check_supported(options);
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return dictionary_of[a] < dictionary_of[b]; });
  std::vector<int64_t> groups(n_dictionaries() + 1, 0);
  for (int64_t v = 0; v < n; ++v) ++groups[dictionary_of[v] + 1];
  std::partial_sum(groups.begin(), groups.end(), groups.begin());
  const int m = dim(), s = options.sparsity;
  std::vector<float> sorted(size_t(n) * m);
  for (int64_t p = 0; p < n; ++p)
    std::copy_n(vectors.col(order[p]).data(), m, &sorted[size_t(p) * m]);
  Impl& I = *impl_;
  I.x.reserve(sorted.size(), "GPU OMP input vectors");
  I.counts.reserve(std::max<int64_t>(n, 1), "GPU OMP counts");
  I.indices.reserve(std::max<size_t>(size_t(n) * s, 1), "GPU OMP indices");
  I.values.reserve(std::max<size_t>(size_t(n) * s, 1), "GPU OMP values");
  if (n > 0)
    LEXICO_CUDA_CHECK(cudaMemcpy(I.x.data(), sorted.data(), sorted.size() * sizeof(float), cudaMemcpyHostToDevice));
  I.set_tiles(groups, n, nullptr);
  I.launch(I.x.data(), n, m, options, DeviceSlots{I.counts.data(), I.indices.data(), I.values.data(), nullptr},
           nullptr);
  LEXICO_CUDA_CHECK(cudaDeviceSynchronize());
  const int64_t bad = I.bad_vector();
  if (bad >= 0) bad_input("omp", "vector {} holds a non-finite value", order[bad]);
  I.collect_stats();
  std::vector<int32_t> c(n);
  std::vector<uint16_t> idx(size_t(n) * s);
  std::vector<float> val(size_t(n) * s);
  if (n > 0) {
    LEXICO_CUDA_CHECK(cudaMemcpy(c.data(), I.counts.data(), c.size() * sizeof(int32_t), cudaMemcpyDeviceToHost));
    LEXICO_CUDA_CHECK(cudaMemcpy(idx.data(), I.indices.data(), idx.size() * sizeof(uint16_t), cudaMemcpyDeviceToHost));
    LEXICO_CUDA_CHECK(cudaMemcpy(val.data(), I.values.data(), val.size() * sizeof(float), cudaMemcpyDeviceToHost));
  }
  std::vector<int64_t> position(n);
  for (int64_t p = 0; p < n; ++p) position[order[p]] = p;
  SparseCoefs coefs;
  coefs.dim = m;
  coefs.n_atoms = n_atoms();
  for (int64_t v = 0; v < n; ++v) {
    const int64_t p = position[v];
    coefs.row_ptr.push_back(coefs.row_ptr.back() + uint32_t(c[p]));
    coefs.indices.insert(coefs.indices.end(), idx.begin() + p * s, idx.begin() + p * s + c[p]);
    coefs.values.insert(coefs.values.end(), val.begin() + p * s, val.begin() + p * s + c[p]);
  }
  return coefs;
}

void GpuOmpEncoder::encode_device(const float* d_vectors, int64_t n_vectors, int64_t stride,
                                  const std::vector<int64_t>& group_begin, const OmpOptions& options, DeviceSlots out,
                                  cudaStream_t stream) const {
  check_options(options, dim(), n_atoms());
  impl_->check_supported(options);
  if (stride < dim()) usage_error("omp", "stride {} is shorter than the vector length {}", stride, dim());
  int non_empty = 0;
  for (size_t d = 0; d + 1 < group_begin.size(); ++d) non_empty += group_begin[d + 1] > group_begin[d];
  impl_->set_tiles(group_begin, n_vectors, stream,
                   non_empty == 1 ? impl_->tile_size(n_vectors, options) : omp_detail::kTileVectors);
  if (n_vectors == 0) return;
  impl_->launch(d_vectors, n_vectors, stride, options, out, stream);
}

int64_t GpuOmpEncoder::encode_device_errors(cudaStream_t stream) const {
  LEXICO_CUDA_CHECK(cudaStreamSynchronize(stream));
  return impl_->bad_vector();
}

void GpuOmpEncoder::update_dictionary(const float* d_columns, cudaStream_t stream, int dictionary) {
  Impl& I = *impl_;
  if (dictionary < 0 || dictionary >= I.n_dicts)
    usage_error("omp", "dictionary {} is outside 0..{}", dictionary, I.n_dicts - 1);
  LEXICO_CUDA_CHECK(cudaMemsetAsync(I.bounds.data(), 0, 2 * sizeof(unsigned), stream));
  omp_detail::launch_pack_dictionary(d_columns, I.dim, I.n_atoms, I.pdim, I.n_pad, dictionary, I.dict_half.data(),
                                     I.dict_float.data(), I.bounds.data(), stream);
  float b[2];
  LEXICO_CUDA_CHECK(cudaMemcpyAsync(b, I.bounds.data(), sizeof b, cudaMemcpyDeviceToHost, stream));
  LEXICO_CUDA_CHECK(cudaStreamSynchronize(stream));
  // The bounds hold for every dictionary of the encoder: never lower them
  // while others still need them, unless this is the only one.
  I.e_max = I.n_dicts == 1 ? b[0] * 1.001f : std::max(I.e_max, b[0] * 1.001f);
  I.dn_max = I.n_dicts == 1 ? b[1] * 1.001f : std::max(I.dn_max, b[1] * 1.001f);
}

void GpuOmpEncoder::set_split_tiles(bool allowed) { impl_->split_tiles = allowed; }

const GpuOmpStats& GpuOmpEncoder::last_stats() const {
  impl_->collect_stats();
  return impl_->stats;
}

}  // namespace lexico::cuda
