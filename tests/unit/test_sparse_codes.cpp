#include <doctest/doctest.h>

#include <random>

#include "lexico/error.h"
#include "lexico/fp8.h"
#include "lexico/sparse_codes.h"

using namespace lexico;

namespace {

// rows with the given non-zero counts, random distinct-ish indices and values.
SparseCodes random_codes(const std::vector<int>& counts, int n_atoms, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> atom(0, n_atoms - 1), code(0, 255);
  SparseCodes codes;
  codes.dim = 16;
  codes.n_atoms = n_atoms;
  for (int c : counts) {
    for (int k = 0; k < c; ++k) {
      codes.indices.push_back(uint16_t(atom(rng)));
      codes.values.push_back(uint8_t(code(rng)));
    }
    codes.row_ptr.push_back(uint32_t(codes.indices.size()));
  }
  return codes;
}

void check_equal(const SparseCodes& a, const SparseCodes& b) {
  CHECK(a.dim == b.dim);
  CHECK(a.n_atoms == b.n_atoms);
  CHECK(a.row_ptr == b.row_ptr);
  CHECK(a.indices == b.indices);
  CHECK(a.values == b.values);
}

}  // namespace

TEST_CASE("quantize_fp8 rounds each value and keeps the structure; dequantize decodes") {
  SparseCoefs coefs;
  coefs.dim = 4;
  coefs.n_atoms = 10;
  coefs.row_ptr = {0, 2, 2, 5};
  coefs.indices = {3, 1, 0, 9, 4};
  coefs.values = {0.1f, -2.5f, 1000.0f, 1e-6f, 0.3f};
  const SparseCodes codes = quantize_fp8(coefs);
  CHECK(codes.row_ptr == coefs.row_ptr);
  CHECK(codes.indices == coefs.indices);
  REQUIRE(codes.values.size() == 5);
  for (size_t k = 0; k < 5; ++k) CHECK(codes.values[k] == fp8_e4m3_encode(coefs.values[k]));
  const SparseCoefs back = dequantize_fp8(codes);
  CHECK(back.values == std::vector<float>{fp8_e4m3_decode(codes.values[0]), -2.5f, 448.0f, 0.0f,
                                          fp8_e4m3_decode(codes.values[4])});
  CHECK(codes.rows() == 3);
  CHECK(codes.row_nnz(1) == 0);
  CHECK(csr_bytes(codes) == 3 * 5 + 2 * 3);
}

TEST_CASE("check_structure rejects malformed rows") {
  SparseCodes codes = random_codes({2, 3}, 100, 1);
  CHECK_NOTHROW(check_structure(codes, "t"));
  SparseCodes bad = codes;
  bad.indices[1] = 100;
  CHECK_THROWS_AS(check_structure(bad, "t"), Error);
  bad = codes;
  bad.row_ptr[1] = 6;
  CHECK_THROWS_AS(check_structure(bad, "t"), Error);
  bad = codes;
  bad.values.pop_back();
  CHECK_THROWS_AS(check_structure(bad, "t"), Error);
  bad = codes;
  bad.n_atoms = 70000;
  CHECK_THROWS_AS(check_structure(bad, "t"), Error);
}

TEST_CASE("decode_row sums value × atom") {
  Eigen::MatrixXf dictionary(2, 3);
  dictionary << 1, 0, 0.6f,  //
      0, 1, 0.8f;
  SparseCodes codes;
  codes.dim = 2;
  codes.n_atoms = 3;
  codes.row_ptr = {0, 2};
  codes.indices = {2, 0};
  codes.values = {fp8_e4m3_encode(2.0f), fp8_e4m3_encode(-0.5f)};
  float out[2];
  decode_row(codes, 0, dictionary, out);
  CHECK(out[0] == doctest::Approx(2 * 0.6 - 0.5));
  CHECK(out[1] == doctest::Approx(2 * 0.8));
}

TEST_CASE("compact form, fixed-s: no per-row counts, exact round trip") {
  for (int s : {1, 2, 7, 8, 16, 32}) {
    CAPTURE(s);
    const SparseCodes codes = random_codes(std::vector<int>(37, s), 4096, uint32_t(s));
    const size_t expected = 37 * (s + (3 * s + 1) / 2);
    CHECK(compact_bytes(codes) == expected);
    const CompactCodes packed = pack_compact(codes);
    CHECK(packed.fixed_row_nnz == s);
    CHECK(packed.bytes.size() == expected);
    check_equal(unpack_compact(packed), codes);
  }
  // s = 8: 8 + 12 = 20 bytes per vector against csr's 3·8 + 2 = 26.
  CHECK(compact_bytes(random_codes({8}, 4096, 3)) == 20);
}

TEST_CASE("compact form, variable rows: one count byte per row") {
  const std::vector<int> counts = {0, 1, 2, 3, 255, 5, 0, 16};
  const SparseCodes codes = random_codes(counts, 4000, 9);
  size_t expected = counts.size();
  for (int c : counts) expected += c + (3 * c + 1) / 2;
  CHECK(compact_bytes(codes) == expected);
  const CompactCodes packed = pack_compact(codes);
  CHECK(packed.fixed_row_nnz == -1);
  CHECK(packed.bytes.size() == expected);
  check_equal(unpack_compact(packed), codes);
}

TEST_CASE("compact form, edge cases and limits") {
  SparseCodes none;  // zero rows
  none.dim = 4;
  none.n_atoms = 8;
  CHECK(compact_bytes(none) == 0);
  check_equal(unpack_compact(pack_compact(none)), none);

  const SparseCodes all_empty = random_codes({0, 0, 0}, 8, 1);
  CHECK(compact_bytes(all_empty) == 0);  // fixed-s with s = 0
  check_equal(unpack_compact(pack_compact(all_empty)), all_empty);

  SparseCodes extremes = random_codes({3}, 4096, 2);
  extremes.indices = {4095, 0, 4095};
  check_equal(unpack_compact(pack_compact(extremes)), extremes);

  CHECK_THROWS_AS(pack_compact(random_codes({2}, 4097, 1)), Error);
  CHECK_THROWS_AS(compact_bytes(random_codes({256}, 4096, 1)), Error);

  CompactCodes truncated = pack_compact(random_codes({4, 5}, 100, 4));
  truncated.bytes.pop_back();
  CHECK_THROWS_AS(unpack_compact(truncated), Error);
  CompactCodes extra = pack_compact(random_codes({4, 5}, 100, 4));
  extra.bytes.push_back(0);
  CHECK_THROWS_AS(unpack_compact(extra), Error);
}
