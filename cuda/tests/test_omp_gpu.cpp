// GPU Batch-OMP against the CPU reference (lib/sparse/omp.cpp).
//
// Tolerances (docs/cuda.md): the supports (atoms, in selection order) must be
// identical for ≥ 97% of the vectors — a near-tie between two correlations
// (within float rounding, ~1e-6 relative) can break either way, and OMP then
// follows another, equally valid path; where the supports agree, the
// coefficients agree to 1e-4 relative (‖γ_gpu − γ_cpu‖ ≤ 1e-4‖γ_cpu‖).
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <functional>
#include <limits>
#include <vector>

#include "gpu_test.h"
#include "lexico/cuda/omp.h"
#include "lexico/cuda/select.h"
#include "lexico/error.h"
#include "lexico/fp8.h"
#include "lexico/half.h"
#include "lexico/omp.h"
#include "lexico/recon.h"

using namespace lexico;
using namespace lexico::cuda;
using namespace lexico::cuda::test;

namespace lexico::cuda::omp_detail {
void fp8_encode_on_device(const float* host_in, uint8_t* host_out, size_t n);
}

namespace {

struct Agreement {
  size_t rows = 0, same_support = 0, same_count = 0;
  double worst_coef_rel = 0.0;  // over rows with the same support
  double mean_rre_cpu = 0.0, mean_rre_gpu = 0.0;
  std::string first_mismatches;  // a few differing rows, for diagnosis
};

std::string describe_row(const SparseCoefs& c, size_t r) {
  std::string out;
  for (uint32_t k = c.row_ptr[r]; k < c.row_ptr[r + 1]; ++k)
    out += std::to_string(c.indices[k]) + ":" + std::to_string(c.values[k]) + " ";
  return out;
}

Agreement compare(const Eigen::MatrixXf& d, const Eigen::MatrixXf& x, const SparseCoefs& cpu, const SparseCoefs& gpu) {
  Agreement a;
  REQUIRE(cpu.rows() == gpu.rows());
  a.rows = cpu.rows();
  for (size_t r = 0; r < cpu.rows(); ++r) {
    const uint32_t n = cpu.row_nnz(r);
    if (n == gpu.row_nnz(r)) ++a.same_count;
    bool same = n == gpu.row_nnz(r);
    for (uint32_t k = 0; same && k < n; ++k) same &= cpu.indices[cpu.row_ptr[r] + k] == gpu.indices[gpu.row_ptr[r] + k];
    if (!same) {
      if (a.first_mismatches.size() < 1500)
        a.first_mismatches += "\n  row " + std::to_string(r) + " cpu: " + describe_row(cpu, r) +
                              "\n  row " + std::to_string(r) + " gpu: " + describe_row(gpu, r);
      continue;
    }
    ++a.same_support;
    double diff = 0.0, norm = 0.0;
    for (uint32_t k = 0; k < n; ++k) {
      const double c = cpu.values[cpu.row_ptr[r] + k], g = gpu.values[gpu.row_ptr[r] + k];
      diff += (c - g) * (c - g);
      norm += c * c;
    }
    if (norm > 0) a.worst_coef_rel = std::max(a.worst_coef_rel, std::sqrt(diff / norm));
  }
  const std::vector<double> e_cpu = relative_errors(x, reconstruct(d, cpu));
  const std::vector<double> e_gpu = relative_errors(x, reconstruct(d, gpu));
  for (size_t r = 0; r < e_cpu.size(); ++r) {
    a.mean_rre_cpu += e_cpu[r] / e_cpu.size();
    a.mean_rre_gpu += e_gpu[r] / e_gpu.size();
  }
  return a;
}

void check_agreement(const Agreement& a, double min_fraction = 0.97, double coef_tolerance = 1e-4) {
  const double fraction = double(a.same_support) / double(a.rows);
  MESSAGE("identical supports " << a.same_support << "/" << a.rows << " (" << 100.0 * fraction
                                << "%), worst coefficient difference " << a.worst_coef_rel << ", mean RRE cpu "
                                << a.mean_rre_cpu << " gpu " << a.mean_rre_gpu);
  if (fraction < 0.999) MESSAGE("first differing rows:" << a.first_mismatches);
  CHECK(fraction >= min_fraction);
  CHECK(a.worst_coef_rel <= coef_tolerance);
  CHECK(a.mean_rre_gpu <= a.mean_rre_cpu + 1e-3 * std::max(1.0, a.mean_rre_cpu));
}

}  // namespace

