// Launch interface of the batched OMP kernels (omp_kernel.cu); used by omp.cu.
#pragma once
#include <cstdint>

#include <cuda_fp16.h>
#include <cuda_runtime_api.h>

namespace lexico::cuda::omp_detail {

constexpr int kTileVectors = 64;      // vectors pursued together by one block (bulk)
constexpr int kSmallTileVectors = 16;  // the same for launches of few vectors a dictionary
constexpr int kChunkAtoms = 128;  // atoms per shared-memory stage of D
constexpr int kThreads = 256;

struct Tile {
  int dictionary;
  int first;  // first vector (row of x) of the tile
  int count;  // 1..kTileVectors vectors, all of that dictionary
  int pad;
};

struct LaunchArgs {
  int padded_dim = 0;  // M: 64 or 128 (dim rounded up)
  int max_sparsity = 0;  // S: 16 or 32 (sparsity rounded up)
  const __half* dict_half = nullptr;  // [K][n_pad][M]
  const float* dict_float = nullptr;  // [K][n_pad][M]
  int dim = 0, n_atoms = 0, n_pad = 0;
  const Tile* tiles = nullptr;
  int n_tiles = 0;
  int grid = 0;  // blocks launched (≤ max_grid); scratch holds grid·kTileVectors vector slots
  const float* x = nullptr;
  int64_t x_stride = 0;
  int sparsity = 0;
  float tolerance = 0.0f;
  float e_max = 0.0f, dn_max = 0.0f, acc_tol = 0.0f;
  int32_t* counts = nullptr;
  uint16_t* indices = nullptr;
  float* values = nullptr;
  uint8_t* fp8 = nullptr;
  float* r_scratch = nullptr;     // [grid·64][M]
  double* b_scratch = nullptr;    // [grid·64][S·S]
  double* g_scratch = nullptr;    // [grid·64][S]
  // [0] vector steps, [1] exact scans, [2] lowest non-finite vector, [3] lists rescanned
  unsigned long long* counters = nullptr;
  bool fp8_refit = false;
  bool small_tiles = false;  // tiles of ≤ 16 vectors, 4 stages of D in flight, 1 block/SM
  int split = 1;  // 2: small tiles, each pursued by a cluster of 2 blocks over half the atoms each (grid = 2·tiles)
  int64_t n_vectors = 0;  // for the refit pass: every row of counts/indices/values
};

// Blocks that fit the device at once for this (M, S) (occupancy × SMs).
int omp_max_grid(int padded_dim, int max_sparsity, bool small_tiles);
// Whether small tiles may be split over clusters of 2 blocks here (sm_90 code
// running on a device of compute capability ≥ 9.0).
bool omp_split_available(int padded_dim, int max_sparsity);
void launch_omp(const LaunchArgs& args, cudaStream_t stream);
// FP8-aware refit (OmpOptions::fp8_refit) of rows already pursued.
void launch_refit(const LaunchArgs& args, cudaStream_t stream);
// Writes dictionary k's padded FP16 and float copies from m×N float columns
// (src, column j at j·dim) and raises bounds[0] to the largest ‖d − d̃‖ and
// bounds[1] to the largest ‖d̃‖ over its atoms (float bits, atomicMax; the
// caller zeroes them first). Padding stays as the constructor wrote it (0).
void launch_pack_dictionary(const float* src, int dim, int n_atoms, int padded_dim, int n_pad, int k,
                            __half* dict_half, float* dict_float, unsigned* bounds, cudaStream_t stream);
// Test hook: FP8 encode on the device, element by element.
void fp8_encode_on_device(const float* host_in, uint8_t* host_out, size_t n);

}  // namespace lexico::cuda::omp_detail
