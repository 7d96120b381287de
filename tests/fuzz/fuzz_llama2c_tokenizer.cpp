// The llama2.c tokenizer.bin reader (pieces, scores, byte fallback pieces),
// then encoding and decoding with what loaded.
#include "fuzz_input.h"
#include "lexico/tokenizer.h"

using namespace lexico;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = fuzz::input_file(data, size, ".bin");
  fuzz::expect_only_bad_input([&] {
    const auto tok = Tokenizer::from_llama2c(path);
    const auto ids = tok->encode("Once upon a time, <s> wörld 1234\n", true);
    tok->decode(ids, true);
    for (int32_t id = 0; id < tok->vocab_size(); ++id) tok->token_to_piece(id);
  });
  return 0;
}
