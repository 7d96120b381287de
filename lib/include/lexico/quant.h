// ggml tensor types, numbered as in GGUF files, and their dequantization.
// Quantized types store fixed-size blocks along a row; a block's layout is
// described beside its dequantizer in lib/model/quant.cpp.
#pragma once
#include <cstdint>
#include <string>

namespace lexico {

enum class GgmlType : uint32_t {
  F32 = 0,
  F16 = 1,
  Q4_0 = 2,
  Q4_1 = 3,
  Q8_0 = 8,
  Q4_K = 12,
  Q5_K = 13,
  Q6_K = 14,
  BF16 = 30,
};

// Whether this reader can dequantize a type number found in a file.
bool ggml_type_supported(uint32_t type);
// "Q4_K"; also names the ggml types this reader does not support; "unknown" otherwise.
std::string ggml_type_name(uint32_t type);
// Elements per block (1 for plain float types) and bytes per block.
int ggml_block_size(GgmlType type);
int ggml_block_bytes(GgmlType type);

// Dequantizes n elements (a multiple of the block size) from src to dst.
void dequantize_row(GgmlType type, const uint8_t* src, float* dst, int64_t n);

// Whether quantized_dot_rows takes this type (Q4_0, Q4_1, Q8_0).
bool quantized_dot_supported(GgmlType type);
// y[r] = row r · x for n_rows consecutive rows of `cols` values (a multiple
// of 32) stored as blocks, without dequantizing them (lib/model/quant_dot.cpp):
// the matrix-vector product of a decoding step. Equal to the dequantized
// rows' dot products within float rounding.
void quantized_dot_rows(GgmlType type, const uint8_t* rows, int64_t n_rows, int64_t cols, const float* x, float* y);

}  // namespace lexico
