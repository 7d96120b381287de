// The dictionary reader: HDF5 structure, schema attributes, shapes, atoms
// (finite, unit norm), training metadata and the content checksum.
#include "fuzz_input.h"
#include "lexico/dictionary.h"

using namespace lexico;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::input_file(data, size, ".h5");
  fuzz::expect_only_bad_input([&] { read_dictionary(path); });
  return 0;
}
