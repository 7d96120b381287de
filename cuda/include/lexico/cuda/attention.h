// Decode attention over a Lexico-compressed KV cache, without densifying
// (the GPU twin of LexicoCache::attend for one new token per sequence), and
// the dense FP16 flash-decoding kernel it is measured against.
//
// Per layer, per sequence b and query head h (KV head kv = h / (H / n_kv)):
//   qD = D_kᵀ q / √m                         (N numbers; one kernel for all heads)
//   score_t = Σ_i c_{t,i} · qD[i_{t,i}]       (compressed token t: s FP8 codes)
//   score_t = q·k_t / √m                       (buffer token t: FP16)
//   p = softmax over both (one max, one sum)
//   out = D_v · (Σ_t p_t Σ_i c'_{t,i} e_{i'_{t,i}}) + Σ_buffer p_t v_t
// (D_k and D_v read in FP16, every sum in float32).
// The value weights accumulate in the N-dim coefficient domain (in
// registers, the pairs sorted by atom so that no float atomics are needed)
// and D_v is applied once per head. The token range is split over blocks
// (flash-decoding); the last kernel merges the partial maxima, sums
// and coefficient vectors at its atoms and applies D_v. Three kernels a call,
// chained (programmatic dependent launch on sm_90). Short calls take one
// launch instead on sm_90: a cluster of 8 blocks per head group, each over an
// eighth of the atoms and of the rows, sharing qD, the scores and the output
// through distributed shared memory (SparseKernel).
//
// Layout (fixed-s rows, as LexicoCache's δ = 0 storage; a code that OMP ended
// early carries zero coefficients): per sequence and KV head, tokens oldest
// first, capacity T_cap rows.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include <cuda_runtime_api.h>

#include "lexico/cuda/device.h"

namespace lexico::cuda {

struct DecodeShape {
  int batch = 1;       // sequences (upper bound for run())
  int n_heads = 32;    // query heads H
  int n_kv_heads = 8;  // H % n_kv_heads == 0
  int head_dim = 128;  // m: 64 or 128
  int n_atoms = 4096;  // N
  int sparsity = 16;   // s: non-zeros per stored row
  int64_t compressed_capacity = 0;  // T_cap: rows per (sequence, KV head)
  int buffer_capacity = 128;        // B_cap: FP16 rows per (sequence, KV head)
  // The most buffer rows a run attends (≤ n_atoms: their scores reuse the
  // accumulator's shared memory); −1: buffer_capacity. The caller keeps every
  // sequence's buffer length within it.
  int max_buffered = -1;
};

// One layer's compressed cache on the device (pointers not owned).
struct CompressedKv {
  const uint16_t* key_indices = nullptr;    // [batch][n_kv][T_cap][s]
  const uint8_t* key_codes = nullptr;       // FP8 E4M3, same layout
  const uint16_t* value_indices = nullptr;  // [batch][n_kv][T_cap][s]
  const uint8_t* value_codes = nullptr;
  const uint16_t* key_buffer = nullptr;    // FP16 bits, [batch][n_kv][B_cap][m]
  const uint16_t* value_buffer = nullptr;  // FP16 bits, [batch][n_kv][B_cap][m]
  const int32_t* compressed_length = nullptr;  // [batch], each ≤ T_cap
  const int32_t* buffer_length = nullptr;      // [batch], each ≤ B_cap
  // FP16 bits, atom-major [N][m]: rounding moves each entry of an atom by at
  // most 2⁻¹¹ of itself, far below the FP8 codes' rounding (2⁻⁴), and halves
  // the bytes the kernels stream per call.
  const uint16_t* key_dictionary = nullptr;
  const uint16_t* value_dictionary = nullptr;
  // All `batch` queries read sequence 0's rows, each with its own lengths:
  // the queries of one causal step (query i sees buffer_length[i] rows).
  bool one_sequence = false;
  // B_cap of the buffer arrays when it differs from the shape's
  // buffer_capacity (a cache whose buffer grew for a long prompt); 0: the shape's.
  int64_t buffer_rows = 0;
};

// Bytes of a compressed layer in this layout: codes 3·s per vector (keys and
// values), FP16 buffer 2·m per vector; dictionaries not included.
size_t compressed_kv_bytes(const DecodeShape& shape);

// Which kernels SparseDecodeAttention::run takes.
enum class SparseKernel {
  Auto,          // the cluster kernel where it is the faster (rows · s ≤ 24,576, docs/benchmarks.md)
  Cluster,       // the cluster kernel wherever it fits (≤ 4,096 compressed and buffer rows in shared memory)
  ThreeKernels,  // qD, partials over token splits, merge and D_v·Â
};

class SparseDecodeAttention {
 public:
  // Plans the token split for shapes up to `max_shape` and allocates the
  // workspace. Throws Error(Internal, "cuda", ...) when there is no usable
  // GPU, when the shape is not handled (unsupported_reason), or when the
  // workspace does not fit.
  explicit SparseDecodeAttention(const DecodeShape& max_shape);
  // Empty when handled; else why not (e.g. the N-dim score and accumulator
  // vectors of one head do not fit shared memory) — use the CPU cache then.
  static std::string unsupported_reason(const DecodeShape& shape);

