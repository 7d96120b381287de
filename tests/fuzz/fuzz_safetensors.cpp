// The safetensors reader: header length, JSON header, dtypes, shapes and data
// offsets, then the conversion of every tensor to float.
#include "fuzz_input.h"
#include "lexico/safetensors.h"

using namespace lexico;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::input_file(data, size, ".safetensors");
  fuzz::expect_only_bad_input([&] {
    const Safetensors st(path);
    for (const SafetensorsTensor& t : st.tensors()) st.read(t);
  });
  return 0;
}
