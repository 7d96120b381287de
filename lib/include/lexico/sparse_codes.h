// Sparse codes: one CSR row per encoded vector x ≈ D y, holding the atom
// indices and coefficients of y's non-zeros. Float rows (SparseCoefs) come out
// of OMP; FP8 rows (SparseCodes) are what a cache stores.
//
// Byte accounting (what a stored code costs, as in the Lexico paper):
//   csr_bytes     = 3·nnz + 2·rows: per non-zero a 1-byte FP8 value and a
//                   2-byte (uint16) atom index; per row a 2-byte offset.
//   compact_bytes = Σ_rows (c + ⌈1.5·c⌉) + rows, c = the row's non-zeros:
//                   12-bit indices packed two per 3 bytes (needs N ≤ 4096) and
//                   a 1-byte count per row (c ≤ 255); when every row has the
//                   same c ("fixed-s"), the counts are dropped (+0, not +rows).
// FP16 stores the same vector in 2·m bytes.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <Eigen/Core>

namespace lexico {

inline constexpr int kMaxAtoms = 65536;         // indices are uint16
inline constexpr int kMaxCompactAtoms = 4096;   // indices packed in 12 bits
inline constexpr int kMaxCompactRowNnz = 255;   // per-row count is one byte

template <typename Value>
struct SparseRows {
  int dim = 0;      // m: length of the encoded vectors
  int n_atoms = 0;  // N: dictionary size; every index is < n_atoms
  std::vector<uint32_t> row_ptr = {0};  // rows()+1 offsets into indices/values
  std::vector<uint16_t> indices;        // atom of each non-zero, row by row
  std::vector<Value> values;            // its coefficient

  size_t rows() const { return row_ptr.size() - 1; }
  size_t nnz() const { return indices.size(); }
  uint32_t row_nnz(size_t row) const { return row_ptr[row + 1] - row_ptr[row]; }
};
using SparseCoefs = SparseRows<float>;    // float coefficients (OMP output)
using SparseCodes = SparseRows<uint8_t>;  // FP8 E4M3 codes (see fp8.h)

// Throws bad_input(where, ...) unless the arrays form valid CSR rows:
// row_ptr starts at 0 and never decreases, sizes agree, indices < n_atoms ≤ 65536.
template <typename Value>
void check_structure(const SparseRows<Value>& rows, const std::string& where);

// Rounds every coefficient to FP8 (fp8_e4m3_encode: nearest-even, saturating at
// ±448). Entries that round to zero stay, so row lengths are unchanged.
SparseCodes quantize_fp8(const SparseCoefs& coefs);
SparseCoefs dequantize_fp8(const SparseCodes& codes);

// out[0..m) = D y for one row; dictionary is m×N.
void decode_row(const SparseCodes& codes, size_t row, Eigen::Ref<const Eigen::MatrixXf> dictionary,
                float* out);

size_t csr_bytes(const SparseCodes& codes);

// The packed form counted by compact_bytes. Each row: [count byte, only when
// fixed_row_nnz < 0] [c FP8 values] [c 12-bit indices, pairs little-endian in
// 3 bytes as i0 | i1 << 12; an odd last index in 2 bytes].
struct CompactCodes {
  int dim = 0;
  int n_atoms = 0;
  size_t rows = 0;
  int fixed_row_nnz = -1;  // ≥ 0: every row has exactly this many non-zeros
  std::vector<uint8_t> bytes;
};

// Throws bad_input when N > 4096 or a row has more than 255 non-zeros.
size_t compact_bytes(const SparseCodes& codes);
CompactCodes pack_compact(const SparseCodes& codes);
SparseCodes unpack_compact(const CompactCodes& packed);

}  // namespace lexico
