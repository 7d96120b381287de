// A linear layer's weights [rows, cols] (y = W x, rows row-major) as the model
// file stores them: float32, or rows of GGUF blocks (F16, BF16, Q8_0, Q4_0,
// Q4_1, Q4_K, Q5_K, Q6_K) dequantized a slice of rows at a time where the
// forward pass uses them. A Q4 model so keeps 4.5–5 bits a weight in memory
// instead of 32, and every dequantized value is the float32 the file defines
// (what dequantizing the whole file at load gave).
#pragma once
#include <cstdint>
#include <span>
#include <vector>

#include <Eigen/Core>

#include "lexico/quant.h"

namespace lexico {

using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMatrixMap = Eigen::Map<const Matrix>;

class WeightMatrix {
 public:
  WeightMatrix() = default;
  WeightMatrix(Matrix dense);  // NOLINT: a float32 matrix is a weight matrix
  // rows × cols values as `type` blocks, row after row (cols a multiple of
  // the type's block size; blocks.size() = rows · cols / block · block bytes).
  WeightMatrix(GgmlType type, int64_t rows, int64_t cols, std::vector<uint8_t> blocks);

  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  int64_t size() const { return rows_ * cols_; }
  GgmlType type() const { return type_; }
  // Bytes held (blocks, or float32).
  size_t bytes() const;

  // Rows [r0, r0 + n) as float32, row-major, into dst.
  void rows_to_float(int64_t r0, int64_t n, float* dst) const;
  // Rows [r0, r0 + n) as a float32 view: in place for float32 storage, else
  // dequantized into `scratch` (grown as needed; the view lives as long as it).
  ConstMatrixMap rows_view(int64_t r0, int64_t n, std::vector<float>& scratch) const;
  // All rows as float32.
  Matrix dense() const;
  // Whether dot_rows works on the blocks directly (Q4_0, Q4_1, Q8_0).
  bool direct_dot() const { return quantized_dot_supported(type_); }
  // y[i] = row r0 + i · x for i < n, without dequantizing (direct_dot() only):
  // a decoding step's matrix-vector product, reading 4.5–8.5 bits a weight.
  void dot_rows(int64_t r0, int64_t n, const float* x, float* y) const;
  // Row i becomes old row order[i] (order a permutation of 0..rows-1).
  void permute_rows(std::span<const int64_t> order);

 private:
  GgmlType type_ = GgmlType::F32;
  int64_t rows_ = 0, cols_ = 0;
  size_t row_bytes_ = 0;         // one row of blocks
  Matrix dense_;                 // float32 storage
  std::vector<uint8_t> blocks_;  // block storage
};

}  // namespace lexico