TEST_CASE("FP8 encode on the device is bit-exact with the CPU's") {
  LEXICO_REQUIRE_GPU();
  std::vector<float> in;
  for (uint64_t bits = 0; bits <= 0xFFFFFFFFull; bits += 4093) in.push_back(std::bit_cast<float>(uint32_t(bits)));
  for (int c = 0; c < 256; ++c) {  // every code, and the midpoints between neighbours (ties)
    const float v = fp8_e4m3_value(uint8_t(c));
    in.push_back(v);
    const float next = fp8_e4m3_value(uint8_t(c + 1 < 256 ? c + 1 : c));
    if (std::isfinite(v) && std::isfinite(next)) in.push_back(0.5f * (v + next));
  }
  for (float v : {0.0f, -0.0f, 448.0f, 464.0f, 1e30f, -1e30f, std::numeric_limits<float>::infinity(),
                  std::numeric_limits<float>::quiet_NaN(), 0x1p-10f, 0x1p-9f, 0x1.8p-10f})
    in.push_back(v);
  std::vector<uint8_t> gpu(in.size());
  omp_detail::fp8_encode_on_device(in.data(), gpu.data(), in.size());
  size_t mismatches = 0;
  for (size_t i = 0; i < in.size(); ++i) mismatches += gpu[i] != fp8_e4m3_encode(in[i]);
  MESSAGE(in.size() << " values compared");
  CHECK(mismatches == 0);
}

TEST_CASE("GPU OMP matches the CPU Batch-OMP (fixed s)") {
  LEXICO_REQUIRE_GPU();
  struct Case {
    int m, n_atoms, s, vectors;
  };
  int64_t rescans = 0;
  for (const Case c : {Case{128, 4096, 16, 3000}, Case{64, 4096, 8, 3000}, Case{128, 1000, 32, 1500},
                       Case{48, 300, 5, 1000}, Case{100, 2000, 20, 700}}) {
    CAPTURE(c.m);
    CAPTURE(c.n_atoms);
    CAPTURE(c.s);
    const Eigen::MatrixXf d = random_dictionary(c.m, c.n_atoms, 11 + c.m + c.s);
    const Eigen::MatrixXf x = mixed_vectors(d, c.vectors, c.s / 2 + 1, 7 + c.n_atoms);
    OmpOptions options;
    options.sparsity = c.s;
    const OmpEncoder cpu(d);
    const GpuOmpEncoder gpu(d);
    const SparseCoefs want = cpu.encode(x, options);
    const SparseCoefs got = gpu.encode(x, options);
    const GpuOmpStats& st = gpu.last_stats();
    MESSAGE("(m, N, s) = (" << c.m << ", " << c.n_atoms << ", " << c.s << "): " << st.exact_scans << " exact scans and "
                            << st.list_rescans << " lists rescored in " << st.vector_steps << " steps");
    rescans += st.list_rescans;
    CHECK(got.dim == c.m);
    CHECK(got.n_atoms == c.n_atoms);
    check_structure(got, "gpu");
    check_agreement(compare(d, x, want, got));
  }
  CHECK(rescans > 0);  // the near-tie path inside one short list ran and agreed with the CPU
}

TEST_CASE("GPU OMP matches the CPU with a tolerance target") {
  LEXICO_REQUIRE_GPU();
  const Eigen::MatrixXf d = random_dictionary(128, 2048, 5);
  const Eigen::MatrixXf x = mixed_vectors(d, 2000, 6, 6);
  OmpOptions options;
  options.sparsity = 32;
  options.tolerance = 0.3f;
  const SparseCoefs want = OmpEncoder(d).encode(x, options);
  const SparseCoefs got = GpuOmpEncoder(d).encode(x, options);
  const Agreement a = compare(d, x, want, got);
  check_agreement(a);
  CHECK(double(a.same_count) / a.rows >= 0.97);
  const std::vector<double> errors = relative_errors(x, reconstruct(d, got));
  size_t over = 0;
  for (size_t r = 0; r < errors.size(); ++r)
    if (got.row_nnz(r) < 32 && errors[r] > 0.3 + 1e-4) ++over;
  CHECK(over == 0);
}

