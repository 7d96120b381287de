// Loading a Hugging Face tokenizer.json (JSON parsing, model, pre-tokenizer,
// added tokens, post-processor), then encoding and decoding with what loaded.
#include <string_view>

#include "fuzz_input.h"
#include "lexico/tokenizer.h"

using namespace lexico;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  fuzz::expect_only_bad_input([&] {
    const auto tok = Tokenizer::from_hf_json_text(json, "tokenizer.json");
    for (bool special : {true, false}) {
      const auto ids = tok->encode("Hello <|im_start|> wörld 1234\n\t  x", true, special);
      tok->decode(ids, special);
    }
    for (int32_t id = 0; id < tok->vocab_size(); ++id) tok->token_to_piece(id);
  });
  return 0;
}
