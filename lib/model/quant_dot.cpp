// Dot products of block-quantized rows with a float32 vector, without
// dequantizing: per block of 32, Σ w·x = d·Σ q·x + m·Σ x (Q4_1: w = d·q + m;
// Q4_0: w = d·(q − 8), so m = −8d; Q8_0: m = 0). The integer codes become
// floats in registers; Σ x per block is computed once per call. The order of
// the sums is fixed by the code (not by threads): results are deterministic,
// within float rounding of the dequantized product.
#include <vector>

#if defined(__AVX2__) && defined(__FMA__)
#include <immintrin.h>
#endif

#include "lexico/half.h"
#include "lexico/quant.h"

namespace lexico {

namespace {

struct BlockLayout {
  int bytes;   // per block of 32
  int codes;   // offset of the codes in the block
  bool nibbles;  // 4-bit codes (byte i: value i low, value i + 16 high) or int8
};

BlockLayout layout(GgmlType t) {
  switch (t) {
    case GgmlType::Q4_0: return {18, 2, true};
    case GgmlType::Q4_1: return {20, 4, true};
    default: return {34, 2, false};  // Q8_0
  }
}

#if defined(__AVX2__) && defined(__FMA__)
// Σ q_i x_i over one block, as 8 lane sums.
inline __m256 block_qx(const uint8_t* q, const float* x, bool nibbles) {
  if (nibbles) {
    const __m128i bytes = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q));
    const __m128i mask = _mm_set1_epi8(0x0f);
    const __m128i lo = _mm_and_si128(bytes, mask), hi = _mm_and_si128(_mm_srli_epi16(bytes, 4), mask);
    __m256 s = _mm256_mul_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(lo)), _mm256_loadu_ps(x));
    s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(lo, 8))), _mm256_loadu_ps(x + 8), s);
    s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(hi)), _mm256_loadu_ps(x + 16), s);
    return _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_srli_si128(hi, 8))), _mm256_loadu_ps(x + 24), s);
  }
  __m256 s = _mm256_setzero_ps();
  for (int k = 0; k < 32; k += 8) {
    const __m128i b = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(q + k));
    s = _mm256_fmadd_ps(_mm256_cvtepi32_ps(_mm256_cvtepi8_epi32(b)), _mm256_loadu_ps(x + k), s);
  }
  return s;
}

inline float lane_sum(__m256 v) {
  const __m128 h = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 q = _mm_add_ps(h, _mm_movehl_ps(h, h));
  return _mm_cvtss_f32(_mm_add_ss(q, _mm_movehdup_ps(q)));
}
#else
inline float block_qx(const uint8_t* q, const float* x, bool nibbles) {
  float s = 0.0f;
  if (nibbles) {
    for (int i = 0; i < 16; ++i) s += float(q[i] & 0x0f) * x[i] + float(q[i] >> 4) * x[i + 16];
  } else {
    for (int i = 0; i < 32; ++i) s += float(int8_t(q[i])) * x[i];
  }
  return s;
}
#endif

}  // namespace

bool quantized_dot_supported(GgmlType type) {
  return type == GgmlType::Q4_0 || type == GgmlType::Q4_1 || type == GgmlType::Q8_0;
}

void quantized_dot_rows(GgmlType type, const uint8_t* rows, int64_t n_rows, int64_t cols, const float* x, float* y) {
  const BlockLayout b = layout(type);
  const int64_t blocks = cols / 32;
  const size_t row_bytes = size_t(blocks) * b.bytes;
  std::vector<float> x_sums(type == GgmlType::Q8_0 ? 0 : size_t(blocks));
  for (int64_t k = 0; k < int64_t(x_sums.size()); ++k) {
    float s = 0.0f;
    for (int i = 0; i < 32; ++i) s += x[k * 32 + i];
    x_sums[size_t(k)] = s;
  }
  for (int64_t r = 0; r < n_rows; ++r) {
    const uint8_t* row = rows + size_t(r) * row_bytes;
    float offset = 0.0f;  // Σ m·Σx
#if defined(__AVX2__) && defined(__FMA__)
    __m256 acc = _mm256_setzero_ps();
#else
    float acc = 0.0f;
#endif
    for (int64_t k = 0; k < blocks; ++k) {
      const uint8_t* block = row + size_t(k) * b.bytes;
      const float d = half_at(block);
#if defined(__AVX2__) && defined(__FMA__)
      acc = _mm256_fmadd_ps(_mm256_set1_ps(d), block_qx(block + b.codes, x + k * 32, b.nibbles), acc);
#else
      acc += d * block_qx(block + b.codes, x + k * 32, b.nibbles);
#endif
      if (type == GgmlType::Q4_1) offset += half_at(block + 2) * x_sums[size_t(k)];
      else if (type == GgmlType::Q4_0) offset -= 8.0f * d * x_sums[size_t(k)];
    }
#if defined(__AVX2__) && defined(__FMA__)
    y[r] = lane_sum(acc) + offset;
#else
    y[r] = acc + offset;
#endif
  }
}

}  // namespace lexico
