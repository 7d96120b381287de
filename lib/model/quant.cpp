#include "lexico/quant.h"

#include <cstring>

#include "lexico/half.h"

namespace lexico {

namespace {

struct TypeInfo {
  const char* name;
  int block_size;
  int block_bytes;  // 0: known to ggml but not supported here
};

// Indexed by type number; gaps are numbers ggml retired.
constexpr TypeInfo kTypes[] = {
    {"F32", 1, 4},      {"F16", 1, 2},      {"Q4_0", 32, 18},   {"Q4_1", 32, 20},  {"", 0, 0},
    {"", 0, 0},         {"Q5_0", 0, 0},     {"Q5_1", 0, 0},     {"Q8_0", 32, 34},  {"Q8_1", 0, 0},
    {"Q2_K", 0, 0},     {"Q3_K", 0, 0},     {"Q4_K", 256, 144}, {"Q5_K", 256, 176}, {"Q6_K", 256, 210},
    {"Q8_K", 0, 0},     {"IQ2_XXS", 0, 0},  {"IQ2_XS", 0, 0},   {"IQ3_XXS", 0, 0}, {"IQ1_S", 0, 0},
    {"IQ4_NL", 0, 0},   {"IQ3_S", 0, 0},    {"IQ2_S", 0, 0},    {"IQ4_XS", 0, 0},  {"I8", 0, 0},
    {"I16", 0, 0},      {"I32", 0, 0},      {"I64", 0, 0},      {"F64", 0, 0},     {"IQ1_M", 0, 0},
    {"BF16", 1, 2},
};
constexpr uint32_t kNumTypes = sizeof(kTypes) / sizeof(kTypes[0]);

const TypeInfo& info(GgmlType type) { return kTypes[static_cast<uint32_t>(type)]; }

// Q8_0, 34 bytes per 32 values: f16 scale d, int8 q[32]; x = d * q.
void dequant_q8_0(const uint8_t* b, float* y) {
  const float d = half_at(b);
  const auto* q = reinterpret_cast<const int8_t*>(b + 2);
  for (int i = 0; i < 32; ++i) y[i] = d * q[i];
}

// Q4_0, 18 bytes per 32 values: f16 scale d, 16 bytes of nibbles. Byte i holds
// value i in its low nibble and value i + 16 in its high nibble; x = d * (q - 8).
void dequant_q4_0(const uint8_t* b, float* y) {
  const float d = half_at(b);
  const uint8_t* q = b + 2;
  for (int i = 0; i < 16; ++i) {
    y[i] = d * static_cast<float>((q[i] & 0x0f) - 8);
    y[i + 16] = d * static_cast<float>((q[i] >> 4) - 8);
  }
}

// Q4_1, 20 bytes per 32 values: f16 scale d, f16 minimum m, nibbles as in
// Q4_0; x = d * q + m.
void dequant_q4_1(const uint8_t* b, float* y) {
  const float d = half_at(b), m = half_at(b + 2);
  const uint8_t* q = b + 4;
  for (int i = 0; i < 16; ++i) {
    y[i] = d * static_cast<float>(q[i] & 0x0f) + m;
    y[i + 16] = d * static_cast<float>(q[i] >> 4) + m;
  }
}

// The K-quants' 12 bytes of packed 6-bit scales and mins for 8 sub-blocks:
// sub-blocks 0..3 keep theirs in the low 6 bits of bytes j and j + 4; sub-blocks
// 4..7 take 4 low bits from byte j + 4 (scale: low nibble, min: high nibble)
// and 2 high bits from the top of bytes j - 4 (scale) and j (min).
void scale_min_k4(int j, const uint8_t* s, uint8_t& scale, uint8_t& min) {
  if (j < 4) {
    scale = s[j] & 63;
    min = s[j + 4] & 63;
  } else {
    scale = static_cast<uint8_t>((s[j + 4] & 0x0f) | ((s[j - 4] >> 6) << 4));
    min = static_cast<uint8_t>((s[j + 4] >> 4) | ((s[j] >> 6) << 4));
  }
}

// Q4_K, 144 bytes per 256 values: f16 d, f16 dmin, 12 bytes of scales/mins,
// 128 bytes of nibbles. Eight sub-blocks of 32, x = d*scale*q - dmin*min; each
// 32 bytes of nibbles hold two consecutive sub-blocks (low nibbles first).
void dequant_q4_k(const uint8_t* b, float* y) {
  const float d = half_at(b), dmin = half_at(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* q = b + 16;
  for (int j = 0; j < 8; j += 2, q += 32) {
    uint8_t sc0, m0, sc1, m1;
    scale_min_k4(j, scales, sc0, m0);
    scale_min_k4(j + 1, scales, sc1, m1);
    const float d0 = d * sc0, min0 = dmin * m0, d1 = d * sc1, min1 = dmin * m1;
    for (int i = 0; i < 32; ++i) *y++ = d0 * static_cast<float>(q[i] & 0x0f) - min0;
    for (int i = 0; i < 32; ++i) *y++ = d1 * static_cast<float>(q[i] >> 4) - min1;
  }
}

// Q5_K, 176 bytes per 256 values: as Q4_K plus 32 bytes qh between the scales
// and the nibbles: bit j of qh[i] is the fifth bit of value i of sub-block j.
void dequant_q5_k(const uint8_t* b, float* y) {
  const float d = half_at(b), dmin = half_at(b + 2);
  const uint8_t* scales = b + 4;
  const uint8_t* qh = b + 16;
  const uint8_t* q = b + 48;
  for (int j = 0; j < 8; j += 2, q += 32) {
    uint8_t sc0, m0, sc1, m1;
    scale_min_k4(j, scales, sc0, m0);
    scale_min_k4(j + 1, scales, sc1, m1);
    const float d0 = d * sc0, min0 = dmin * m0, d1 = d * sc1, min1 = dmin * m1;
    for (int i = 0; i < 32; ++i)
      *y++ = d0 * static_cast<float>((q[i] & 0x0f) | (((qh[i] >> j) & 1) << 4)) - min0;
    for (int i = 0; i < 32; ++i)
      *y++ = d1 * static_cast<float>((q[i] >> 4) | (((qh[i] >> (j + 1)) & 1) << 4)) - min1;
  }
}

// Q6_K, 210 bytes per 256 values: 128 bytes ql (low 4 bits), 64 bytes qh (high
// 2 bits), 16 int8 scales (one per 16 values), f16 d; x = d * scale * (q - 32).
// Each half of 128 values uses 64 bytes of ql and 32 of qh: value i (< 32) of
// quarter k takes its low bits from ql[i + 32*(k&1)] (low nibble for k < 2)
// and its high bits from bits 2k..2k+1 of qh[i].
void dequant_q6_k(const uint8_t* b, float* y) {
  const uint8_t* ql = b;
  const uint8_t* qh = b + 128;
  const auto* sc = reinterpret_cast<const int8_t*>(b + 192);
  const float d = half_at(b + 208);
  for (int half = 0; half < 2; ++half, ql += 64, qh += 32, sc += 8, y += 128) {
    for (int i = 0; i < 32; ++i) {
      const int s = i / 16;
      const int q0 = ((ql[i] & 0x0f) | (((qh[i] >> 0) & 3) << 4)) - 32;
      const int q1 = ((ql[i + 32] & 0x0f) | (((qh[i] >> 2) & 3) << 4)) - 32;
      const int q2 = ((ql[i] >> 4) | (((qh[i] >> 4) & 3) << 4)) - 32;
      const int q3 = ((ql[i + 32] >> 4) | (((qh[i] >> 6) & 3) << 4)) - 32;
      y[i] = d * sc[s] * static_cast<float>(q0);
      y[i + 32] = d * sc[s + 2] * static_cast<float>(q1);
      y[i + 64] = d * sc[s + 4] * static_cast<float>(q2);
      y[i + 96] = d * sc[s + 6] * static_cast<float>(q3);
    }
  }
}

}  // namespace

bool ggml_type_supported(uint32_t type) { return type < kNumTypes && kTypes[type].block_bytes > 0; }

std::string ggml_type_name(uint32_t type) {
  return type < kNumTypes && kTypes[type].name[0] ? kTypes[type].name : "unknown";
}

int ggml_block_size(GgmlType type) { return info(type).block_size; }
int ggml_block_bytes(GgmlType type) { return info(type).block_bytes; }

void dequantize_row(GgmlType type, const uint8_t* src, float* dst, int64_t n) {
  const int64_t bs = ggml_block_size(type), bytes = ggml_block_bytes(type);
  switch (type) {
    case GgmlType::F32:
      std::memcpy(dst, src, static_cast<size_t>(n) * 4);
      return;
    case GgmlType::F16:
      for (int64_t i = 0; i < n; ++i) dst[i] = half_at(src + 2 * i);
      return;
    case GgmlType::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, src + 2 * i, 2);
        dst[i] = bf16_to_float(h);
      }
      return;
    default:
      break;
  }
  void (*block)(const uint8_t*, float*) = nullptr;
  switch (type) {
    case GgmlType::Q8_0: block = dequant_q8_0; break;
    case GgmlType::Q4_0: block = dequant_q4_0; break;
    case GgmlType::Q4_1: block = dequant_q4_1; break;
    case GgmlType::Q4_K: block = dequant_q4_k; break;
    case GgmlType::Q5_K: block = dequant_q5_k; break;
    case GgmlType::Q6_K: block = dequant_q6_k; break;
    default: break;
  }
  for (int64_t i = 0; i < n / bs; ++i) block(src + i * bytes, dst + i * bs);
}

}  // namespace lexico
