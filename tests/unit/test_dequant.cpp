// Each quantized type: a block packed here from the layout's definition, and
// the values expected from its formula, computed independently of the
// dequantizer's loop structure.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "lexico/half.h"
#include "lexico/quant.h"

using lexico::dequantize_row;
using lexico::GgmlType;

namespace {

void put_f16(std::vector<uint8_t>& b, size_t at, uint16_t h) { std::memcpy(b.data() + at, &h, 2); }

std::vector<float> dequant(GgmlType t, const std::vector<uint8_t>& block, int n) {
  REQUIRE(block.size() == static_cast<size_t>(n / lexico::ggml_block_size(t) * lexico::ggml_block_bytes(t)));
  std::vector<float> y(n);
  dequantize_row(t, block.data(), y.data(), n);
  return y;
}

// K-quant scales and mins (6 bits each, 8 sub-blocks) packed into 12 bytes:
// bytes 0-3 hold scales 0-3 with the top 2 bits of scales 4-7 above them,
// bytes 4-7 the same for mins, bytes 8-11 the low nibbles of scales 4-7
// (low half) and mins 4-7 (high half).
void pack_k_scales(uint8_t* s, const int sc[8], const int m[8]) {
  for (int j = 0; j < 4; ++j) {
    s[j] = static_cast<uint8_t>(sc[j] | ((sc[j + 4] >> 4) << 6));
    s[j + 4] = static_cast<uint8_t>(m[j] | ((m[j + 4] >> 4) << 6));
    s[j + 8] = static_cast<uint8_t>((sc[j + 4] & 15) | ((m[j + 4] & 15) << 4));
  }
}

}  // namespace

TEST_CASE("dequant: half and bfloat16 conversions") {
  using lexico::float_to_half;
  using lexico::half_to_float;
  CHECK(half_to_float(0x3c00) == 1.0f);
  CHECK(half_to_float(0xc000) == -2.0f);
  CHECK(half_to_float(0x7bff) == 65504.0f);
  CHECK(half_to_float(0x0001) == std::ldexp(1.0f, -24));  // smallest subnormal
  CHECK(half_to_float(0x03ff) == 1023 * std::ldexp(1.0f, -24));
  CHECK(std::isinf(half_to_float(0x7c00)));
  CHECK(std::isnan(half_to_float(0x7e00)));
  CHECK(half_to_float(0x3555) == 0.333251953125f);
  CHECK(float_to_half(1.0f / 3) == 0x3555);
  CHECK(float_to_half(1.0f + std::ldexp(1.0f, -11)) == 0x3c00);      // tie: to even (down)
  CHECK(float_to_half(1.0f + 3 * std::ldexp(1.0f, -11)) == 0x3c02);  // tie: to even (up)
  CHECK(float_to_half(65519.0f) == 0x7bff);
  CHECK(float_to_half(65520.0f) == 0x7c00);  // rounds to infinity
  CHECK(float_to_half(std::ldexp(1.0f, -24)) == 0x0001);
  CHECK(float_to_half(std::ldexp(1.0f, -26)) == 0x0000);  // below half the smallest subnormal
  CHECK(float_to_half(-0.0f) == 0x8000);
  for (uint32_t h = 0; h < 0x7c00; ++h) CHECK_MESSAGE(float_to_half(half_to_float(static_cast<uint16_t>(h))) == h, h);
  CHECK(lexico::bf16_to_float(0x3f80) == 1.0f);
  CHECK(lexico::bf16_to_float(0xc040) == -3.0f);
}

TEST_CASE("dequant: F32, F16, BF16 rows") {
  std::vector<uint8_t> f32(8);
  const float v[2] = {1.5f, -2.25f};
  std::memcpy(f32.data(), v, 8);
  CHECK(dequant(GgmlType::F32, f32, 2) == std::vector<float>{1.5f, -2.25f});
  std::vector<uint8_t> f16(4);
  put_f16(f16, 0, 0x3e00);  // 1.5
  put_f16(f16, 2, 0xc080);  // -2.25
  CHECK(dequant(GgmlType::F16, f16, 2) == std::vector<float>{1.5f, -2.25f});
  std::vector<uint8_t> bf(4);
  put_f16(bf, 0, 0x3fc0);  // 1.5
  put_f16(bf, 2, 0xc010);  // -2.25
  CHECK(dequant(GgmlType::BF16, bf, 2) == std::vector<float>{1.5f, -2.25f});
}

TEST_CASE("dequant: Q8_0 = d * q") {
  std::vector<uint8_t> b(34);
  put_f16(b, 0, 0x3400);  // d = 0.25
  for (int i = 0; i < 32; ++i) b[2 + i] = static_cast<uint8_t>(static_cast<int8_t>(i * 8 - 128));
  const auto y = dequant(GgmlType::Q8_0, b, 32);
  for (int i = 0; i < 32; ++i) CHECK(y[i] == 0.25f * static_cast<float>(i * 8 - 128));
}

TEST_CASE("dequant: Q4_0 = d * (q - 8), low nibbles are values 0-15") {
  std::vector<uint8_t> b(18);
  put_f16(b, 0, 0x4000);  // d = 2
  auto q = [](int i) { return i < 16 ? i : (31 - i) % 16; };  // value i's 4-bit code
  for (int i = 0; i < 16; ++i) b[2 + i] = static_cast<uint8_t>(q(i) | (q(i + 16) << 4));
  const auto y = dequant(GgmlType::Q4_0, b, 32);
  for (int i = 0; i < 32; ++i) CHECK(y[i] == 2.0f * static_cast<float>(q(i) - 8));
}

