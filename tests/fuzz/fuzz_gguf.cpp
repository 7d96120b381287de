// The GGUF reader: header, metadata, tensor table and the dequantization of
// every tensor, then what model loading takes from a GGUF file: the config,
// the weights and the tokenizer (used on a short text).
#include "fuzz_input.h"
#include "lexico/gguf.h"
#include "lexico/model_config.h"
#include "lexico/model_tokenizer.h"
#include "lexico/tokenizer.h"
#include "lexico/weights.h"

using namespace lexico;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::input_file(data, size, ".gguf");
  fuzz::expect_only_bad_input([&] {
    const GgufFile g(path);
    for (const GgufTensor& t : g.tensors()) g.read(t);
  });
  fuzz::expect_only_bad_input([&] {
    const GgufFile g(path);
    const ModelConfig c = config_from_gguf(g);
    c.validate(path);
    weights_from_gguf(g, c);
  });
  fuzz::expect_only_bad_input([&] {
    const auto tok = load_model_tokenizer(path, "", 0);
    tok->decode(tok->encode("Hello <s> wörld 123\n", true), true);
  });
  return 0;
}
