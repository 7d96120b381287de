// FP8 E4M3 in its OCP form (OFP8, "E4M3FN"): 1 sign, 4 exponent (bias 7) and
// 3 mantissa bits; no infinities, S.1111.111 is NaN, so the largest finite
// magnitude is 448 (S.1111.110) and the smallest subnormal 2^-9. Sparse-code
// coefficients are stored in this format, one byte each.
#pragma once
#include <array>
#include <bit>
#include <cstddef>
#include <cstdint>

namespace lexico {

inline constexpr float kFp8E4M3Max = 448.0f;
inline constexpr uint8_t kFp8E4M3NaN = 0x7F;  // the positive NaN code

// The value of a code from its bit fields; NaN codes give a quiet NaN.
constexpr float fp8_e4m3_value(uint8_t code) {
  const uint32_t sign = uint32_t(code & 0x80u) << 24;
  const uint32_t exponent = (code >> 3) & 0xFu;
  const uint32_t mantissa = code & 0x7u;
  if (exponent == 0xF && mantissa == 0x7) return std::bit_cast<float>(sign | 0x7FC00000u);
  if (exponent == 0) {  // subnormal: mantissa * 2^-9, exact in float
    const float magnitude = float(mantissa) / 512.0f;
    return sign ? -magnitude : magnitude;
  }
  // Normal: rebias the exponent from 7 to 127 and left-align the mantissa.
  return std::bit_cast<float>(sign | ((exponent + 120u) << 23) | (mantissa << 20));
}

// All 256 codes decoded; decode is one lookup.
inline constexpr std::array<float, 256> kFp8E4M3Values = [] {
  std::array<float, 256> table{};
  for (int c = 0; c < 256; ++c) table[c] = fp8_e4m3_value(uint8_t(c));
  return table;
}();

inline float fp8_e4m3_decode(uint8_t code) { return kFp8E4M3Values[code]; }

// Round to nearest, ties to even; saturating: every magnitude at or beyond 448
// (infinities included) becomes ±448, never NaN. Signed zeros keep their sign.
// A NaN input gives the NaN code with its sign (0x7F or 0xFF): callers reject
// NaN before encoding, and a NaN that slipped through stays visible.
// Branch-free so that the batch loop vectorizes.
inline uint8_t fp8_e4m3_encode(float x) {
  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint32_t sign = (bits >> 24) & 0x80u;
  const uint32_t a = bits & 0x7FFFFFFFu;
  // Normal range: keep 3 mantissa bits with round-to-nearest-even at bit 20
  // (a carry correctly bumps the exponent), then rebias 127 -> 7.
  const uint32_t normal = ((a + 0x7FFFFu + ((a >> 20) & 1u)) >> 20) - (120u << 3);
  // Below 2^-6 the grid is uniform with step 2^-9: round |x|*2^9 to an integer by
  // adding 2^23, where float's ulp is 1 (the default rounding mode is RNE).
  // The result 0..8 is the code itself (8 is the smallest normal, 2^-6).
  const float shifted = std::bit_cast<float>(a) * 512.0f + 8388608.0f;
  const uint32_t subnormal = std::bit_cast<uint32_t>(shifted) - 0x4B000000u;
  uint32_t code = a >= 0x3C800000u ? normal : subnormal;  // 2^-6
  code = a >= 0x43E00000u ? 0x7Eu : code;                  // 448 and beyond
  code = a > 0x7F800000u ? uint32_t(kFp8E4M3NaN) : code;   // NaN
  return uint8_t(sign | code);
}

// Batch forms over n contiguous elements (vectorized loops).
void fp8_e4m3_encode(const float* in, uint8_t* out, size_t n);
void fp8_e4m3_decode(const uint8_t* in, float* out, size_t n);

}  // namespace lexico