TEST_CASE("dequant: Q4_1 = d * q + m") {
  std::vector<uint8_t> b(20);
  put_f16(b, 0, 0x3400);  // d = 0.25
  put_f16(b, 2, 0xbe00);  // m = -1.5
  auto q = [](int i) { return (i * 7) % 16; };
  for (int i = 0; i < 16; ++i) b[4 + i] = static_cast<uint8_t>(q(i) | (q(i + 16) << 4));
  const auto y = dequant(GgmlType::Q4_1, b, 32);
  for (int i = 0; i < 32; ++i) CHECK(y[i] == 0.25f * static_cast<float>(q(i)) - 1.5f);
}

TEST_CASE("dequant: Q4_K = d * scale_j * q - dmin * min_j over 8 sub-blocks of 32") {
  std::vector<uint8_t> b(144);
  put_f16(b, 0, 0x3c00);  // d = 1
  put_f16(b, 2, 0x3800);  // dmin = 0.5
  const int sc[8] = {1, 2, 3, 4, 17, 33, 50, 63}, mn[8] = {0, 5, 10, 63, 20, 40, 47, 62};
  pack_k_scales(b.data() + 4, sc, mn);
  // 32 bytes per pair of sub-blocks: low nibble sub-block 2p, high nibble 2p + 1.
  auto q = [](int j, int i) { return (i + 3 * j) % 16; };
  for (int p = 0; p < 4; ++p)
    for (int i = 0; i < 32; ++i) b[16 + 32 * p + i] = static_cast<uint8_t>(q(2 * p, i) | (q(2 * p + 1, i) << 4));
  const auto y = dequant(GgmlType::Q4_K, b, 256);
  for (int j = 0; j < 8; ++j)
    for (int i = 0; i < 32; ++i)
      CHECK(y[32 * j + i] == doctest::Approx(1.0 * sc[j] * q(j, i) - 0.5 * mn[j]).epsilon(1e-6));
}

TEST_CASE("dequant: Q5_K adds a fifth bit from qh (bit j of qh[i] for sub-block j)") {
  std::vector<uint8_t> b(176);
  put_f16(b, 0, 0x3800);  // d = 0.5
  put_f16(b, 2, 0x3400);  // dmin = 0.25
  const int sc[8] = {63, 1, 31, 16, 48, 5, 20, 33}, mn[8] = {1, 2, 3, 4, 60, 50, 40, 30};
  pack_k_scales(b.data() + 4, sc, mn);
  auto q = [](int j, int i) { return (3 * i + 7 * j) % 32; };  // 5-bit codes
  for (int i = 0; i < 32; ++i)
    for (int j = 0; j < 8; ++j) b[16 + i] = static_cast<uint8_t>(b[16 + i] | ((q(j, i) >> 4) << j));
  for (int p = 0; p < 4; ++p)
    for (int i = 0; i < 32; ++i)
      b[48 + 32 * p + i] = static_cast<uint8_t>((q(2 * p, i) & 15) | ((q(2 * p + 1, i) & 15) << 4));
  const auto y = dequant(GgmlType::Q5_K, b, 256);
  for (int j = 0; j < 8; ++j)
    for (int i = 0; i < 32; ++i)
      CHECK(y[32 * j + i] == doctest::Approx(0.5 * sc[j] * q(j, i) - 0.25 * mn[j]).epsilon(1e-6));
}

TEST_CASE("dequant: Q6_K = d * scale[k/16] * (q - 32), 6-bit q split into ql and qh") {
  std::vector<uint8_t> b(210);
  auto q = [](int k) { return (k * 37 + 11) % 64; };
  auto scale = [](int s) { return static_cast<int8_t>(s * 9 - 70); };  // includes negative scales
  // Value k = 128h + 32r + i (i < 32): low 4 bits in ql[64h + 32(r % 2) + i] (low
  // nibble for r < 2, high for r >= 2), high 2 bits in bits 2r..2r+1 of qh[32h + i].
  for (int k = 0; k < 256; ++k) {
    const int h = k / 128, r = (k % 128) / 32, i = k % 32;
    uint8_t& lo = b[64 * h + 32 * (r % 2) + i];
    lo = static_cast<uint8_t>(lo | ((q(k) & 15) << (r < 2 ? 0 : 4)));
    b[128 + 32 * h + i] = static_cast<uint8_t>(b[128 + 32 * h + i] | ((q(k) >> 4) << (2 * r)));
  }
  for (int s = 0; s < 16; ++s) b[192 + s] = static_cast<uint8_t>(scale(s));
  put_f16(b, 208, 0x3000);  // d = 0.125
  const auto y = dequant(GgmlType::Q6_K, b, 256);
  for (int k = 0; k < 256; ++k) CHECK(y[k] == doctest::Approx(0.125 * scale(k / 16) * (q(k) - 32)).epsilon(1e-6));
}

TEST_CASE("dequant: several blocks in a row, and type names") {
  std::vector<uint8_t> b(36);
  put_f16(b, 0, 0x3c00);
  put_f16(b, 18, 0xbc00);
  for (int i = 0; i < 16; ++i) b[2 + i] = b[20 + i] = 0x9a;  // low 10, high 9
  std::vector<float> y(64);
  dequantize_row(GgmlType::Q4_0, b.data(), y.data(), 64);
  CHECK(y[0] == 2);
  CHECK(y[16] == 1);
  CHECK(y[32] == -2);
  CHECK(y[63] == -1);
  CHECK(lexico::ggml_type_name(14) == "Q6_K");
  CHECK(lexico::ggml_type_name(7) == "Q5_1");
  CHECK(lexico::ggml_type_name(1000) == "unknown");
  CHECK(lexico::ggml_type_supported(30));
  CHECK_FALSE(lexico::ggml_type_supported(6));
  CHECK_FALSE(lexico::ggml_type_supported(4));
}