TEST_CASE("GPU OMP: degenerate inputs behave as on the CPU") {
  LEXICO_REQUIRE_GPU();
  Eigen::MatrixXf d = random_dictionary(64, 256, 3);
  d.col(17) = d.col(5);  // a duplicated atom: the pivot test must refuse the copy
  const OmpEncoder cpu(d);
  const GpuOmpEncoder gpu(d);
  Eigen::MatrixXf x = random_vectors(64, 6, 4);
  x.col(0).setZero();                       // empty code
  x.col(1) = 3.0f * d.col(9);               // one atom
  x.col(2) = d.col(5) - 0.5f * d.col(200);  // the duplicated atom in the mix
  OmpOptions options;
  options.sparsity = 12;
  const SparseCoefs want = cpu.encode(x, options);
  const SparseCoefs got = gpu.encode(x, options);
  CHECK(got.row_nnz(0) == 0);
  CHECK(got.row_nnz(1) == want.row_nnz(1));
  REQUIRE(got.row_nnz(1) >= 1);
  CHECK(got.indices[got.row_ptr[1]] == 9);
  CHECK(got.values[got.row_ptr[1]] == doctest::Approx(3.0f).epsilon(1e-5));
  for (size_t r = 0; r < got.rows(); ++r) {
    std::vector<uint16_t> idx(got.indices.begin() + got.row_ptr[r], got.indices.begin() + got.row_ptr[r + 1]);
    const bool both = std::count(idx.begin(), idx.end(), 5) && std::count(idx.begin(), idx.end(), 17);
    CHECK_FALSE(both);
  }
  check_agreement(compare(d, x, want, got), 5.0 / 6.0);

  // A complete basis with s = N = m: the last atoms make G_II ill-conditioned,
  // so the coefficients agree only as far as its conditioning allows (the
  // GPU's double residual is the more accurate one: RRE is compared instead).
  const Eigen::MatrixXf basis = random_dictionary(8, 8, 21);
  const Eigen::MatrixXf y = random_vectors(8, 50, 22);
  options.sparsity = 8;
  const Agreement full = compare(basis, y, OmpEncoder(basis).encode(y, options), GpuOmpEncoder(basis).encode(y, options));
  check_agreement(full, 0.9, 1e-2);
}

TEST_CASE("GPU OMP rejects bad input with the CPU's errors") {
  LEXICO_REQUIRE_GPU();
  const Eigen::MatrixXf d = random_dictionary(32, 64, 1);
  const OmpEncoder cpu(d);
  const GpuOmpEncoder gpu(d);
  Eigen::MatrixXf x = random_vectors(32, 100, 2);
  x(3, 70) = std::numeric_limits<float>::quiet_NaN();
  OmpOptions options;
  ErrorKind k1{}, k2{};
  CHECK(error_text([&] { gpu.encode(x, options); }, &k1) == error_text([&] { cpu.encode(x, options); }, &k2));
  CHECK(k1 == ErrorKind::BadInput);
  CHECK(k2 == ErrorKind::BadInput);
  options.sparsity = 0;
  CHECK(error_text([&] { gpu.encode(x, options); }, &k1) == error_text([&] { cpu.encode(x, options); }, &k2));
  CHECK(k1 == ErrorKind::Usage);
  options.sparsity = 4;
  options.tolerance = 1.5f;
  CHECK(error_text([&] { gpu.encode(x, options); }) == error_text([&] { cpu.encode(x, options); }));
  const Eigen::MatrixXf short_x = random_vectors(31, 5, 3);
  options.tolerance = 0.0f;
  CHECK(error_text([&] { gpu.encode(short_x, options); }) == error_text([&] { cpu.encode(short_x, options); }));
  Eigen::MatrixXf bad = d;
  bad.col(3) *= 2.0f;
  CHECK(error_text([&] { GpuOmpEncoder g(bad); }) == error_text([&] { OmpEncoder c(bad); }));
}

