// The codes reader: HDF5 structure, schema attributes, and each layer's CSR
// rows (row pointers, 16-bit atom indices, FP8 values). What it accepts must
// decode to finite coefficients.
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "fuzz_input.h"
#include "lexico/codes_file.h"

using namespace lexico;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::input_file(data, size, ".h5");
  fuzz::expect_only_bad_input([&] {
    const CodesFile c = read_codes(path);
    for (const auto& [l, layer] : c.layers)
      for (const SparseCodes* rows : {&layer.keys, &layer.values})
        for (float v : dequantize_fp8(*rows).values)
          if (!std::isfinite(v)) {
            std::fprintf(stderr, "finding: layer %d of an accepted codes file decodes to %g\n", l, v);
            std::abort();
          }
  });
  return 0;
}
