#include "lexico/sparse_codes.h"

#include <algorithm>

#include "lexico/error.h"
#include "lexico/fp8.h"

namespace lexico {

template <typename Value>
void check_structure(const SparseRows<Value>& rows, const std::string& where) {
  if (rows.dim < 1) bad_input(where, "vector dimension {} is not positive", rows.dim);
  if (rows.n_atoms < 1 || rows.n_atoms > kMaxAtoms)
    bad_input(where, "{} atoms is outside 1..{}", rows.n_atoms, kMaxAtoms);
  if (rows.row_ptr.empty() || rows.row_ptr.front() != 0) bad_input(where, "row offsets do not start at 0");
  if (rows.row_ptr.back() != rows.indices.size() || rows.values.size() != rows.indices.size())
    bad_input(where, "{} row-offset end, {} indices and {} values disagree", rows.row_ptr.back(),
              rows.indices.size(), rows.values.size());
  if (!std::is_sorted(rows.row_ptr.begin(), rows.row_ptr.end())) bad_input(where, "row offsets decrease");
  for (uint16_t index : rows.indices)
    if (index >= rows.n_atoms) bad_input(where, "atom index {} is not below {}", index, rows.n_atoms);
}
template void check_structure(const SparseCoefs&, const std::string&);
template void check_structure(const SparseCodes&, const std::string&);

SparseCodes quantize_fp8(const SparseCoefs& coefs) {
  SparseCodes codes{coefs.dim, coefs.n_atoms, coefs.row_ptr, coefs.indices, {}};
  codes.values.resize(coefs.values.size());
  fp8_e4m3_encode(coefs.values.data(), codes.values.data(), coefs.values.size());
  return codes;
}

SparseCoefs dequantize_fp8(const SparseCodes& codes) {
  SparseCoefs coefs{codes.dim, codes.n_atoms, codes.row_ptr, codes.indices, {}};
  coefs.values.resize(codes.values.size());
  fp8_e4m3_decode(codes.values.data(), coefs.values.data(), codes.values.size());
  return coefs;
}

void decode_row(const SparseCodes& codes, size_t row, Eigen::Ref<const Eigen::MatrixXf> dictionary,
                float* out) {
  Eigen::Map<Eigen::VectorXf> x(out, dictionary.rows());
  x.setZero();
  for (uint32_t k = codes.row_ptr[row]; k < codes.row_ptr[row + 1]; ++k)
    x += fp8_e4m3_decode(codes.values[k]) * dictionary.col(codes.indices[k]);
}

size_t csr_bytes(const SparseCodes& codes) { return 3 * codes.nnz() + 2 * codes.rows(); }

namespace {

size_t packed_index_bytes(size_t count) { return (3 * count + 1) / 2; }  // ⌈1.5·count⌉

// The common row length, or -1 when rows differ (or there are none).
int fixed_row_nnz(const SparseCodes& codes) {
  if (codes.rows() == 0) return -1;
  const uint32_t first = codes.row_nnz(0);
  for (size_t r = 1; r < codes.rows(); ++r)
    if (codes.row_nnz(r) != first) return -1;
  return int(first);
}

void check_compactable(const SparseCodes& codes) {
  const char* where = "compact sparse codes";
  if (codes.n_atoms > kMaxCompactAtoms)
    bad_input(where, "{} atoms do not fit 12-bit indices (at most {})", codes.n_atoms, kMaxCompactAtoms);
  for (size_t r = 0; r < codes.rows(); ++r)
    if (codes.row_nnz(r) > uint32_t(kMaxCompactRowNnz))
      bad_input(where, "row {} has {} non-zeros, more than a count byte holds ({})", r, codes.row_nnz(r),
                kMaxCompactRowNnz);
}

}  // namespace

size_t compact_bytes(const SparseCodes& codes) {
  check_compactable(codes);
  size_t bytes = fixed_row_nnz(codes) >= 0 ? 0 : codes.rows();
  for (size_t r = 0; r < codes.rows(); ++r) bytes += codes.row_nnz(r) + packed_index_bytes(codes.row_nnz(r));
  return bytes;
}

CompactCodes pack_compact(const SparseCodes& codes) {
  check_structure(codes, "compact sparse codes");
  CompactCodes packed{codes.dim, codes.n_atoms, codes.rows(), fixed_row_nnz(codes), {}};
  packed.bytes.reserve(compact_bytes(codes));
  std::vector<uint8_t>& out = packed.bytes;
  for (size_t r = 0; r < codes.rows(); ++r) {
    const uint32_t begin = codes.row_ptr[r], count = codes.row_nnz(r);
    if (packed.fixed_row_nnz < 0) out.push_back(uint8_t(count));
    out.insert(out.end(), codes.values.begin() + begin, codes.values.begin() + begin + count);
    const uint16_t* idx = codes.indices.data() + begin;
    uint32_t k = 0;
    for (; k + 1 < count; k += 2) {
      const uint32_t pair = uint32_t(idx[k]) | uint32_t(idx[k + 1]) << 12;
      out.insert(out.end(), {uint8_t(pair), uint8_t(pair >> 8), uint8_t(pair >> 16)});
    }
    if (k < count) out.insert(out.end(), {uint8_t(idx[k]), uint8_t(idx[k] >> 8)});
  }
  return packed;
}

SparseCodes unpack_compact(const CompactCodes& packed) {
  const char* where = "compact sparse codes";
  SparseCodes codes;
  codes.dim = packed.dim;
  codes.n_atoms = packed.n_atoms;
  codes.row_ptr.reserve(packed.rows + 1);
  const std::vector<uint8_t>& in = packed.bytes;
  size_t pos = 0;
  auto need = [&](size_t n) {
    if (in.size() - pos < n) bad_input(where, "truncated: {} bytes, row {} of {} needs more", in.size(),
                                       codes.rows(), packed.rows);
  };
  for (size_t r = 0; r < packed.rows; ++r) {
    uint32_t count = uint32_t(packed.fixed_row_nnz);
    if (packed.fixed_row_nnz < 0) {
      need(1);
      count = in[pos++];
    }
    need(count + packed_index_bytes(count));
    codes.values.insert(codes.values.end(), in.begin() + pos, in.begin() + pos + count);
    pos += count;
    uint32_t k = 0;
    for (; k + 1 < count; k += 2, pos += 3) {
      const uint32_t pair = uint32_t(in[pos]) | uint32_t(in[pos + 1]) << 8 | uint32_t(in[pos + 2]) << 16;
      codes.indices.push_back(uint16_t(pair & 0xFFFu));
      codes.indices.push_back(uint16_t(pair >> 12));
    }
    if (k < count) {
      codes.indices.push_back(uint16_t(in[pos] | (in[pos + 1] & 0xFu) << 8));
      pos += 2;
    }
    codes.row_ptr.push_back(uint32_t(codes.indices.size()));
  }
  if (pos != in.size()) bad_input(where, "{} bytes left over after {} rows", in.size() - pos, packed.rows);
  check_structure(codes, where);
  return codes;
}

}  // namespace lexico
