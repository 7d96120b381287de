#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "lexico/fp8.h"

using namespace lexico;

namespace {

// The value of a code computed from the OCP definition, independently of the
// library: (−1)^S · 2^(E−7) · (1 + M/8), or 2^−6 · M/8 when E = 0.
double expected_value(int code) {
  const int sign = code >> 7, exponent = (code >> 3) & 0xF, mantissa = code & 0x7;
  const double magnitude =
      exponent == 0 ? std::ldexp(mantissa / 8.0, -6) : std::ldexp(1.0 + mantissa / 8.0, exponent - 7);
  return sign ? -magnitude : magnitude;
}

bool is_nan_code(int code) { return (code & 0x7F) == 0x7F; }

float next_up(float x) { return std::nextafter(x, std::numeric_limits<float>::infinity()); }
float next_down(float x) { return std::nextafter(x, -std::numeric_limits<float>::infinity()); }

}  // namespace

TEST_CASE("every code decodes to its OCP E4M3 value") {
  for (int code = 0; code < 256; ++code) {
    CAPTURE(code);
    const float value = fp8_e4m3_decode(uint8_t(code));
    if (is_nan_code(code)) {
      CHECK(std::isnan(value));
      continue;
    }
    CHECK(double(value) == expected_value(code));
    CHECK(std::signbit(value) == bool(code & 0x80));
  }
  CHECK(fp8_e4m3_decode(0x7E) == 448.0f);
  CHECK(fp8_e4m3_decode(0x01) == std::ldexp(1.0f, -9));
}

TEST_CASE("encode inverts decode on every non-NaN code") {
  for (int code = 0; code < 256; ++code) {
    if (is_nan_code(code)) continue;
    CAPTURE(code);
    CHECK(fp8_e4m3_encode(fp8_e4m3_decode(uint8_t(code))) == code);
  }
}

TEST_CASE("midpoints round to the even code, one float ulp either side to the nearer") {
  for (int sign : {0, 0x80}) {
    for (int code = 0; code < 0x7E; ++code) {  // pairs (code, code+1) up to 448
      const int low = sign | code, high = sign | (code + 1);
      const float a = fp8_e4m3_decode(uint8_t(low)), b = fp8_e4m3_decode(uint8_t(high));
      const float mid = (a + b) / 2;  // exact: both are short-mantissa floats
      CAPTURE(low);
      CAPTURE(mid);
      REQUIRE(double(mid) == (expected_value(low) + expected_value(high)) / 2);
      CHECK(fp8_e4m3_encode(mid) == ((low & 1) == 0 ? low : high));
      // Toward a (smaller magnitude) rounds to low, toward b to high.
      const float toward_a = sign ? next_up(mid) : next_down(mid);
      const float toward_b = sign ? next_down(mid) : next_up(mid);
      CHECK(fp8_e4m3_encode(toward_a) == low);
      CHECK(fp8_e4m3_encode(toward_b) == high);
    }
  }
}

TEST_CASE("saturation at ±448 with no NaN") {
  const float inf = std::numeric_limits<float>::infinity();
  for (float x : {448.0f, next_up(448.0f), 463.9f, 464.0f, 480.0f, 1e4f, 3e38f, inf}) {
    CAPTURE(x);
    CHECK(fp8_e4m3_encode(x) == 0x7E);
    CHECK(fp8_e4m3_encode(-x) == 0xFE);
  }
  CHECK(fp8_e4m3_encode(next_down(448.0f)) == 0x7E);
  CHECK(fp8_e4m3_encode(416.0f) == 0x7D);  // the next value down (grid step 32 above 256)
  CHECK(fp8_e4m3_encode(431.0f) == 0x7D);
  CHECK(fp8_e4m3_encode(432.0f) == 0x7E);  // midpoint of 416 and 448: the even mantissa is 448's
}

TEST_CASE("NaN encodes to the NaN code with its sign") {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  CHECK(fp8_e4m3_encode(nan) == kFp8E4M3NaN);
  CHECK(fp8_e4m3_encode(-nan) == (kFp8E4M3NaN | 0x80));
}

TEST_CASE("signed zero and the subnormal range") {
  CHECK(fp8_e4m3_encode(0.0f) == 0x00);
  CHECK(fp8_e4m3_encode(-0.0f) == 0x80);
  CHECK(std::signbit(fp8_e4m3_decode(0x80)));
  const float step = std::ldexp(1.0f, -9);  // smallest subnormal
  CHECK(fp8_e4m3_encode(step / 2) == 0x00);             // tie to even: 0
  CHECK(fp8_e4m3_encode(-step / 2) == 0x80);            // stays a negative zero
  CHECK(fp8_e4m3_encode(next_up(step / 2)) == 0x01);
  CHECK(fp8_e4m3_encode(1.5f * step) == 0x02);          // tie between 1 and 2: even
  CHECK(fp8_e4m3_encode(std::numeric_limits<float>::denorm_min()) == 0x00);
  CHECK(fp8_e4m3_encode(7.5f * step) == 0x08);          // tie between 7·2^-9 and 2^-6: even code 8
  CHECK(fp8_e4m3_encode(std::ldexp(1.0f, -6)) == 0x08);  // smallest normal
  for (int m = 0; m < 8; ++m) CHECK(fp8_e4m3_encode(m * step) == m);
}

TEST_CASE("batch encode and decode match the scalar forms") {
  std::vector<float> in;
  for (int i = -5000; i <= 5000; ++i) in.push_back(std::ldexp(float(i), -5) * 0.37f);
  in.push_back(std::numeric_limits<float>::infinity());
  std::vector<uint8_t> codes(in.size());
  fp8_e4m3_encode(in.data(), codes.data(), in.size());
  std::vector<float> out(in.size());
  fp8_e4m3_decode(codes.data(), out.data(), codes.size());
  for (size_t i = 0; i < in.size(); ++i) {
    CHECK(codes[i] == fp8_e4m3_encode(in[i]));
    CHECK(out[i] == fp8_e4m3_decode(codes[i]));
  }
}
