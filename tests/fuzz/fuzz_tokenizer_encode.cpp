// Encoding arbitrary bytes (invalid UTF-8, special tokens' text, long runs)
// with real tokenizers from ../shared: SmolLM2's byte-level BPE tokenizer.json
// and llama2.c's SentencePiece tok512.bin, with special tokens parsed and not.
// Checks the promise of lossless pieces on untrusted text (parse_special
// false): decoding its ids gives the text back. (With special tokens parsed,
// SentencePiece's "<s> Hello" and BOS + "Hello" give the same ids, so no
// decoder can give both back.) A vocabulary may lack some bytes
// (SmolLM2 has no token for 0x04, 0x16, 0xFF and others, and drops them as
// Hugging Face's tokenizers do), so the check covers texts of the bytes that
// round-trip alone.
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "fuzz_input.h"
#include "lexico/tokenizer.h"

using namespace lexico;

namespace {

struct Subject {
  std::unique_ptr<Tokenizer> tokenizer;
  std::array<bool, 256> byte_round_trips{};
};

std::string shared_dir() {
  const char* env = std::getenv("LEXICO_SHARED_DIR");
  return env && *env ? env : LEXICO_SHARED_DIR;
}

const std::vector<Subject>& subjects() {
  static const auto all = [] {
    std::vector<Subject> s;
    for (const char* file : {"/tokenizers/smollm2-135m/tokenizer.json", "/models/stories260K/tok512.bin"}) {
      const std::string path = shared_dir() + file;
      if (!std::filesystem::exists(path)) {
        std::fprintf(stderr, "fuzz_tokenizer_encode: %s is not present (../shared is needed)\n", path.c_str());
        std::exit(77);
      }
      Subject subject{Tokenizer::from_file(path)};
      for (int b = 0; b < 256; ++b) {
        const std::string one(1, static_cast<char>(b));
        subject.byte_round_trips[b] = subject.tokenizer->decode(subject.tokenizer->encode(one, false, false)) == one;
      }
      s.push_back(std::move(subject));
    }
    return s;
  }();
  return all;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const Subject& s : subjects()) {
    bool check = true;
    for (unsigned char c : text) check = check && s.byte_round_trips[c];
    for (bool special : {true, false}) {
      const std::string back = s.tokenizer->decode(s.tokenizer->encode(text, false, special), true);
      if (check && !special && back != text) {
        std::fprintf(stderr, "finding: decode(encode(text)) differs from the text (%zu vs %zu bytes)\n", back.size(),
                     text.size());
        std::abort();
      }
    }
  }
  return 0;
}
