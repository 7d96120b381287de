// The llama2.c checkpoint reader: the header, the tensor layout against the
// file size, and the weights and config model loading builds from them.
#include "fuzz_input.h"
#include "lexico/llama2c.h"
#include "lexico/model_config.h"
#include "lexico/weights.h"

using namespace lexico;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::input_file(data, size, ".bin");
  fuzz::expect_only_bad_input([&] {
    const Llama2cFile f(path);
    const ModelConfig c = config_from_llama2c(f.header());
    c.validate(path);
    weights_from_llama2c(f, c);
  });
  return 0;
}
