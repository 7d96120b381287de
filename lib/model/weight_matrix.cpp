#include "lexico/weight_matrix.h"

#include <cstring>

#include "lexico/error.h"

namespace lexico {

WeightMatrix::WeightMatrix(Matrix dense) : rows_(dense.rows()), cols_(dense.cols()), dense_(std::move(dense)) {}

WeightMatrix::WeightMatrix(GgmlType type, int64_t rows, int64_t cols, std::vector<uint8_t> blocks)
    : type_(type), rows_(rows), cols_(cols), blocks_(std::move(blocks)) {
  const int64_t block = ggml_block_size(type);
  if (type == GgmlType::F32 || block < 1 || cols % block != 0)
    internal_error("weights", "{} columns do not hold whole blocks of type {}", cols, int(type));
  row_bytes_ = size_t(cols / block) * size_t(ggml_block_bytes(type));
  if (blocks_.size() != size_t(rows) * row_bytes_)
    internal_error("weights", "{} bytes of blocks for {} rows of {} bytes", blocks_.size(), rows, row_bytes_);
}

size_t WeightMatrix::bytes() const {
  return type_ == GgmlType::F32 ? size_t(dense_.size()) * sizeof(float) : blocks_.size();
}

void WeightMatrix::rows_to_float(int64_t r0, int64_t n, float* dst) const {
  if (r0 < 0 || n < 0 || r0 > rows_ - n) internal_error("weights", "rows [{}, {}) of {}", r0, r0 + n, rows_);
  if (type_ == GgmlType::F32) {
    std::memcpy(dst, dense_.data() + r0 * cols_, size_t(n * cols_) * sizeof(float));
    return;
  }
  for (int64_t i = 0; i < n; ++i)
    dequantize_row(type_, blocks_.data() + size_t(r0 + i) * row_bytes_, dst + i * cols_, cols_);
}

ConstMatrixMap WeightMatrix::rows_view(int64_t r0, int64_t n, std::vector<float>& scratch) const {
  if (type_ == GgmlType::F32) {
    if (r0 < 0 || n < 0 || r0 > rows_ - n) internal_error("weights", "rows [{}, {}) of {}", r0, r0 + n, rows_);
    return ConstMatrixMap(dense_.data() + r0 * cols_, n, cols_);
  }
  if (scratch.size() < size_t(n * cols_)) scratch.resize(size_t(n * cols_));
  rows_to_float(r0, n, scratch.data());
  return ConstMatrixMap(scratch.data(), n, cols_);
}

void WeightMatrix::dot_rows(int64_t r0, int64_t n, const float* x, float* y) const {
  if (!direct_dot() || r0 < 0 || n < 0 || r0 > rows_ - n)
    internal_error("weights", "direct dot over rows [{}, {}) of {} (type {})", r0, r0 + n, rows_, int(type_));
  quantized_dot_rows(type_, blocks_.data() + size_t(r0) * row_bytes_, n, cols_, x, y);
}

Matrix WeightMatrix::dense() const {
  if (type_ == GgmlType::F32) return dense_;
  Matrix m(rows_, cols_);
  rows_to_float(0, rows_, m.data());
  return m;
}

void WeightMatrix::permute_rows(std::span<const int64_t> order) {
  if (int64_t(order.size()) != rows_)
    internal_error("weights", "a permutation of {} rows for {}", order.size(), rows_);
  if (type_ == GgmlType::F32) {
    const Matrix old = dense_;
    for (int64_t i = 0; i < rows_; ++i) dense_.row(i) = old.row(order[size_t(i)]);
    return;
  }
  const std::vector<uint8_t> old = blocks_;
  for (int64_t i = 0; i < rows_; ++i)
    std::memcpy(blocks_.data() + size_t(i) * row_bytes_, old.data() + size_t(order[size_t(i)]) * row_bytes_,
                row_bytes_);
}

}  // namespace lexico
