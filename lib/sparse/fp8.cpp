#include "lexico/fp8.h"

namespace lexico {

void fp8_e4m3_encode(const float* in, uint8_t* out, size_t n) {
#pragma omp simd
  for (size_t i = 0; i < n; ++i) out[i] = fp8_e4m3_encode(in[i]);
}

void fp8_e4m3_decode(const uint8_t* in, float* out, size_t n) {
  for (size_t i = 0; i < n; ++i) out[i] = kFp8E4M3Values[in[i]];
}

}  // namespace lexico