TEST_CASE("GPU OMP with FP8-aware refit matches the CPU") {
  LEXICO_REQUIRE_GPU();
  const Eigen::MatrixXf d = random_dictionary(64, 512, 8);
  const Eigen::MatrixXf x = mixed_vectors(d, 1500, 4, 9);
  OmpOptions options;
  options.sparsity = 8;
  options.fp8_refit = true;
  const SparseCodes want = OmpEncoder(d).encode_fp8(x, options);
  const SparseCodes got = GpuOmpEncoder(d).encode_fp8(x, options);
  size_t same_support = 0, same_codes = 0;
  for (size_t r = 0; r < want.rows(); ++r) {
    if (want.row_nnz(r) != got.row_nnz(r)) continue;
    bool same = true, codes = true;
    for (uint32_t k = 0; k < want.row_nnz(r); ++k) {
      same &= want.indices[want.row_ptr[r] + k] == got.indices[got.row_ptr[r] + k];
      codes &= want.values[want.row_ptr[r] + k] == got.values[got.row_ptr[r] + k];
    }
    same_support += same;
    same_codes += same && codes;
  }
  MESSAGE("refit: identical supports " << same_support << "/" << want.rows() << ", identical FP8 codes among them "
                                       << same_codes);
  CHECK(double(same_support) / want.rows() >= 0.97);
  CHECK(double(same_codes) / same_support >= 0.99);
}

TEST_CASE("GPU OMP: several dictionaries in one launch (the per-token path)") {
  LEXICO_REQUIRE_GPU();
  const int m = 128, n_atoms = 1024, n_dicts = 6, per = 8, s = 16;
  std::vector<Eigen::MatrixXf> dicts;
  for (int k = 0; k < n_dicts; ++k) dicts.push_back(random_dictionary(m, n_atoms, 100 + k));
  const GpuOmpEncoder gpu(dicts);
  CHECK(gpu.n_dictionaries() == n_dicts);
  OmpOptions options;
  options.sparsity = s;

  // Host API with an arbitrary assignment.
  const Eigen::MatrixXf x = random_vectors(m, 300, 31);
  std::vector<int> which(300);
  for (int v = 0; v < 300; ++v) which[v] = (v * 7) % n_dicts;
  const SparseCoefs got = gpu.encode_multi(x, which, options);
  size_t same = 0;
  for (int k = 0; k < n_dicts; ++k) {
    std::vector<int> cols;
    for (int v = 0; v < 300; ++v)
      if (which[v] == k) cols.push_back(v);
    Eigen::MatrixXf xk(m, cols.size());
    for (size_t i = 0; i < cols.size(); ++i) xk.col(i) = x.col(cols[i]);
    const SparseCoefs want = OmpEncoder(dicts[k]).encode(xk, options);
    for (size_t i = 0; i < cols.size(); ++i) {
      const size_t r = cols[i];
      bool eq = want.row_nnz(i) == got.row_nnz(r);
      for (uint32_t t = 0; eq && t < want.row_nnz(i); ++t)
        eq = want.indices[want.row_ptr[i] + t] == got.indices[got.row_ptr[r] + t] &&
             std::abs(want.values[want.row_ptr[i] + t] - got.values[got.row_ptr[r] + t]) <=
                 1e-4f * std::max(1.0f, std::abs(want.values[want.row_ptr[i] + t]));
      same += eq;
    }
  }
  MESSAGE("multi-dictionary: " << same << "/300 rows identical");
  CHECK(same >= 291);

  // Device API, grouped rows, FP8 output: as the per-token step uses it.
  const Eigen::MatrixXf xs = random_vectors(m, n_dicts * per, 32);
  DeviceBuffer<float> dx(xs.size());
  DeviceBuffer<int32_t> counts(xs.cols());
  DeviceBuffer<uint16_t> idx(xs.cols() * s);
  DeviceBuffer<float> val(xs.cols() * s);
  DeviceBuffer<uint8_t> fp8(xs.cols() * s);
  LEXICO_CUDA_CHECK(cudaMemcpy(dx.data(), xs.data(), xs.size() * 4, cudaMemcpyHostToDevice));
  std::vector<int64_t> groups;
  for (int k = 0; k <= n_dicts; ++k) groups.push_back(int64_t(k) * per);
  gpu.encode_device(dx.data(), xs.cols(), m, groups, options, DeviceSlots{counts.data(), idx.data(), val.data(), fp8.data()});
  CHECK(gpu.encode_device_errors() == -1);
  std::vector<int32_t> hc(xs.cols());
  std::vector<uint16_t> hi(xs.cols() * s);
  std::vector<float> hv(xs.cols() * s);
  std::vector<uint8_t> h8(xs.cols() * s);
  LEXICO_CUDA_CHECK(cudaMemcpy(hc.data(), counts.data(), hc.size() * 4, cudaMemcpyDeviceToHost));
  LEXICO_CUDA_CHECK(cudaMemcpy(hi.data(), idx.data(), hi.size() * 2, cudaMemcpyDeviceToHost));
  LEXICO_CUDA_CHECK(cudaMemcpy(hv.data(), val.data(), hv.size() * 4, cudaMemcpyDeviceToHost));
  LEXICO_CUDA_CHECK(cudaMemcpy(h8.data(), fp8.data(), h8.size(), cudaMemcpyDeviceToHost));
  size_t rows_same = 0;
  for (int k = 0; k < n_dicts; ++k) {
    const SparseCoefs want = OmpEncoder(dicts[k]).encode(xs.middleCols(k * per, per), options);
    for (int i = 0; i < per; ++i) {
      const int v = k * per + i;
      bool eq = int(want.row_nnz(i)) == hc[v];
      for (int t = 0; eq && t < hc[v]; ++t) eq = want.indices[want.row_ptr[i] + t] == hi[v * s + t];
      rows_same += eq;
      for (int t = 0; t < s; ++t) {
        CHECK(h8[v * s + t] == fp8_e4m3_encode(hv[v * s + t]));
        if (t >= hc[v]) CHECK(hv[v * s + t] == 0.0f);
      }
    }
  }
  CHECK(rows_same >= size_t(n_dicts * per - 2));
}

