// Row copies shared by the GPU caches (cache_kernels.cu). Storage is grouped
// rows: group g's row r of `row_len` elements is at (g·rows_per_group + r)·row_len.
#pragma once
#include <cstdint>

#include <cuda_runtime_api.h>

#include "lexico/cuda/attention.h"
#include "lexico/kv_cache.h"

namespace lexico::cuda::cache_detail {

// The shape DenseDecodeAttention is planned for over `rows` FP16 rows a KV
// head (a full cache, or the Lexico cache's buffer), a step's max_step
// queries attended as a batch over the one sequence.
inline DecodeShape dense_shape(const CacheShape& shape, int64_t rows, int max_step) {
  DecodeShape d;
  d.batch = max_step;
  d.n_heads = shape.n_heads;
  d.n_kv_heads = shape.n_kv_heads;
  d.head_dim = shape.head_dim;
  d.compressed_capacity = rows;
  d.buffer_capacity = 0;
  return d;
}

// A step's new keys and values k, v [n][groups][row_len] (float, token-major
// as the model makes them) to FP16 rows [row0, row0 + n) of each of `groups`
// groups of dst_k and dst_v; and, in the same launch, the causal lengths of
// the step's n queries: visible[i] = row0 + i + 1, and fixed[i] = fixed_value
// when fixed is not null (the compressed rows every query sees), total[i] =
// fixed_value + visible[i] when total is not null.
struct StepLengths {
  int32_t* visible = nullptr;
  int32_t* fixed = nullptr;
  int64_t fixed_value = 0;
  int32_t* total = nullptr;  // when not null: fixed_value + visible[i]
};
void append_step(const float* k, const float* v, int n, int groups, int row_len, uint16_t* dst_k, uint16_t* dst_v,
                 int64_t rows_per_group, int64_t row0, StepLengths lengths, cudaStream_t stream);

struct RowBlock {  // rows [row0, row0 + rows) of every group
  int64_t rows_per_group = 0, row0 = 0;
};
// dst block ← src block, `groups` groups of `rows` rows of `row_len` elements.
void copy_rows(const uint16_t* src, RowBlock s, uint16_t* dst, RowBlock d, int groups, int64_t rows, int row_len,
               cudaStream_t stream);
void copy_rows(const uint8_t* src, RowBlock s, uint8_t* dst, RowBlock d, int groups, int64_t rows, int row_len,
               cudaStream_t stream);
// The same from FP16 bits to float.
void copy_rows_to_float(const uint16_t* src, RowBlock s, float* dst, RowBlock d, int groups, int64_t rows,
                        int row_len, cudaStream_t stream);

// One layer of the Lexico cache, keys (kind 0) and values (kind 1), as stored:
// fixed-s code rows [groups][code_rows][s] and FP16 buffer rows
// [groups][buffer_rows][m]; dictionaries atom-major FP16 [N][m].
struct CodedLayer {
  const uint16_t* indices[2] = {};
  const uint8_t* codes[2] = {};
  const uint16_t* dictionary[2] = {};
  const uint16_t* buffer[2] = {};
  int64_t code_rows = 0, buffer_rows = 0;
};
// FP16 rows [groups][out_rows][m] for the dense kernel, keys and values: row
// r < compressed is D·ŷ of code row r (FP8 coefficients decoded exactly,
// summed in float, rounded once), row compressed + r is buffer row r.
// m is 64 or 128.
void densify(const CodedLayer& layer, int groups, int64_t compressed, int64_t buffered, int s, int m,
             uint16_t* out_keys, uint16_t* out_values, int64_t out_rows, cudaStream_t stream);

// append_step and densify in one launch, for a step the dense plan attends:
// the step's n rows go to the layer's buffer (buffer_k, buffer_v: `layer`'s
// buffers, rows [row0, row0 + n)) and to the scratch after the compressed
// rows and the row0 earlier buffer rows, which are reconstructed and copied
// as densify does.
void append_densify(const float* k, const float* v, int n, const CodedLayer& layer, uint16_t* buffer_k,
                    uint16_t* buffer_v, int groups, int64_t compressed, int64_t row0, int s, int m,
                    StepLengths lengths, uint16_t* out_keys, uint16_t* out_values, int64_t out_rows,
                    cudaStream_t stream);

}  // namespace lexico::cuda::cache_detail