  // q, out: [batch][n_heads][m] float32 on the device, 16-byte aligned (read
  // and added to as float4). max_compressed bounds compressed_length (plans
  // the split); max_buffered, where ≥ 0, bounds buffer_length (else
  // min(B_cap, N) does): it sizes the cluster kernel's shared memory, and a
  // buffer past it gives that kernel NaN outputs, never a wrong number.
  // Asynchronous on `stream`.
  void run(const CompressedKv& kv, const float* q, float* out, int batch, int64_t max_compressed,
           cudaStream_t stream = nullptr, int64_t max_buffered = -1);

  size_t workspace_bytes() const;
  const DecodeShape& shape() const { return shape_; }
  // Whether run() with these arguments takes the one-launch cluster kernel.
  bool takes_cluster_kernel(const CompressedKv& kv, int64_t max_compressed, int64_t max_buffered = -1) const;
  // Auto by default; the others for the tests and benchmarks that compare the two.
  void set_kernel(SparseKernel kernel) { kernel_ = kernel; }

 private:
  int64_t cluster_rows(const CompressedKv& kv, int64_t max_compressed, int64_t max_buffered) const;

  DecodeShape shape_;
  SparseKernel kernel_ = SparseKernel::Auto;
  int heads_per_block_ = 4;
  size_t max_partials_ = 0;  // batch·n_kv·groups·splits
  DeviceBuffer<float> qd_, partial_acc_, partial_stats_, buffer_out_;
};

// Dense FP16 attention for one new token per sequence (flash-decoding,
// split-K): keys/values [batch][n_kv][capacity][m] FP16, length[batch] on the
// device. The reference the compressed path is measured against. The queries
// of one sequence's step (one_sequence), 16 or more, take a tensor-core
// kernel that reads K and V once per 64 queries (prefill_kernel.cu).
class DenseDecodeAttention {
 public:
  explicit DenseDecodeAttention(const DecodeShape& max_shape);  // max_shape.compressed_capacity = capacity
  // one_sequence: every query reads sequence 0's rows with its own length
  // (the queries of one causal step, as CompressedKv::one_sequence).
  void run(const uint16_t* keys, const uint16_t* values, int64_t capacity, const int32_t* length, const float* q,
           float* out, int batch, int64_t max_length, cudaStream_t stream = nullptr, bool one_sequence = false);
  size_t workspace_bytes() const;
  // On by default; off, every query of a step goes through flash-decoding
  // (the reference bench_cuda_attention measures the prefill kernel against).
  void set_prefill_kernel(bool on) { prefill_kernel_ = on; }

 private:
  DecodeShape shape_;
  size_t max_partials_ = 0;
  bool prefill_kernel_ = true;
  DeviceBuffer<float> partial_out_, partial_stats_;
};

}  // namespace lexico::cuda