TEST_CASE("GPU OMP: few vectors a dictionary, each tile shared by a cluster of two blocks, match the CPU") {
  LEXICO_REQUIRE_GPU();
  struct Shape {
    int m, n_atoms, s;
    float tolerance;
  };
  // Both padded widths (64, 128), both sparsity tiers (16, 32), fixed s and δ.
  const Shape shapes[] = {{128, 1024, 16, 0.0f}, {128, 1024, 16, 0.3f}, {64, 1000, 8, 0.0f}, {100, 2000, 20, 0.0f}};
  for (const Shape& shape : shapes) {
    CAPTURE(shape.m);
    CAPTURE(shape.n_atoms);
    CAPTURE(shape.s);
    CAPTURE(shape.tolerance);
    const int n_dicts = 5, per = 11;  // 5 tiles of 11 vectors: most SMs would idle with one block a tile
    std::vector<Eigen::MatrixXf> dicts;
    for (int k = 0; k < n_dicts; ++k) dicts.push_back(random_dictionary(shape.m, shape.n_atoms, 200 + k));
    GpuOmpEncoder gpu(dicts);
    OmpOptions options;
    options.sparsity = shape.s;
    options.tolerance = shape.tolerance;
    const Eigen::MatrixXf xs = random_vectors(shape.m, n_dicts * per, 41);
    std::vector<int> which(xs.cols());
    for (int v = 0; v < int(xs.cols()); ++v) which[v] = v / per;
    for (const bool split : {true, false}) {
      CAPTURE(split);
      gpu.set_split_tiles(split);
      const SparseCoefs got = gpu.encode_multi(xs, which, options);
      // On sm_90 the two blocks of a cluster split the atoms; elsewhere (or
      // when told not to) one block does it all.
      CHECK(gpu.last_stats().blocks_per_tile == (split && device_info().major >= 9 ? 2 : 1));
      size_t rows_same = 0;
      double worst = 0.0;
      for (int k = 0; k < n_dicts; ++k) {
        const SparseCoefs want = OmpEncoder(dicts[k]).encode(xs.middleCols(k * per, per), options);
        for (int i = 0; i < per; ++i) {
          const size_t r = size_t(k) * per + i;
          bool eq = want.row_nnz(i) == got.row_nnz(r);
          for (uint32_t t = 0; eq && t < want.row_nnz(i); ++t)
            eq = want.indices[want.row_ptr[i] + t] == got.indices[got.row_ptr[r] + t];
          if (!eq) continue;
          ++rows_same;
          double diff = 0.0, norm = 0.0;
          for (uint32_t t = 0; t < want.row_nnz(i); ++t) {
            const double c = want.values[want.row_ptr[i] + t], g = got.values[got.row_ptr[r] + t];
            diff += (c - g) * (c - g);
            norm += c * c;
          }
          if (norm > 0) worst = std::max(worst, std::sqrt(diff / norm));
        }
      }
      MESSAGE("split tiles " << split << ": " << rows_same << "/" << xs.cols()
                             << " rows identical, worst coefficient difference " << worst);
      CHECK(rows_same >= size_t(xs.cols() - 2));
      CHECK(worst <= 1e-4);
    }
  }
}

TEST_CASE("GPU OMP: the FP16 atoms it shares are each dictionary's, rounded to nearest, zero-padded") {
  LEXICO_REQUIRE_GPU();
  for (int m : {48, 128}) {
    CAPTURE(m);
    const int n_atoms = 300;  // not a multiple of the encoder's 128-atom chunks
    const std::vector<Eigen::MatrixXf> dicts{random_dictionary(m, n_atoms, 7), random_dictionary(m, n_atoms, 8)};
    const GpuOmpEncoder gpu(dicts);
    const int stride = gpu.atom_stride();
    CHECK(stride == (m <= 64 ? 64 : 128));
    for (int d = 0; d < 2; ++d) {
      std::vector<uint16_t> got(size_t(n_atoms) * stride);
      LEXICO_CUDA_CHECK(cudaMemcpy(got.data(), gpu.device_atoms_fp16(d), got.size() * 2, cudaMemcpyDeviceToHost));
      size_t wrong = 0;
      for (int j = 0; j < n_atoms; ++j)
        for (int e = 0; e < stride; ++e)
          wrong += got[size_t(j) * stride + e] != (e < m ? float_to_half(dicts[d](e, j)) : uint16_t(0));
      CHECK(wrong == 0);
    }
    CHECK_THROWS_WITH_AS(gpu.device_atoms_fp16(2), doctest::Contains("outside 0..1"), Error);
  }
}

TEST_CASE("OMP backend: CPU when asked, GPU otherwise, CPU fallback with a reason") {
  const Eigen::MatrixXf d = random_dictionary(64, 256, 12);
  const Eigen::MatrixXf x = random_vectors(64, 200, 13);
  OmpOptions options;
  options.sparsity = 8;
  const SparseCoefs want = OmpEncoder(d).encode(x, options);
  const OmpBackend cpu(d, Device::Cpu);
  const SparseCoefs a = cpu.encode(x, options);
  CHECK_FALSE(cpu.on_gpu());
  CHECK(a.indices == want.indices);
  const OmpBackend any(d, Device::Auto);
  const SparseCoefs b = any.encode(x, options);
  if (!gpu_usable()) {
    CHECK_FALSE(any.on_gpu());
    CHECK_FALSE(any.note().empty());
    MESSAGE("auto without a GPU: " << any.note());
    return;
  }
  CHECK(any.on_gpu());
  check_agreement(compare(d, x, want, b));
  options.sparsity = 40;  // beyond the GPU kernels: the CPU takes it
  const SparseCoefs c = any.encode(x, options);
  CHECK_FALSE(any.on_gpu());
  CHECK(any.note().find("sparsity up to 32") != std::string::npos);
  CHECK(c.indices == OmpEncoder(d).encode(x, options).indices);
}
